package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/handlers/testapp"
	"gatehouse/models/samlsp"
)

// samlIdPVersion is the npm package .ci/samlidp.sh installs (pinned there too).
const samlIdPVersion = "1.2.1"

// TestSAMLIdPInterop runs Gatehouse against saml-idp from npm (mcguinness/saml-idp on
// Auth0's samlp), an IdP nobody here wrote, served by node on loopback: the owner's
// activation round trip with the Okta preset (saml-idp sends an emailAddress NameID and
// firstName/lastName/email, no identifier: the preset's default-app fallback), SP-
// initiated sign-in with just-in-time provisioning, IdP-initiated sign-in, linking an
// existing account by its password, IdP-initiated single logout (signed; unsigned is
// refused until the org allows it) and SP-initiated single logout, which saml-idp
// answers with "Invalid Session Participant" unless the LogoutRequest names its
// session (NameID and SessionIndex as it sent them).
//
// Needs node and saml-idp: run .ci/samlidp.sh (GATEHOUSE_SKIP_INTEROP=1 skips).
func TestSAMLIdPInterop(t *testing.T) {
	if os.Getenv("GATEHOUSE_SKIP_INTEROP") == "1" {
		t.Skip("GATEHOUSE_SKIP_INTEROP=1")
	}
	node, runJS := samlIdPRequire(t)
	a := testapp.Serve(t, testapp.Options{})
	sp := samlsp.NewSP(a.BaseURL, "acme")
	owner := setUp(t, a)
	idp := samlIdPStart(t, node, runJS, sp)

	res := owner.Post("/settings/acme/auth/configure/okta/", url.Values{"method": {"url"}, "metadata_url": {idp.base + "/metadata"},
		"map_identifier": {"identifier"}, "map_email": {"email"}, "map_first_name": {"FirstName"}, "map_last_name": {"LastName"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("configure: %d %s\n%s", res.Status, res.Text(`[data-testid^="error-"]`), idp.out.String())
	}
	var sloURL string
	if err := a.DB.Bun.NewRaw(`SELECT coalesce(config->>'slo_url', '') FROM auth_providers`).Scan(context.Background(), &sloURL); err != nil {
		t.Fatal(err)
	}
	t.Logf("registered saml-idp %s: %s (SLO %s)", samlIdPVersion, idp.base, sloURL)

	// Activation: the owner's round trip.
	ownerIdP := idp.browser(t)
	res = ownerIdP.signIn(owner, owner.Post("/settings/acme/auth/activate/", nil), samlIdPUser{"owner@example.com", "Olive", "Owner"})
	if res.Status != http.StatusSeeOther || res.Location != "/settings/acme/auth/" {
		idp.fail(t, a, "activation", res)
	}
	if n := count(t, a, `SELECT count(*) FROM auth_identities i JOIN users u ON u.id = i.user_id WHERE u.email = 'owner@example.com' AND i.idp_user_id = 'owner@example.com'`); n != 1 {
		t.Fatal("owner not linked by the NameID (the Okta preset's fallback)")
	}
	t.Log("activation (Okta preset, no identifier attribute): ok")

	// SP-initiated with just-in-time provisioning; names mapped case-insensitively.
	alice, aliceIdP := a.Client(t), idp.browser(t)
	alice.Get("/auth/login/acme/")
	res = aliceIdP.signIn(alice, alice.Post("/auth/login/acme/", url.Values{"next": {"/settings/acme/members/"}}), samlIdPUser{"alice@example.com", "Alice", "Adams"})
	if res.Status != http.StatusSeeOther || res.Location != "/settings/acme/members/" {
		idp.fail(t, a, "SP-initiated sign-in", res)
	}
	if n := count(t, a, `SELECT count(*) FROM members m JOIN users u ON u.id = m.user_id WHERE u.email = 'alice@example.com' AND u.name = 'Alice Adams' AND m.joined_via = 'sso'`); n != 1 {
		t.Fatal("alice was not provisioned just in time with her name")
	}
	t.Log("SP-initiated sign-in, JIT: ok")

	// IdP-initiated: Bob signs in at saml-idp without an AuthnRequest.
	bob, bobIdP := a.Client(t), idp.browser(t)
	res = bobIdP.signInUnsolicited(bob, samlIdPUser{"bob@example.com", "Bob", "Brown"})
	if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		idp.fail(t, a, "IdP-initiated sign-in", res)
	}
	if bob.Get("/organizations/acme/").Status != http.StatusOK {
		t.Fatal("bob is not signed in")
	}
	t.Log("IdP-initiated sign-in: ok")

	// Link: Carl has a Gatehouse account; his first SSO proves it with its password.
	signUp(t, a, "carl@example.com")
	carl, carlIdP := a.Client(t), idp.browser(t)
	carl.Get("/auth/login/acme/")
	res = carlIdP.signIn(carl, carl.Post("/auth/login/acme/", nil), samlIdPUser{"carl@example.com", "Carl", "Cole"})
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/link/") {
		idp.fail(t, a, "link", res)
	}
	if res := carl.Post(res.Location, url.Values{"method": {"password"}, "password": {"user password"}}); res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("link by password: %d %s", res.Status, res.Location)
	}
	if n := count(t, a, `SELECT count(*) FROM auth_identities i JOIN users u ON u.id = i.user_id WHERE u.email = 'carl@example.com'`); n != 1 {
		t.Fatal("carl not linked")
	}
	t.Log("link of an existing account: ok")

	// SP-initiated single logout right after the linked sign-in: the LogoutRequest
	// names saml-idp's session as it was named at that sign-in (NameID and
	// SessionIndex), or saml-idp answers "Invalid Session Participant".
	{
		out := carl.Post("/auth/logout/", nil)
		href := out.Doc.Find(`[data-testid="idp-logout"]`).AttrOr("href", "")
		if !strings.HasPrefix(href, sloURL+"?") {
			t.Fatalf("carl's logout page: %d %q", out.Status, href)
		}
		before := len(idp.out.String())
		hops := carlIdP.follow(href, false)
		back := samlIdPFind(hops, sp.SLSURL)
		if back == nil || back.status != http.StatusSeeOther || back.location != a.BaseURL+"/auth/login/" || strings.Contains(idp.out.String()[before:], "Invalid Session Participant") {
			last := hops[len(hops)-1]
			t.Fatalf("SP-initiated logout after the linked sign-in: %s\nlast: %d %s\n%s", sspHops(hops), last.status, sspTail(last.body, 500), sspTail(idp.out.String(), 3000))
		}
		if carl.Get("/organizations/acme/").Status != http.StatusSeeOther {
			t.Fatal("carl still signed in after logging out")
		}
		t.Log("SP-initiated single logout after the linked sign-in: ok")
	}

	// IdP-initiated single logout. saml-idp keeps one profile for all its sessions (the
	// last one signed in), so each logout follows that person's sign-in.
	idpLogout := func(c *testapp.Client, b *samlIdPBrowser, u samlIdPUser, strip bool) []sspHop {
		t.Helper()
		c.Get("/auth/login/acme/")
		if res := b.signIn(c, c.Post("/auth/login/acme/", nil), u); res.Status != http.StatusSeeOther {
			idp.fail(t, a, "sign-in before logout", res)
		}
		return b.follow(idp.base+"/signout", strip)
	}
	hops := idpLogout(alice, aliceIdP, samlIdPUser{"alice@example.com", "Alice", "Adams"}, true)
	if sls := samlIdPFind(hops, sp.SLSURL); sls == nil || sls.status != http.StatusBadRequest {
		t.Fatalf("unsigned LogoutRequest (signature removed) not refused: %s\n%s", sspHops(hops), idp.out.String())
	}
	if alice.Get("/organizations/acme/").Status != http.StatusOK {
		t.Fatal("alice signed out by an unsigned request")
	}
	hops = idpLogout(alice, aliceIdP, samlIdPUser{"alice@example.com", "Alice", "Adams"}, false)
	sls := samlIdPFind(hops, sp.SLSURL)
	if sls == nil || sls.status != http.StatusSeeOther || !strings.HasPrefix(sls.location, sloURL+"?") {
		t.Fatalf("signed IdP-initiated logout: %s\n%s", sspHops(hops), idp.out.String())
	}
	if alice.Get("/organizations/acme/").Status != http.StatusSeeOther {
		t.Fatal("alice still signed in after saml-idp's logout")
	}
	if bob.Get("/organizations/acme/").Status != http.StatusOK {
		t.Fatal("bob signed out by alice's logout")
	}
	t.Log("IdP-initiated single logout (signed; unsigned refused): ok")

	// Once the owner allows unsigned logout requests, the stripped one is honoured.
	if res := owner.Post("/settings/acme/auth/settings/", url.Values{"default_role": {"member"}, "sso_session_hours": {"168"},
		"allow_idp_initiated": {"1"}, "allow_unsigned_logout": {"1"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("allow unsigned logout: %d", res.Status)
	}
	hops = idpLogout(alice, aliceIdP, samlIdPUser{"alice@example.com", "Alice", "Adams"}, true)
	if sls := samlIdPFind(hops, sp.SLSURL); sls == nil || sls.status != http.StatusSeeOther {
		t.Fatalf("unsigned LogoutRequest when allowed: %s\n%s", sspHops(hops), idp.out.String())
	}
	if alice.Get("/organizations/acme/").Status != http.StatusSeeOther {
		t.Fatal("alice still signed in after an allowed unsigned logout")
	}
	t.Log("IdP-initiated single logout, unsigned when allowed: ok")

	// SP-initiated single logout: Alice signs out of Gatehouse; the page sends her to
	// saml-idp with a LogoutRequest, which saml-idp matches to her session and answers.
	alice.Get("/auth/login/acme/")
	if res := aliceIdP.signIn(alice, alice.Post("/auth/login/acme/", nil), samlIdPUser{"alice@example.com", "Alice", "Adams"}); res.Status != http.StatusSeeOther {
		idp.fail(t, a, "sign-in before SP-initiated logout", res)
	}
	out := alice.Post("/auth/logout/", nil)
	href := out.Doc.Find(`[data-testid="idp-logout"]`).AttrOr("href", "")
	if !strings.HasPrefix(href, sloURL+"?") {
		t.Fatalf("logout page: %d %q", out.Status, href)
	}
	hops = aliceIdP.follow(href, false)
	last := hops[len(hops)-1]
	back := samlIdPFind(hops, sp.SLSURL)
	if back == nil || back.status != http.StatusSeeOther || back.location != a.BaseURL+"/auth/login/" || strings.Contains(idp.out.String(), "Invalid Session Participant") {
		t.Fatalf("SP-initiated logout: %s\nlast: %d %s\n%s", sspHops(hops), last.status, sspTail(last.body, 500), sspTail(idp.out.String(), 3000))
	}
	if alice.Get("/organizations/acme/").Status != http.StatusSeeOther {
		t.Fatal("alice still signed in after logging out")
	}
	t.Log("SP-initiated single logout (saml-idp matched its session participant): ok")
}

// samlIdPRequire finds node and saml-idp's run.js, or fails (in CI) / skips.
func samlIdPRequire(t *testing.T) (node, runJS string) {
	t.Helper()
	const hint = "run .ci/samlidp.sh and set GATEHOUSE_SAMLIDP_DIR to the directory it prints (or GATEHOUSE_SKIP_INTEROP=1 to skip)"
	node, err := exec.LookPath("node")
	testapp.RequireTool(t, err == nil, "node", hint)
	dir := os.Getenv("GATEHOUSE_SAMLIDP_DIR")
	if dir == "" {
		cache, _ := os.UserCacheDir()
		dir = filepath.Join(cache, "gatehouse", "saml-idp-"+samlIdPVersion)
	}
	runJS = filepath.Join(dir, "node_modules", "saml-idp", "bin", "run.js")
	_, err = os.Stat(runJS)
	testapp.RequireTool(t, err == nil, "saml-idp "+samlIdPVersion+" (npm) in "+dir, hint)
	return node, runJS
}

type samlIdP struct {
	base string
	out  *sspOutput
}

// samlIdPStart serves saml-idp for sp on a loopback port until the test ends.
func samlIdPStart(t *testing.T, node, runJS string, sp samlsp.SP) *samlIdP {
	t.Helper()
	dir := t.TempDir()
	keyFile, certFile := filepath.Join(dir, "idp.key"), filepath.Join(dir, "idp.crt")
	port := sspFreePort(t)
	base := "http://127.0.0.1:" + port
	sspKeyPair(t, keyFile, certFile, base)
	config := `module.exports = {
  user: {userName: 'nobody@example.com', nameIdFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
         firstName: 'No', lastName: 'Body', email: 'nobody@example.com'},
  metadata: [
    {id: 'firstName', optional: false, displayName: 'First Name', description: '', multiValue: false},
    {id: 'lastName', optional: false, displayName: 'Last Name', description: '', multiValue: false},
    {id: 'email', optional: false, displayName: 'E-Mail Address', description: '', multiValue: false}]
};
`
	cfg := filepath.Join(dir, "config.js")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &samlIdP{base: base, out: &sspOutput{}}
	cmd := exec.Command(node, runJS, "--host", "127.0.0.1", "--port", port, "--cert", certFile, "--key", keyFile,
		"--issuer", "urn:gatehouse:test:saml-idp", "--acsUrl", sp.ACSURL, "--audience", sp.EntityID, "--serviceProviderId", sp.EntityID,
		"--sloUrl", sp.SLSURL, "--relayState", "/organizations/acme/", "--configFile", cfg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "FORCE_COLOR=0")
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start saml-idp: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(base + "/metadata")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && bytes.Contains(body, []byte("IDPSSODescriptor")) {
				return s
			}
		}
		select {
		case <-done:
			t.Fatalf("saml-idp exited:\n%s", s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("saml-idp metadata not served: %v\n%s", err, s.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *samlIdP) fail(t *testing.T, a *testapp.App, what string, res *testapp.Response) {
	t.Helper()
	var last sspSignIn
	_ = a.DB.Bun.NewRaw(`SELECT outcome, reason, hint FROM sso_signins ORDER BY id DESC LIMIT 1`).Scan(context.Background(), &last.outcome, &last.reason, &last.hint)
	t.Fatalf("%s: %d %q (last sign-in log entry: %+v)\n%s\n--- saml-idp:\n%s", what, res.Status, res.Location, last, sspTail(res.Body, 1500), sspTail(s.out.String(), 4000))
}

type samlIdPUser struct{ Email, First, Last string }

// samlIdPBrowser is a browser's side at saml-idp (its own cookie jar).
type samlIdPBrowser struct {
	t    *testing.T
	idp  *samlIdP
	http *http.Client
}

func (s *samlIdP) browser(t *testing.T) *samlIdPBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &samlIdPBrowser{t: t, idp: s, http: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *samlIdPBrowser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	res, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v\n%s", req.Method, req.URL, err, sspTail(b.idp.out.String(), 3000))
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// signIn continues the SP-initiated SSO that start (Gatehouse's redirect) began: the
// user page of saml-idp is submitted as u, and the response form is posted to the ACS as c.
func (b *samlIdPBrowser) signIn(c *testapp.Client, start *testapp.Response, u samlIdPUser) *testapp.Response {
	b.t.Helper()
	if start.Status != http.StatusSeeOther || !strings.HasPrefix(start.Location, b.idp.base+"/") {
		b.t.Fatalf("expected a redirect to saml-idp, got %d %q\n%s", start.Status, start.Location, sspTail(start.Body, 800))
	}
	req, _ := http.NewRequest(http.MethodGet, start.Location, nil)
	res, body := b.do(req)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil || res.StatusCode != http.StatusOK {
		b.t.Fatalf("saml-idp user page: %d\n%s", res.StatusCode, sspTail(body, 1500))
	}
	authn, ok := doc.Find(`input[name="_authnRequest"]`).Attr("value")
	if !ok {
		b.t.Fatalf("saml-idp did not take the AuthnRequest:\n%s\n%s", sspTail(body, 1500), sspTail(b.idp.out.String(), 2000))
	}
	return b.submit(c, u, url.Values{"_authnRequest": {authn}})
}

// signInUnsolicited signs u in at saml-idp without an AuthnRequest (IdP-initiated).
func (b *samlIdPBrowser) signInUnsolicited(c *testapp.Client, u samlIdPUser) *testapp.Response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.idp.base+"/", nil)
	if res, body := b.do(req); res.StatusCode != http.StatusOK {
		b.t.Fatalf("saml-idp home: %d %s", res.StatusCode, sspTail(body, 800))
	}
	return b.submit(c, u, url.Values{})
}

func (b *samlIdPBrowser) submit(c *testapp.Client, u samlIdPUser, v url.Values) *testapp.Response {
	b.t.Helper()
	v.Set("userName", u.Email)
	v.Set("nameIdFormat", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
	v.Set("email", u.Email)
	v.Set("firstName", u.First)
	v.Set("lastName", u.Last)
	req, _ := http.NewRequest(http.MethodPost, b.idp.base+"/signin", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, body := b.do(req)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	form := doc.Find(`form:has(input[name="SAMLResponse"])`).First()
	if err != nil || res.StatusCode != http.StatusOK || form.Length() != 1 {
		b.t.Fatalf("saml-idp sign-in: %d\n%s\n%s", res.StatusCode, sspTail(body, 1500), sspTail(b.idp.out.String(), 2000))
	}
	action, values := sspFormValues(b.t, res.Request.URL, form)
	return sspPostACS(b.t, c, action, values)
}

var samlIdPSignatureParams = regexp.MustCompile(`&(SigAlg|Signature)=[^&]*`)

// follow opens startURL and follows redirects and auto-submitted SAML forms across
// saml-idp and Gatehouse's listener until neither continues. strip removes the
// signature from LogoutRequests on their way to Gatehouse (an IdP that does not sign).
func (b *samlIdPBrowser) follow(startURL string, strip bool) []sspHop {
	b.t.Helper()
	var hops []sspHop
	req, _ := http.NewRequest(http.MethodGet, startURL, nil)
	var sent url.Values
	for step := 0; step < 20; step++ {
		if strip && strings.Contains(req.URL.RawQuery, "SAMLRequest=") && !strings.HasPrefix(req.URL.String(), b.idp.base) {
			req.URL.RawQuery = samlIdPSignatureParams.ReplaceAllString(req.URL.RawQuery, "")
		}
		res, body := b.do(req)
		h := sspHop{method: req.Method, url: req.URL.String(), form: sent, status: res.StatusCode, body: sspTail(body, 1500)}
		if loc := res.Header.Get("Location"); loc != "" {
			u, err := res.Request.URL.Parse(loc)
			if err != nil {
				b.t.Fatal(err)
			}
			h.location = u.String()
		}
		hops = append(hops, h)
		if h.location != "" {
			req, _ = http.NewRequest(http.MethodGet, h.location, nil)
			sent = nil
			continue
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		form := doc.Find(`form:has(input[name="SAMLRequest"]), form:has(input[name="SAMLResponse"])`).First()
		if err != nil || res.StatusCode != http.StatusOK || form.Length() != 1 {
			return hops
		}
		action, values := sspFormValues(b.t, res.Request.URL, form)
		if strip && values.Get("SAMLRequest") != "" && !strings.HasPrefix(action, b.idp.base) {
			raw, _ := base64.StdEncoding.DecodeString(values.Get("SAMLRequest"))
			raw = regexp.MustCompile(`(?s)<(\w+:)?Signature[ >].*?</(\w+:)?Signature>`).ReplaceAll(raw, nil)
			values.Set("SAMLRequest", base64.StdEncoding.EncodeToString(raw))
		}
		req, _ = http.NewRequest(http.MethodPost, action, strings.NewReader(values.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		sent = values
	}
	b.t.Fatalf("redirect loop: %s", sspHops(hops))
	return nil
}

// samlIdPFind is the last hop that reached prefix (our SLS).
func samlIdPFind(hops []sspHop, prefix string) *sspHop {
	var found *sspHop
	for i := range hops {
		if strings.HasPrefix(hops[i].url, prefix) {
			found = &hops[i]
		}
	}
	return found
}
