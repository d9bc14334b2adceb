package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	dsig "github.com/russellhaering/goxmldsig"

	"gatehouse/handlers/testapp"
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

// TestSSOTestConfigurationDiagnoses: a bad mapping fails an "Attribute mapping" row
// naming the missing field and the keys the IdP sent (and Recent sign-ins do not call
// it a success); a SHA-1 signature is named with where each IdP sets SHA-256, not
// blamed on the certificate; a transient NameID mapped as the IdP User ID is a warning.
func TestSSOTestConfigurationDiagnoses(t *testing.T) {
	e := newSSOEnv(t, true) // mapping: identifier=NameID, email=email
	test := func(u samltest.User, o samltest.Options) *testapp.Response {
		t.Helper()
		relay, id := authnRequest(t, e.owner.Post("/settings/acme/auth/test/", nil))
		o.InResponseTo = id
		res := e.post(e.owner, e.idp.Response(t, e.sp, u, o), relay)
		if res.Status != http.StatusOK {
			t.Fatalf("test page: %d", res.Status)
		}
		return res
	}
	lastSignIn := func() (outcome, hint string) {
		t.Helper()
		if err := e.a.DB.Bun.NewRaw(`SELECT outcome, hint FROM sso_signins ORDER BY id DESC LIMIT 1`).Scan(context.Background(), &outcome, &hint); err != nil {
			t.Fatal(err)
		}
		return
	}

	// Bad mapping: the response is valid, the mapping is not.
	res := test(samltest.User{NameID: "tess-1", Attributes: map[string][]string{"mail": {"tess@example.com"}, "uid": {"tess"}}}, samltest.Options{})
	row := res.Doc.Find(`[data-testid="test-check"][data-check="Attribute mapping"]`)
	if row.AttrOr("data-ok", "") != "false" || !strings.Contains(row.Text(), "no value for User Email") ||
		!strings.Contains(row.Text(), "'NameID', 'mail', 'uid'") || !strings.Contains(row.Text(), "set User Email to 'mail'") {
		t.Fatalf("mapping row: %q", row.Text())
	}
	if !strings.Contains(res.Text(`[data-testid="test-verdict"]`), "attribute mapping fails") {
		t.Fatalf("verdict %q", res.Text(`[data-testid="test-verdict"]`))
	}
	if outcome, hint := lastSignIn(); outcome != "failure" || !strings.Contains(hint, "set User Email to 'mail'") {
		t.Fatalf("recent sign-ins: %s %q", outcome, hint)
	}
	if top := e.owner.Get("/settings/acme/auth/").Doc.Find(`[data-testid="sso-attempt"]`).First(); top.AttrOr("data-outcome", "") != "failure" ||
		!strings.Contains(top.Text(), "set User Email to 'mail'") {
		t.Fatalf("Auth page's Recent sign-ins: %q", top.Text())
	}

	// A good mapping passes the row and is logged as a success.
	res = test(user("tess-1", "tess@example.com"), samltest.Options{})
	if row := res.Doc.Find(`[data-testid="test-check"][data-check="Attribute mapping"]`); row.AttrOr("data-ok", "") != "true" {
		t.Fatalf("mapping row on a good response: %q", row.Text())
	}
	if outcome, _ := lastSignIn(); outcome != "success" {
		t.Fatalf("good test logged %s", outcome)
	}

	// SHA-1: the algorithm is named, with where to set SHA-256; the certificate is not blamed.
	res = test(user("tess-1", "tess@example.com"), samltest.Options{SignatureMethod: dsig.RSASHA1SignatureMethod})
	sig := res.Doc.Find(`[data-testid="test-check"][data-check="Signature"]`)
	for _, want := range []string{"RSA-SHA1", "http://www.w3.org/2000/09/xmldsig#rsa-sha1", "The certificate is not the problem",
		"Okta:", "Microsoft Entra ID:", "ADFS:", "OneLogin:", "Auth0:", "Signing Algorithm SHA-256"} {
		if sig.AttrOr("data-ok", "") != "false" || !strings.Contains(sig.Text(), want) {
			t.Fatalf("SHA-1 signature row lacks %q: %q", want, sig.Text())
		}
	}
	if strings.Contains(sig.Text(), "registered certificates") {
		t.Fatalf("SHA-1 blamed on the certificate: %q", sig.Text())
	}

	// A transient NameID mapped as the IdP User ID works today but is a warning.
	res = test(user("_tr4ns1ent", "tess@example.com"), samltest.Options{NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"})
	warn := res.Doc.Find(`[data-testid="test-check"][data-check="NameID format"]`)
	if warn.AttrOr("data-warn", "") != "true" || !strings.Contains(warn.Text(), "transient NameID mapped as the IdP User ID") ||
		!strings.Contains(warn.Text(), "persistent") {
		t.Fatalf("transient NameID warning: %q", warn.Text())
	}
	res = test(user("p-1", "tess@example.com"), samltest.Options{NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"})
	if res.Doc.Find(`[data-testid="test-check"][data-check="NameID format"]`).Length() != 0 {
		t.Fatal("warning for a persistent NameID")
	}
}
