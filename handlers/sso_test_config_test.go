package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
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
	// (The ACS sets no cookie: TestSSOResultsInsideSettings. The result page may pop a flash.)
	if e.owner.Cookie("gatehouse_session").Value != cookie {
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

// joinAcme invites email to acme with role and accepts with a password (the person's
// signed-in client).
func joinAcme(t *testing.T, a *testapp.App, owner *testapp.Client, email, role string) *testapp.Client {
	t.Helper()
	if res := owner.Post("/settings/acme/members/invite/", url.Values{"email": {email}, "role": {role}}); res.Status != http.StatusSeeOther {
		t.Fatalf("invite %s: %d %s", email, res.Status, res.Body)
	}
	c := a.Client(t)
	link := "/accept/" + mailToken(t, a, email, "invitation") + "/"
	c.Get(link)
	if res := c.Post(link, url.Values{"name": {"Person " + role}, "email": {email}, "password": {"person password"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("accept %s: %d %s", email, res.Status, res.Body)
	}
	return c
}

// acsCrossSite posts raw to acme's ACS as the IdP's auto-submitting form does, and
// returns the ACS's own answer (no redirect followed).
func acsCrossSite(c *testapp.Client, raw []byte, relay string) *testapp.Response {
	v := url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(raw)}, "RelayState": {relay}}
	req := httptest.NewRequest(http.MethodPost, "/saml/acs/acme/", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.CrossSite(req)
}

var resultPath = regexp.MustCompile(`^/settings/[a-z0-9-]+/auth/(test|activation)/[A-Za-z0-9_-]{20,}/$`)

// TestSSOResultsInsideSettings (issue 14 item 5): Test Configuration's result and a
// failed activation are answered POST → 303 → GET to a page inside Settings › Auth (org
// layout), which survives a reload and is shown only to the owner who ran it.
func TestSSOResultsInsideSettings(t *testing.T) {
	e := newSSOEnv(t, true)
	var logs bytes.Buffer
	e.a.Handler.Log = slog.New(slog.NewJSONHandler(&logs, nil))

	relay, id := authnRequest(t, e.owner.Post("/settings/acme/auth/test/", nil))
	raw := e.idp.Response(t, e.sp, user("tess-1", "tess@example.com"), samltest.Options{InResponseTo: id})
	acs := acsCrossSite(e.owner, raw, relay)
	if acs.Status != http.StatusSeeOther || !resultPath.MatchString(acs.Location) || !strings.HasPrefix(acs.Location, "/settings/acme/") || !strings.Contains(acs.Location, "/auth/test/") {
		t.Fatalf("ACS answered %d %q, want 303 to a Settings › Auth test result\n%s", acs.Status, acs.Location, acs.Body)
	}
	if len(acs.Header.Values("Set-Cookie")) != 0 {
		t.Fatal("the ACS set a cookie")
	}
	check := func(res *testapp.Response, what string) {
		t.Helper()
		if res.Status != http.StatusOK {
			t.Fatalf("%s: %d\n%s", what, res.Status, res.Body)
		}
		if !res.Has(`nav.org-nav a[aria-current="page"][href="/settings/acme/auth/"]`) || res.Has(`a[href="/auth/register/"]`) {
			t.Fatalf("%s: not inside the org layout's Settings › Auth", what)
		}
		if res.Text("h1") != "Test Configuration" || !strings.Contains(res.Text(`[data-testid="test-verdict"]`), "tess@example.com would sign in") ||
			res.Doc.Find(`[data-testid="test-check"]`).Length() < 5 || res.Text(`[data-testid="test-nameid"]`) != "tess-1" {
			t.Fatalf("%s: result not shown: h1 %q verdict %q", what, res.Text("h1"), res.Text(`[data-testid="test-verdict"]`))
		}
		if res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: Cache-Control %q", what, res.Header.Get("Cache-Control"))
		}
	}
	check(e.owner.Get(acs.Location), "result page")
	check(e.owner.Get(acs.Location), "reload")

	// Nobody else sees it: a manager of acme, the owner of another org (on acme's URL
	// and on their own org's), a signed-out browser.
	manager := joinAcme(t, e.a, e.owner, "manny@example.com", "manager")
	if res := manager.Get(acs.Location); res.Status != http.StatusNotFound || strings.Contains(res.Body, "tess@example.com") {
		t.Fatalf("another manager of acme: %d", res.Status)
	}
	ownerB := signUp(t, e.a, "bea@example.com")
	ownerB.Get("/organizations/new/")
	if res := ownerB.Post("/organizations/new/", url.Values{"name": {"Beta"}, "slug": {"beta"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("org beta: %d", res.Status)
	}
	if res := ownerB.Get(acs.Location); res.Status != http.StatusNotFound || strings.Contains(res.Body, "tess@example.com") {
		t.Fatalf("another org's owner on acme's URL: %d", res.Status)
	}
	if res := ownerB.Get(strings.Replace(acs.Location, "/acme/", "/beta/", 1)); res.Status != http.StatusNotFound || strings.Contains(res.Body, "tess@example.com") {
		t.Fatalf("another org's owner on their own org: %d", res.Status)
	}
	if res := e.a.Client(t).Get(acs.Location); res.Status != http.StatusSeeOther || strings.Contains(res.Body, "tess@example.com") {
		t.Fatalf("signed out: %d", res.Status)
	}
	if res := e.owner.Get(strings.Replace(acs.Location, "/auth/test/", "/auth/activation/", 1)); res.Status != http.StatusNotFound {
		t.Fatalf("a test result under the activation URL: %d", res.Status)
	}
	if res := e.owner.Get("/settings/acme/auth/test/unknown-unknown-unknown-unknown/"); res.Status != http.StatusNotFound {
		t.Fatalf("unknown result: %d", res.Status)
	}

	// A failed activation (a new owner-configured provider answered by the wrong key)
	// lands on a Settings › Auth page that says what failed; nothing is activated.
	f := newSSOEnv(t, false)
	f.a.Handler.Log = e.a.Handler.Log
	other := samltest.New(t, "https://idp.example")
	relay, id = authnRequest(t, f.owner.Post("/settings/acme/auth/activate/", nil))
	acs = acsCrossSite(f.owner, other.Response(t, f.sp, user("owner-1", "owner@example.com"), samltest.Options{InResponseTo: id}), relay)
	if acs.Status != http.StatusSeeOther || !resultPath.MatchString(acs.Location) || !strings.HasPrefix(acs.Location, "/settings/acme/") || !strings.Contains(acs.Location, "/auth/activation/") {
		t.Fatalf("failed activation: ACS answered %d %q\n%s", acs.Status, acs.Location, acs.Body)
	}
	for _, what := range []string{"failed activation", "reload"} {
		res := f.owner.Get(acs.Location)
		sig := res.Doc.Find(`[data-testid="test-check"][data-check="Signature"]`)
		if res.Status != http.StatusOK || !res.Has(`nav.org-nav a[aria-current="page"][href="/settings/acme/auth/"]`) ||
			res.Text("h1") != "Activation failed" || sig.AttrOr("data-ok", "") != "false" ||
			!strings.Contains(res.Text(`[data-testid="test-verdict"]`), "not activated") {
			t.Fatalf("%s: %d h1 %q verdict %q\n%s", what, res.Status, res.Text("h1"), res.Text(`[data-testid="test-verdict"]`), res.Body)
		}
	}
	if n := f.count("SELECT count(*) FROM auth_providers WHERE status = 'active'"); n != 0 {
		t.Fatal("a failed activation activated the provider")
	}

	// A bad mapping (no email sent) fails activation at the ACS the same way.
	relay, id = authnRequest(t, f.owner.Post("/settings/acme/auth/activate/", nil))
	acs = acsCrossSite(f.owner, f.idp.Response(t, f.sp, samltest.User{NameID: "owner-1", Attributes: map[string][]string{"mail": {"owner@example.com"}}},
		samltest.Options{InResponseTo: id}), relay)
	if acs.Status != http.StatusSeeOther || !strings.Contains(acs.Location, "/auth/activation/") {
		t.Fatalf("activation with a bad mapping: ACS answered %d %q", acs.Status, acs.Location)
	}
	if row := f.owner.Get(acs.Location).Doc.Find(`[data-testid="test-check"][data-check="Attribute mapping"]`); row.AttrOr("data-ok", "") != "false" ||
		!strings.Contains(row.Text(), "'mail'") {
		t.Fatalf("activation mapping row: %q", row.Text())
	}

	// Refused after validation, in the completion step: a manager may not activate a
	// provider where one was trusted before. The page names the reason.
	if _, err := f.a.DB.Bun.NewRaw("UPDATE organizations SET idp_trusted_before = true").Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	mgr := joinAcme(t, f.a, f.owner, "manny@example.com", "manager")
	relay, id = authnRequest(t, mgr.Post("/settings/acme/auth/activate/", nil))
	acs = acsCrossSite(mgr, f.idp.Response(t, f.sp, user("manny-1", "manny@example.com"), samltest.Options{InResponseTo: id}), relay)
	if acs.Status != http.StatusSeeOther || !strings.HasPrefix(acs.Location, "/auth/sso/complete/") {
		t.Fatalf("manager's activation at the ACS: %d %q", acs.Status, acs.Location)
	}
	res := mgr.Get(acs.Location)
	if res.Status != http.StatusSeeOther || !resultPath.MatchString(res.Location) || !strings.Contains(res.Location, "/auth/activation/") {
		t.Fatalf("refused activation: %d %q\n%s", res.Status, res.Location, res.Body)
	}
	for _, what := range []string{"refused activation", "reload"} {
		page := mgr.Get(res.Location)
		if page.Status != http.StatusOK || page.Text("h1") != "Activation failed" || !strings.Contains(page.Text(`[data-testid="test-verdict"]`), "only an owner can activate") {
			t.Fatalf("%s: %d %q %q", what, page.Status, page.Text("h1"), page.Text(`[data-testid="test-verdict"]`))
		}
	}
	if res := f.owner.Get(res.Location); res.Status != http.StatusNotFound {
		t.Fatalf("the owner opened the manager's activation result: %d", res.Status)
	}
	if n := f.count("SELECT count(*) FROM auth_providers WHERE status = 'active'"); n != 0 {
		t.Fatal("a refused activation activated the provider")
	}

	if !strings.Contains(logs.String(), "SAML activation response rejected") {
		t.Fatal("the refused activation was not logged") // (so the check below reads a real log)
	}
	for _, leak := range []string{"SAMLResponse", "<saml", "saml:Assertion", "SignatureValue", base64.StdEncoding.EncodeToString(raw)[:40]} {
		if strings.Contains(logs.String(), leak) {
			t.Fatalf("the log holds %q", leak)
		}
	}
}
