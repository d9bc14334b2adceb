package handlers_test

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/handlers/testapp"
	"gatehouse/models/samlsp"
)

// TestSimpleSAMLphpInterop runs Gatehouse against SimpleSAMLphp, an IdP nobody here
// wrote: Debian's simplesamlphp package served by `php -S` on loopback, with its
// exampleauth:UserPass login filled in like a person would. It covers the owner's
// activation round trip, SP-initiated SSO with just-in-time provisioning,
// IdP-initiated SSO (and refusal of an altered or replayed SimpleSAMLphp response),
// IdP-initiated single logout, the signature placements a SimpleSAMLphp admin can
// choose per SP (Response only, Assertion only), and one logout across three SPs with
// the HTTP-Redirect and HTTP-POST bindings.
//
// Needs php-cli and simplesamlphp: run .ci/simplesamlphp.sh (GATEHOUSE_SKIP_INTEROP=1
// skips the test).
func TestSimpleSAMLphpInterop(t *testing.T) {
	if os.Getenv("GATEHOUSE_SKIP_INTEROP") == "1" {
		t.Skip("GATEHOUSE_SKIP_INTEROP=1")
	}
	php, www := sspRequire(t)

	a := testapp.Serve(t, testapp.Options{})
	sp := samlsp.NewSP(a.BaseURL, "acme")
	// Per SP, SimpleSAMLphp signs the Response, the Assertion or both (its default), and
	// sends LogoutRequests with the first SingleLogoutService binding listed.
	sps := []sspSP{
		// acme is loaded from Gatehouse's metadata URL: SimpleSAMLphp's defaults (both
		// signed, the first SingleLogoutService listed: Redirect).
		{SP: sp, SignResponse: true, SignAssertion: true, SLSBinding: bindingRedirect, MetadataURL: true},
		{SP: samlsp.NewSP(a.BaseURL, "resp-signed"), SignResponse: true, SignAssertion: false, SLSBinding: bindingRedirect},
		{SP: samlsp.NewSP(a.BaseURL, "assert-signed"), SignResponse: false, SignAssertion: true, SLSBinding: bindingPOST},
	}
	// The org exists first: SimpleSAMLphp reads acme's SP metadata from its URL.
	owner := setUp(t, a)
	idp := sspStart(t, php, www, sps, []sspUser{
		{Username: "olive", Password: "olivepass", Email: "owner@example.com", GivenName: "Olive", Surname: "Owner"},
		{Username: "alice", Password: "alicepass", Email: "alice@example.com", GivenName: "Alice", Surname: "Adams"},
		{Username: "bob", Password: "bobpass", Email: "bob@example.com", GivenName: "Bob", Surname: "Brown"},
		{Username: "carl", Password: "carlpass", Email: "carl@example.com", GivenName: "Carl", Surname: "Cole"},
	})

	// The owner registers SimpleSAMLphp by its metadata URL (SPEC §3.2, method 1).
	res := owner.Post("/settings/acme/auth/configure/saml2/", url.Values{"method": {"url"}, "metadata_url": {idp.metadataURL()},
		"map_identifier": {"uid"}, "map_email": {"email"}, "map_first_name": {"givenName"}, "map_last_name": {"sn"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("configure: %d %s\n%s", res.Status, res.Text(`[data-testid^="error-"]`), idp.log())
	}
	var ssoURL, sloURL string
	if err := a.DB.Bun.NewRaw(`SELECT config->>'sso_url', coalesce(config->>'slo_url', '') FROM auth_providers`).Scan(context.Background(), &ssoURL, &sloURL); err != nil {
		t.Fatal(err)
	}
	version, _ := exec.Command("dpkg-query", "-W", "-f=${Version}", "simplesamlphp").Output()
	t.Logf("registered SimpleSAMLphp %s: %s (SSO %s, SLO %s)", version, idp.entityID(), ssoURL, sloURL)

	// Activation: the owner's round trip through SimpleSAMLphp.
	ownerIdP := idp.browser(t)
	res = ownerIdP.signInAt(owner, sp, owner.Post("/settings/acme/auth/activate/", nil), "olive", "olivepass")
	if res.Status != http.StatusSeeOther || res.Location != "/settings/acme/auth/" {
		idp.fail(t, a, "activation", res)
	}
	if owner.Get("/settings/acme/auth/").Text(`[data-testid="provider-state"]`) != "active" {
		t.Fatal("provider not active after the owner's round trip")
	}
	if n := count(t, a, `SELECT count(*) FROM auth_identities i JOIN users u ON u.id = i.user_id WHERE u.email = 'owner@example.com' AND i.idp_user_id = 'olive'`); n != 1 {
		t.Fatal("owner not linked to uid olive")
	}

	// SP-initiated: Alice starts at the org login page, signs in at SimpleSAMLphp and is
	// provisioned just in time.
	alice, aliceIdP := a.Client(t), idp.browser(t)
	{
		alice.Get("/auth/login/acme/")
		start := alice.Post("/auth/login/acme/", url.Values{"next": {"/settings/acme/members/"}})
		if start.Status != http.StatusSeeOther || !strings.HasPrefix(start.Location, ssoURL+"?") {
			t.Fatalf("SSO start: %d %q, want a redirect to %s", start.Status, start.Location, ssoURL)
		}
		res := aliceIdP.signInAt(alice, sp, start, "alice", "alicepass")
		if res.Status != http.StatusSeeOther || res.Location != "/settings/acme/members/" {
			idp.fail(t, a, "SP-initiated sign-in", res)
		}
		if alice.Get("/organizations/acme/").Status != http.StatusOK {
			t.Fatal("alice is not signed in")
		}
		doc, _ := base64.StdEncoding.DecodeString(aliceIdP.lastResponse.Get("SAMLResponse"))
		if got := bytes.Count(doc, []byte("SignatureValue>")) / 2; got != 2 {
			t.Fatalf("SimpleSAMLphp's default signs the Response and the Assertion; got %d signatures", got)
		}
		if n := count(t, a, `SELECT count(*) FROM members m JOIN users u ON u.id = m.user_id
			WHERE u.email = 'alice@example.com' AND u.name = 'Alice Adams' AND m.role = 'member' AND m.joined_via = 'sso' AND m.sso_linked`); n != 1 {
			t.Fatal("alice was not provisioned just in time")
		}
		if n := count(t, a, `SELECT count(*) FROM auth_identities WHERE idp_user_id = 'alice' AND name_id <> '' AND name_id <> 'alice'`); n != 1 {
			t.Fatal("alice's identity is not keyed by uid with SimpleSAMLphp's opaque persistent NameID kept")
		}
		t.Log("SP-initiated sign-in: ok")
	}

	// IdP-initiated: Bob opens SimpleSAMLphp's unsolicited SSO endpoint for our SP.
	bob := a.Client(t)
	{
		start := idp.idpBase + "/saml2/idp/SSOService.php?" + url.Values{"spentityid": {sp.EntityID}, "RelayState": {"/organizations/acme/"}}.Encode()
		bobIdP := idp.browser(t)
		res := bobIdP.signInFrom(bob, sp, start, "bob", "bobpass")
		if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
			idp.fail(t, a, "IdP-initiated sign-in", res)
		}
		if bob.Get("/organizations/acme/").Status != http.StatusOK {
			t.Fatal("bob is not signed in")
		}
		if n := count(t, a, `SELECT count(*) FROM members m JOIN users u ON u.id = m.user_id WHERE u.email = 'bob@example.com' AND m.joined_via = 'sso'`); n != 1 {
			t.Fatal("bob was not provisioned just in time")
		}
		t.Log("IdP-initiated sign-in: ok")

		// SimpleSAMLphp's signatures are checked: the same response with one attribute
		// changed is refused, and the genuine one is accepted only once.
		genuine := bobIdP.lastResponse
		xmlDoc, err := base64.StdEncoding.DecodeString(genuine.Get("SAMLResponse"))
		if err != nil || !bytes.Contains(xmlDoc, []byte(">bob@example.com<")) {
			t.Fatalf("bob's SAMLResponse: %v\n%s", err, xmlDoc)
		}
		forged := url.Values{"RelayState": {genuine.Get("RelayState")}, "SAMLResponse": {base64.StdEncoding.EncodeToString(
			bytes.Replace(xmlDoc, []byte(">bob@example.com<"), []byte(">eve@example.com<"), 1))}}
		for _, tc := range []struct {
			name   string
			values url.Values
			reason string
		}{{"altered", forged, samlsp.ReasonSignature}, {"replayed", genuine, "replay"}} {
			res := sspPostACS(t, a.Client(t), sp.ACSURL, tc.values)
			if res.Status != http.StatusForbidden || sspLastSignIn(t, a).reason != tc.reason {
				t.Fatalf("%s response: %d %q, sign-in log %+v", tc.name, res.Status, res.Location, sspLastSignIn(t, a))
			}
		}
		if n := count(t, a, `SELECT count(*) FROM users WHERE email = 'eve@example.com'`); n != 0 {
			t.Fatal("the altered response created a user")
		}
		t.Log("altered and replayed responses refused: ok")
	}

	// SLO: SimpleSAMLphp-initiated logout from Alice's browser.
	{
		returnTo := a.BaseURL + "/auth/login/"
		hops := aliceIdP.follow(idp.idpBase+"/saml2/idp/SingleLogoutService.php?"+url.Values{"ReturnTo": {returnTo}}.Encode(), returnTo)

		// SimpleSAMLphp sent a signed LogoutRequest for alice to our SLS (Redirect binding) ...
		var sls *sspHop
		for i := range hops {
			if strings.HasPrefix(hops[i].url, sp.SLSURL+"?") {
				sls = &hops[i]
			}
		}
		if sls == nil {
			t.Fatalf("SimpleSAMLphp never sent the browser to our SLS: %s\n%s", sspHops(hops), idp.log())
		}
		q := sspQuery(t, sls.url)
		if q.Get("Signature") == "" || q.Get("SigAlg") != "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" {
			t.Fatalf("LogoutRequest not signed with RSA-SHA256: SigAlg=%q", q.Get("SigAlg"))
		}
		var lr struct {
			ID     string `xml:"ID,attr"`
			NameID string `xml:"NameID"`
		}
		if err := xml.Unmarshal(sspInflate(t, q.Get("SAMLRequest")), &lr); err != nil {
			t.Fatal(err)
		}
		if n := count(t, a, `SELECT count(*) FROM auth_identities WHERE idp_user_id = 'alice' AND name_id = ?`, lr.NameID); n != 1 {
			t.Fatalf("the LogoutRequest's NameID %q is not alice's", lr.NameID)
		}
		// ... and our SLS answered with a successful LogoutResponse to SimpleSAMLphp's SLO URL.
		if sls.status != http.StatusSeeOther || !strings.HasPrefix(sls.location, sloURL+"?") {
			t.Fatalf("SLS answered %d %q, want a redirect to %s\n%s", sls.status, sls.location, sloURL, sls.body)
		}
		rq := sspQuery(t, sls.location)
		var resp struct {
			InResponseTo string `xml:"InResponseTo,attr"`
			Destination  string `xml:"Destination,attr"`
			Issuer       string `xml:"Issuer"`
			Status       struct {
				StatusCode struct {
					Value string `xml:"Value,attr"`
				} `xml:"StatusCode"`
			} `xml:"Status"`
		}
		if err := xml.Unmarshal(sspInflate(t, rq.Get("SAMLResponse")), &resp); err != nil {
			t.Fatal(err)
		}
		if resp.InResponseTo != lr.ID || resp.Issuer != sp.EntityID || resp.Status.StatusCode.Value != "urn:oasis:names:tc:SAML:2.0:status:Success" {
			t.Fatalf("LogoutResponse: %+v (request %s)", resp, lr.ID)
		}
		if rq.Get("RelayState") != q.Get("RelayState") {
			t.Fatalf("RelayState not echoed: %q vs %q", rq.Get("RelayState"), q.Get("RelayState"))
		}
		// SimpleSAMLphp took the response and finished at ReturnTo.
		last := hops[len(hops)-1]
		if last.location != returnTo {
			t.Fatalf("logout did not finish at ReturnTo: %s\n%s", sspHops(hops), idp.log())
		}
		if errs := idp.logErrors(); errs != "" {
			t.Fatalf("SimpleSAMLphp logged errors during logout:\n%s", errs)
		}

		// Alice's Gatehouse session is gone; Bob's is untouched.
		if res := alice.Get("/organizations/acme/"); res.Status != http.StatusSeeOther {
			t.Fatalf("alice still signed in after SLO: %d", res.Status)
		}
		if res := bob.Get("/organizations/acme/"); res.Status != http.StatusOK {
			t.Fatalf("bob signed out by alice's SLO: %d", res.Status)
		}
		t.Log("IdP-initiated single logout: ok")
	}

	// The owner adds an org per signature placement; activation is the round trip
	// (olive still has her SimpleSAMLphp session: no login form this time).
	for _, s := range sps[1:] {
		slug := strings.TrimSuffix(strings.TrimPrefix(s.SP.EntityID, a.BaseURL+"/saml/metadata/"), "/")
		placement := map[bool]string{true: "Response only", false: "Assertion only"}[s.SignResponse]
		{
			if res := owner.Post("/organizations/new/", url.Values{"name": {slug}, "slug": {slug}}); res.Status != http.StatusSeeOther {
				t.Fatalf("%s: new org %s: %d", placement, slug, res.Status)
			}
			res := owner.Post("/settings/"+slug+"/auth/configure/saml2/", url.Values{"method": {"url"}, "metadata_url": {idp.metadataURL()},
				"map_identifier": {"uid"}, "map_email": {"email"}})
			if res.Status != http.StatusSeeOther {
				t.Fatalf("%s: configure %s: %d %s", placement, slug, res.Status, res.Text(`[data-testid^="error-"]`))
			}
			res = ownerIdP.signInAt(owner, s.SP, owner.Post("/settings/"+slug+"/auth/activate/", nil), "olive", "olivepass")
			if res.Status != http.StatusSeeOther || res.Location != "/settings/"+slug+"/auth/" {
				idp.fail(t, a, placement+" signed: activation of "+slug, res)
			}
			doc, _ := base64.StdEncoding.DecodeString(ownerIdP.lastResponse.Get("SAMLResponse"))
			if got := bytes.Count(doc, []byte("SignatureValue>")) / 2; got != 1 {
				t.Fatalf("%s: expected exactly one signature in the response, got %d", placement, got)
			}
			t.Logf("signature on the %s: ok", placement)
		}
	}

	// Single logout across three SPs: Olive's SimpleSAMLphp session has one per org, so
	// SimpleSAMLphp visits each SLS in turn (one of them with the HTTP-POST binding).
	{
		returnTo := a.BaseURL + "/auth/login/"
		hops := ownerIdP.follow(idp.idpBase+"/saml2/idp/SingleLogoutService.php?"+url.Values{"ReturnTo": {returnTo}}.Encode(), returnTo)
		got := map[string]string{}
		for _, h := range hops {
			for _, s := range sps {
				binding := ""
				switch {
				case h.method == http.MethodGet && strings.HasPrefix(h.url, s.SP.SLSURL+"?"):
					binding = bindingRedirect
				case h.method == http.MethodPost && h.url == s.SP.SLSURL && h.form.Get("SAMLRequest") != "":
					binding = bindingPOST
				default:
					continue
				}
				if h.status != http.StatusSeeOther || !strings.HasPrefix(h.location, sloURL+"?") || sspQuery(t, h.location).Get("SAMLResponse") == "" {
					t.Fatalf("SLS %s (%s) answered %d %q\n%s", s.SP.SLSURL, binding, h.status, h.location, h.body)
				}
				got[s.SP.SLSURL] = binding
			}
		}
		for _, s := range sps {
			if got[s.SP.SLSURL] != s.SLSBinding {
				t.Fatalf("SLS %s: LogoutRequest by %q, want %q: %s", s.SP.SLSURL, got[s.SP.SLSURL], s.SLSBinding, sspHops(hops))
			}
		}
		if last := hops[len(hops)-1]; last.location != returnTo {
			t.Fatalf("logout did not finish at ReturnTo: %s\n%s", sspHops(hops), idp.log())
		}
		if errs := idp.logErrors(); errs != "" {
			t.Fatalf("SimpleSAMLphp logged errors during logout:\n%s", errs)
		}
		if res := owner.Get("/organizations/acme/"); res.Status != http.StatusSeeOther {
			t.Fatalf("the owner is still signed in after SLO: %d", res.Status)
		}
		t.Log("single logout across three SPs (Redirect and POST bindings): ok")
	}

	// Link: Carl has a Gatehouse account; his first SSO proves it with its password.
	signUp(t, a, "carl@example.com")
	carl, carlIdP := a.Client(t), idp.browser(t)
	{
		carl.Get("/auth/login/acme/")
		res := carlIdP.signInAt(carl, sp, carl.Post("/auth/login/acme/", nil), "carl", "carlpass")
		if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/link/") {
			idp.fail(t, a, "link", res)
		}
		if res := carl.Post(res.Location, url.Values{"method": {"password"}, "password": {"user password"}}); res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
			t.Fatalf("link by password: %d %s", res.Status, res.Location)
		}
		if n := count(t, a, `SELECT count(*) FROM auth_identities i JOIN users u ON u.id = i.user_id WHERE u.email = 'carl@example.com' AND i.idp_user_id = 'carl'`); n != 1 {
			t.Fatal("carl not linked")
		}
		t.Log("link of an existing account: ok")
	}

	// SP-initiated single logout: Carl signs out of Gatehouse and continues to
	// SimpleSAMLphp with a LogoutRequest naming his SimpleSAMLphp session; its
	// LogoutResponse comes back to our SLS, which verifies it.
	{
		out := carl.Post("/auth/logout/", nil)
		href := out.Doc.Find(`[data-testid="idp-logout"]`).AttrOr("href", "")
		if !strings.HasPrefix(href, sloURL+"?") {
			t.Fatalf("logout page: %d %q", out.Status, href)
		}
		returnTo := a.BaseURL + "/auth/login/"
		hops := carlIdP.follow(href, returnTo)
		last := hops[len(hops)-1]
		if !strings.HasPrefix(last.url, sp.SLSURL+"?") || last.location != returnTo {
			t.Fatalf("SP-initiated logout did not come back verified: %s\n%s", sspHops(hops), idp.log())
		}
		if errs := idp.logErrors(); errs != "" {
			t.Fatalf("SimpleSAMLphp logged errors during SP-initiated logout:\n%s", errs)
		}
		if carl.Get("/organizations/acme/").Status != http.StatusSeeOther {
			t.Fatal("carl still signed in after logging out")
		}
		// SimpleSAMLphp ended its session too: the next sign-in asks for the password.
		carl.Get("/auth/login/acme/")
		if res := carlIdP.signInAt(carl, sp, carl.Post("/auth/login/acme/", nil), "carl", "carlpass"); res.Status != http.StatusSeeOther || !carlIdP.loggedInAgain {
			t.Fatalf("after SP-initiated logout SimpleSAMLphp still had carl's session (%d %s)", res.Status, res.Location)
		}
		t.Log("SP-initiated single logout: ok")
	}
}

const (
	bindingRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	bindingPOST     = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
)

// sspSP is a Gatehouse org as SimpleSAMLphp's saml20-sp-remote entry.
type sspSP struct {
	SP                          samlsp.SP
	SignResponse, SignAssertion bool
	SLSBinding                  string // the binding of the SingleLogoutService it lists
	MetadataURL                 bool   // SimpleSAMLphp loads it from our metadata URL
	// UnsignedLogout: SimpleSAMLphp sends this SP unsigned LogoutRequests (per-SP
	// `sign.logout` => false; the IdP-wide `sign.logout` is then left out, since it
	// would override the per-SP option).
	UnsignedLogout bool
}

// sspSignIn is a row of sso_signins.
type sspSignIn struct{ outcome, reason, hint string }

func sspLastSignIn(t *testing.T, a *testapp.App) sspSignIn {
	t.Helper()
	var s sspSignIn
	if err := a.DB.Bun.NewRaw(`SELECT outcome, reason, hint FROM sso_signins ORDER BY id DESC LIMIT 1`).Scan(context.Background(), &s.outcome, &s.reason, &s.hint); err != nil {
		t.Fatal(err)
	}
	return s
}

// sspPostACS posts an IdP's auto-submitted form to Gatehouse's ACS as c.
func sspPostACS(t *testing.T, c *testapp.Client, acsURL string, values url.Values) *testapp.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, acsURL, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return followHandoff(c, c.CrossSite(req))
}

// sspUser is an exampleauth:UserPass account.
type sspUser struct{ Username, Password, Email, GivenName, Surname string }

// sspRequire finds php and Debian's SimpleSAMLphp web root, or fails.
func sspRequire(t *testing.T) (php, www string) {
	t.Helper()
	const hint = "run .ci/simplesamlphp.sh (or set GATEHOUSE_SKIP_INTEROP=1 to skip)"
	php, err := exec.LookPath("php")
	testapp.RequireTool(t, err == nil, "php", hint)
	www = "/usr/share/simplesamlphp/www"
	_, err = os.Stat(filepath.Join(www, "saml2", "idp", "SSOService.php"))
	testapp.RequireTool(t, err == nil, "SimpleSAMLphp (Debian package simplesamlphp)", hint)
	// SimpleSAMLphp needs PHP's dom/xml (Debian php-xml), mbstring and openssl
	// extensions: a machine with php-cli alone skips here instead of failing later.
	out, err := exec.Command(php, "-r", `foreach (["dom", "mbstring", "openssl"] as $e) { if (!extension_loaded($e)) { echo $e, " "; } }`).CombinedOutput()
	missing := strings.TrimSpace(string(out))
	testapp.RequireTool(t, err == nil && missing == "", "PHP extensions "+missing+"(Debian php-xml, php-mbstring)",
		"apt-get install php-xml php-mbstring, or "+hint)
	return php, www
}

// sspIdP is a running SimpleSAMLphp IdP.
type sspIdP struct {
	idpBase string
	dir     string
	out     *sspOutput
	logSeen int
}

func (s *sspIdP) entityID() string    { return s.idpBase + "/saml2/idp/metadata.php" }
func (s *sspIdP) metadataURL() string { return s.idpBase + "/saml2/idp/metadata.php" }

// log returns SimpleSAMLphp's log and php -S output, for failure messages.
func (s *sspIdP) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "simplesamlphp.log"))
	return "--- SimpleSAMLphp log:\n" + sspTail(string(b), 6000) + "\n--- php -S:\n" + sspTail(s.out.String(), 3000)
}

// logErrors returns the log lines at ERROR or worse written since the last call.
func (s *sspIdP) logErrors() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "simplesamlphp.log"))
	if s.logSeen > len(b) {
		s.logSeen = 0
	}
	fresh := string(b[s.logSeen:])
	s.logSeen = len(b)
	var errs []string
	for _, line := range strings.Split(fresh, "\n") {
		for _, lvl := range []string{"ERROR", "CRITICAL", "ALERT", "EMERGENCY"} {
			if strings.Contains(line, " "+lvl+" ") {
				errs = append(errs, line)
				break
			}
		}
	}
	return strings.Join(errs, "\n")
}

// fail reports a refused or unexpected ACS answer with the sign-in log's reason.
func (s *sspIdP) fail(t *testing.T, a *testapp.App, what string, res *testapp.Response) {
	t.Helper()
	var last sspSignIn
	_ = a.DB.Bun.NewRaw(`SELECT outcome, reason, hint FROM sso_signins ORDER BY id DESC LIMIT 1`).Scan(context.Background(), &last.outcome, &last.reason, &last.hint)
	t.Fatalf("%s: %d %q (last sign-in log entry: %+v)\n%s\n%s", what, res.Status, res.Location, last, sspTail(res.Body, 2000), s.log())
}

// sspStart writes a configuration for an IdP that knows sps and users, and
// serves Debian's SimpleSAMLphp with it on a loopback port until the test ends.
func sspStart(t *testing.T, php, www string, sps []sspSP, users []sspUser) *sspIdP {
	t.Helper()
	return sspStartWith(t, php, www, sps, users, sspOptions{})
}

// sspOptions change the IdP itself.
type sspOptions struct {
	// SLOPostOnly: the IdP's metadata publishes only an HTTP-POST SingleLogoutService.
	SLOPostOnly bool
}

// sspStartWith is sspStart with IdP options.
func sspStartWith(t *testing.T, php, www string, sps []sspSP, users []sspUser, opts sspOptions) *sspIdP {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"metadata", "sessions"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	port := sspFreePort(t)
	idpBase := "http://127.0.0.1:" + port
	keyFile, certFile := filepath.Join(dir, "idp.key"), filepath.Join(dir, "idp.crt")
	sspKeyPair(t, keyFile, certFile, idpBase)
	perSPLogoutSigning := false
	for _, sp := range sps {
		if sp.UnsignedLogout {
			if sp.MetadataURL {
				t.Fatal("an SP loaded from its metadata URL has no per-SP sign.logout")
			}
			perSPLogoutSigning = true
		}
	}
	spURL, err := url.Parse(sps[0].SP.EntityID)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]any{
		"IdPBase": idpBase, "IdPEntityID": idpBase + "/saml2/idp/metadata.php",
		"Dir": dir + "/", "MetadataDir": filepath.Join(dir, "metadata") + "/", "SessionDir": filepath.Join(dir, "sessions"),
		"Salt": sspRandomHex(t, 32), "AdminPassword": sspRandomHex(t, 16),
		"KeyFile": keyFile, "CertFile": certFile, "SPs": sps, "SPHost": spURL.Host, "Users": users,
		"PerSPLogoutSigning": perSPLogoutSigning, "SLOPostOnly": opts.SLOPostOnly,
	}
	for src, dst := range map[string]string{
		"config.php.tmpl":            "config.php",
		"authsources.php.tmpl":       "authsources.php",
		"saml20-idp-hosted.php.tmpl": "metadata/saml20-idp-hosted.php",
		"saml20-sp-remote.php.tmpl":  "metadata/saml20-sp-remote.php",
	} {
		sspRender(t, filepath.Join("testdata", "simplesamlphp", src), filepath.Join(dir, dst), data)
	}
	for _, f := range []string{"config.php", "authsources.php", "metadata/saml20-idp-hosted.php", "metadata/saml20-sp-remote.php"} {
		if out, err := exec.Command(php, "-l", filepath.Join(dir, f)).CombinedOutput(); err != nil {
			t.Fatalf("rendered %s is not valid PHP: %s", f, out)
		}
	}

	s := &sspIdP{idpBase: idpBase, dir: dir, out: &sspOutput{}}
	cmd := exec.Command(php, "-d", "display_errors=stderr", "-d", "log_errors=0", "-S", "127.0.0.1:"+port, "-t", www)
	cmd.Dir = www
	cmd.Env = append(os.Environ(), "SIMPLESAMLPHP_CONFIG_DIR="+dir)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start php -S: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})

	// Ready when the IdP metadata is served.
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(s.metadataURL())
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && bytes.Contains(body, []byte("IDPSSODescriptor")) {
				break
			}
			err = fmt.Errorf("%d %s", res.StatusCode, sspTail(string(body), 1500))
		}
		select {
		case <-done:
			t.Fatalf("php -S exited: %s", s.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("SimpleSAMLphp metadata not served: %v\n%s", err, s.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

func sspRender(t *testing.T, src, dst string, data any) {
	t.Helper()
	tmpl, err := template.New(filepath.Base(src)).Funcs(template.FuncMap{"php": sspPHPString}).ParseFiles(src)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sspPHPString renders s as a PHP single-quoted string literal.
func sspPHPString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// sspKeyPair writes a new RSA-2048 key and a self-signed certificate as PEM.
func sspKeyPair(t *testing.T, keyFile, certFile, cn string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Gatehouse interop test IdP"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func sspFreePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func sspRandomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// sspBrowser is the browser's side with SimpleSAMLphp: its own cookie jar, redirects
// followed one by one. What it posts to Gatehouse's ACS goes through a testapp Client
// so that the Gatehouse session lands in that client.
type sspBrowser struct {
	t    *testing.T
	idp  *sspIdP
	http *http.Client
	// lastResponse is the last form SimpleSAMLphp had the browser post to an ACS.
	lastResponse url.Values
	// loggedInAgain says the last signInFrom had to fill SimpleSAMLphp's login form.
	loggedInAgain bool
}

func (s *sspIdP) browser(t *testing.T) *sspBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &sspBrowser{t: t, idp: s, http: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signInAt continues the SP-initiated SSO that start (Gatehouse's redirect to the
// IdP) began, as c.
func (b *sspBrowser) signInAt(c *testapp.Client, sp samlsp.SP, start *testapp.Response, username, password string) *testapp.Response {
	b.t.Helper()
	if start.Status != http.StatusSeeOther || !strings.HasPrefix(start.Location, b.idp.idpBase+"/") {
		b.t.Fatalf("expected a redirect to SimpleSAMLphp, got %d %q\n%s", start.Status, start.Location, sspTail(start.Body, 1000))
	}
	return b.signInFrom(c, sp, start.Location, username, password)
}

// signInFrom opens startURL at SimpleSAMLphp, logs in when asked and posts the
// SAMLResponse form it ends with to sp's ACS as c.
func (b *sspBrowser) signInFrom(c *testapp.Client, sp samlsp.SP, startURL, username, password string) *testapp.Response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, startURL, nil)
	loggedIn := false
	b.loggedInAgain = false
	for step := 0; step < 12; step++ {
		res, body := b.do(req)
		cur := res.Request.URL
		if loc := res.Header.Get("Location"); res.StatusCode >= 300 && res.StatusCode < 400 && loc != "" {
			next, err := cur.Parse(loc)
			if err != nil || !strings.HasPrefix(next.String(), b.idp.idpBase+"/") {
				b.t.Fatalf("SimpleSAMLphp redirected off the IdP to %q\n%s", loc, b.idp.log())
			}
			req, _ = http.NewRequest(http.MethodGet, next.String(), nil)
			continue
		}
		if res.StatusCode != http.StatusOK {
			b.t.Fatalf("SimpleSAMLphp %s: %d\n%s\n%s", cur, res.StatusCode, sspTail(body, 2000), b.idp.log())
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		if err != nil {
			b.t.Fatal(err)
		}
		if form := doc.Find(`form:has(input[name="SAMLResponse"])`).First(); form.Length() == 1 {
			action, values := sspFormValues(b.t, cur, form)
			if action != sp.ACSURL {
				b.t.Fatalf("SimpleSAMLphp posts the response to %q, not our ACS %q", action, sp.ACSURL)
			}
			b.lastResponse = values
			return sspPostACS(b.t, c, action, values)
		}
		form := doc.Find(`form:has(input[name="password"])`).First()
		if form.Length() != 1 || loggedIn {
			b.t.Fatalf("unexpected SimpleSAMLphp page at %s:\n%s\n%s", cur, sspTail(body, 2000), b.idp.log())
		}
		action, values := sspFormValues(b.t, cur, form)
		b.loggedInAgain = true
		values.Set("username", username)
		values.Set("password", password)
		req, _ = http.NewRequest(http.MethodPost, action, strings.NewReader(values.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		loggedIn = true
	}
	b.t.Fatalf("too many steps at SimpleSAMLphp\n%s", b.idp.log())
	return nil
}

// sspHop is one request of a logout chain.
type sspHop struct {
	method, url, location, body string
	form                        url.Values // what a POST sent
	status                      int
}

func sspHops(hops []sspHop) string {
	var b strings.Builder
	for _, h := range hops {
		fmt.Fprintf(&b, "\n  %s %s -> %d %s", h.method, h.url, h.status, h.location)
	}
	return b.String()
}

// follow GETs startURL, then follows redirects and auto-submitted SAML forms (the
// HTTP-POST binding) on any host, SimpleSAMLphp's or Gatehouse's real listener, until a
// redirect points at stop.
func (b *sspBrowser) follow(startURL, stop string) []sspHop {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, startURL, nil)
	return b.followRequest(req, nil, stop)
}

// followRequest is follow from req (which sends the form sent, if any).
func (b *sspBrowser) followRequest(req *http.Request, sent url.Values, stop string) []sspHop {
	b.t.Helper()
	var hops []sspHop
	for step := 0; step < 20; step++ {
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
		if h.location == stop {
			return hops
		}
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
		req, _ = http.NewRequest(http.MethodPost, action, strings.NewReader(values.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		sent = values
	}
	b.t.Fatalf("redirect loop: %s", sspHops(hops))
	return nil
}

func (b *sspBrowser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	res, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v\n%s", req.Method, req.URL, err, b.idp.log())
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// sspFormValues returns a form's absolute action and the values a browser would submit
// (without clicking a button).
func sspFormValues(t *testing.T, page *url.URL, form *goquery.Selection) (string, url.Values) {
	t.Helper()
	action, err := page.Parse(form.AttrOr("action", ""))
	if err != nil {
		t.Fatal(err)
	}
	values := url.Values{}
	form.Find("input[name]").Each(func(_ int, in *goquery.Selection) {
		if _, disabled := in.Attr("disabled"); disabled {
			return
		}
		switch strings.ToLower(in.AttrOr("type", "text")) {
		case "submit", "button", "image", "reset", "file":
			return
		case "checkbox", "radio":
			if _, checked := in.Attr("checked"); !checked {
				return
			}
		}
		values.Add(in.AttrOr("name", ""), in.AttrOr("value", ""))
	})
	return action.String(), values
}

func sspQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// sspInflate decodes a Redirect-binding message.
func sspInflate(t *testing.T, b64 string) []byte {
	t.Helper()
	compressed, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(compressed)))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func sspTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// sspOutput collects php -S output from its goroutines.
type sspOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *sspOutput) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *sspOutput) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
