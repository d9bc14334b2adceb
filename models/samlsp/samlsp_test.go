package samlsp_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

func settingsFor(idp *samltest.IdP) samlsp.Settings {
	return samlsp.Settings{SP: samlsp.NewSP("https://gatehouse.example", "acme"), IdP: idp.Settings()}
}

var alice = samltest.User{NameID: "00u1", Attributes: map[string][]string{"email": {"alice@example.com"}, "firstName": {"Alice"}}}

func TestRoundTripSPInitiated(t *testing.T) {
	idp := samltest.New(t, "https://idp.example")
	s := settingsFor(idp)
	redirect, reqID, err := samlsp.AuthnRequest(s, "relay-123")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(redirect)
	if !strings.HasPrefix(redirect, idp.SSOURL+"?") || u.Query().Get("RelayState") != "relay-123" || u.Query().Get("SAMLRequest") == "" {
		t.Fatalf("redirect %s", redirect)
	}
	raw := idp.Response(t, s.SP, alice, samltest.Options{InResponseTo: reqID})
	a, err := samlsp.ValidateResponse(s, raw, reqID)
	if err != nil {
		t.Fatal(err)
	}
	if a.NameID != "00u1" || a.Attributes["email"][0] != "alice@example.com" || a.Issuer != idp.EntityID || a.SessionIndex == "" {
		t.Fatalf("%+v", a)
	}
	id, err := samlsp.MapIdentity(a, samlsp.Mapping{Identifier: samlsp.NameIDKey, Email: "email", FirstName: "firstName"})
	if err != nil || id.ID != "00u1" || id.Email != "alice@example.com" || id.FirstName != "Alice" {
		t.Fatalf("identity %+v %v", id, err)
	}
	// The same response does not answer another request, nor count as unsolicited.
	if _, err := samlsp.ValidateResponse(s, raw, "id-other"); err == nil {
		t.Fatal("accepted for another request")
	}
	if _, err := samlsp.ValidateResponse(s, raw, ""); err == nil {
		t.Fatal("a solicited response accepted as unsolicited")
	}
}

func TestRoundTripIdPInitiated(t *testing.T) {
	idp := samltest.New(t, "https://idp.example")
	s := settingsFor(idp)
	raw := idp.Response(t, s.SP, alice, samltest.Options{})
	if _, err := samlsp.ValidateResponse(s, raw, ""); err != nil {
		t.Fatal(err)
	}
}

func TestMapIdentityErrors(t *testing.T) {
	a := &samlsp.Assertion{NameID: "n1", NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient", Attributes: map[string][]string{"b": {"x"}, "a": {"not an email"}}}
	_, err := samlsp.MapIdentity(a, samlsp.Mapping{Identifier: "id", Email: "a"})
	var me *samlsp.MapError
	if !errors.As(err, &me) || !strings.HasPrefix(me.Msg, "Failed to map SAML attributes. Assertion returned the following attribute keys: 'a', 'b'. ") {
		t.Fatalf("%v", err)
	}
	_, err = samlsp.MapIdentity(a, samlsp.Mapping{Identifier: samlsp.NameIDKey, Email: "a"})
	if !errors.As(err, &me) || me.Msg != samlsp.MsgInvalidIdentity {
		t.Fatalf("%v", err)
	}
}

func TestLogoutRequests(t *testing.T) {
	idp := samltest.New(t, "https://idp.example")
	s := settingsFor(idp)
	lr := samltest.LogoutRequest{NameID: "00u1", SessionIndex: "idx", Destination: s.SP.SLSURL}
	got, err := samlsp.ParseLogoutRequestRedirect(s, idp.LogoutRedirectQuery(lr, "rs", true), false)
	if err != nil || got.NameID != "00u1" || !got.Signed {
		t.Fatalf("redirect: %+v %v", got, err)
	}
	if _, err := samlsp.ParseLogoutRequestRedirect(s, idp.LogoutRedirectQuery(lr, "", false), false); err == nil {
		t.Fatal("unsigned redirect accepted")
	}
	tampered := strings.Replace(idp.LogoutRedirectQuery(lr, "rs", true), "RelayState=rs", "RelayState=rx", 1)
	if _, err := samlsp.ParseLogoutRequestRedirect(s, tampered, false); err == nil {
		t.Fatal("tampered query accepted")
	}
	got, err = samlsp.ParseLogoutRequestPost(s, idp.LogoutPostForm(t, lr, true), false)
	if err != nil || got.NameID != "00u1" || got.SessionIndex != "idx" {
		t.Fatalf("post: %+v %v", got, err)
	}
	other := samltest.New(t, "https://idp.example")
	if _, err := samlsp.ParseLogoutRequestPost(s, other.LogoutPostForm(t, lr, true), false); err == nil {
		t.Fatal("post signed by another key accepted")
	}
	out, err := samlsp.LogoutResponse(s, got.ID, "rs")
	if err != nil || out.Binding != samlsp.BindingRedirect || !strings.HasPrefix(out.URL, idp.SLOURL+"?") || !strings.Contains(out.URL, "SAMLResponse=") {
		t.Fatalf("logout response %+v %v", out, err)
	}
}

func TestSPMetadata(t *testing.T) {
	sp := samlsp.NewSP("https://gatehouse.example/", "acme")
	if sp.EntityID != "https://gatehouse.example/saml/metadata/acme/" {
		t.Fatal(sp.EntityID)
	}
	md, err := samlsp.Metadata(sp)
	if err != nil {
		t.Fatal(err)
	}
	s := string(md)
	for _, want := range []string{`entityID="https://gatehouse.example/saml/metadata/acme/"`, `Location="https://gatehouse.example/saml/acs/acme/"`, "HTTP-POST"} {
		if !strings.Contains(s, want) {
			t.Errorf("metadata lacks %s", want)
		}
	}
	if strings.Contains(s, "Artifact") {
		t.Error("artifact binding advertised")
	}
}
