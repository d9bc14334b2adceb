package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

func TestSSOTestConfiguration(t *testing.T) {
	e := newSSOEnv(t, true)
	before := rowCounts(t, e.a)
	cookie := e.owner.Cookie("gatehouse_session").Value

	// A good response: every check passes, the identity is shown, nothing changes.
	relay, id := authnRequest(t, e.owner.Post("/settings/acme/auth/test/", nil))
	res := e.post(e.owner, e.idp.Response(t, e.sp, user("tess-1", "tess@example.com"), samltest.Options{InResponseTo: id}), relay)
	if res.Status != http.StatusOK || !strings.Contains(res.Text(`[data-testid="test-verdict"]`), "tess@example.com would sign in") {
		t.Fatalf("good test: %d %q", res.Status, res.Text(`[data-testid="test-verdict"]`))
	}
	res.Doc.Find(`[data-testid="test-check"]`).Each(func(_ int, s *goquery.Selection) {
		if s.AttrOr("data-ok", "") != "true" {
			t.Errorf("check %s failed: %s", s.AttrOr("data-check", ""), s.Text())
		}
	})
	if res.Text(`[data-testid="test-nameid"]`) != "tess-1" || !strings.Contains(res.Text(`[data-testid="test-attributes"]`), "tess@example.com") {
		t.Fatal("received values not shown")
	}
	if len(res.Header.Values("Set-Cookie")) != 0 || e.owner.Cookie("gatehouse_session").Value != cookie {
		t.Fatal("the test touched the session")
	}
	if after := rowCounts(t, e.a); !equalCounts(before, after) {
		t.Fatalf("the test changed rows: %v -> %v", before, after)
	}

	// Signed by another certificate: the fingerprint mismatch is explained.
	other := samltest.New(t, "https://idp.example")
	relay, id = authnRequest(t, e.owner.Post("/settings/acme/auth/test/", nil))
	res = e.post(e.owner, other.Response(t, e.sp, user("tess-1", "tess@example.com"), samltest.Options{InResponseTo: id}), relay)
	sig := res.Doc.Find(`[data-testid="test-check"][data-check="Signature"]`)
	want := "fingerprint " + samlsp.Fingerprint(other.Cert.Raw) + " vs " + samlsp.Fingerprint(e.idp.Cert.Raw)
	if res.Status != http.StatusOK || sig.AttrOr("data-ok", "") != "false" || !strings.Contains(sig.Text(), want) {
		t.Fatalf("wrong certificate: %d %q", res.Status, sig.Text())
	}
	if !strings.Contains(res.Text(`[data-testid="test-verdict"]`), "does not work yet") {
		t.Fatal("verdict")
	}
	// Wrong audience: the hint names our entity ID.
	relay, id = authnRequest(t, e.owner.Post("/settings/acme/auth/test/", nil))
	res = e.post(e.owner, e.idp.Response(t, e.sp, user("tess-1", "tess@example.com"), samltest.Options{InResponseTo: id, Audience: "https://gatehouse.test/saml/metadata/acme"}), relay)
	aud := res.Doc.Find(`[data-testid="test-check"][data-check="Audience"]`)
	if aud.AttrOr("data-ok", "") != "false" || !strings.Contains(aud.Text(), e.sp.EntityID+" (with the trailing slash)") {
		t.Fatalf("audience: %q", aud.Text())
	}
	if n := count(t, e.a, "SELECT count(*) FROM users WHERE email = 'tess@example.com'"); n != 0 {
		t.Fatal("a test created a user")
	}
}
