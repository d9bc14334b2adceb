package samlsp_test

import (
	"testing"
	"gatehouse/models/samlsp/samltest"
)

func TestZZDebug(t *testing.T) {
	idp := samltest.New(t, "https://idp.example")
	s := settingsFor(idp)
	doc := idp.ResponseDoc(t, s.SP, alice, samltest.Options{})
	doc.Indent(1)
	b, _ := doc.WriteToString()
	t.Log(b)
}
