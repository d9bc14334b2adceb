package handlers_test

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// ssoEnv is an org "acme" whose owner registered an in-process IdP by metadata URL.
type ssoEnv struct {
	t     *testing.T
	a     *testapp.App
	owner *testapp.Client
	idp   *samltest.IdP
	sp    samlsp.SP
}

func newSSOEnv(t *testing.T, activate bool) *ssoEnv {
	t.Helper()
	return newSSOEnvWith(t, testapp.Options{}, activate)
}

func newSSOEnvWith(t *testing.T, opts testapp.Options, activate bool) *ssoEnv {
	t.Helper()
	a := testapp.New(t, opts)
	owner := setUp(t, a)
	idp := samltest.New(t, "https://idp.example")
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(idp.Metadata())
	}))
	t.Cleanup(meta.Close)
	e := &ssoEnv{t: t, a: a, owner: owner, idp: idp, sp: samlsp.NewSP(a.BaseURL, "acme")}
	res := owner.Post("/settings/acme/auth/configure/okta/", url.Values{"method": {"url"}, "metadata_url": {meta.URL + "/metadata"},
		"map_identifier": {"NameID"}, "map_email": {"email"}, "map_first_name": {"firstName"}, "map_last_name": {"lastName"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("configure: %d\n%s", res.Status, res.Body)
	}
	if activate {
		loc := owner.Post("/settings/acme/auth/activate/", nil)
		res := e.answer(owner, loc, user("owner-1", "owner@example.com"))
		if res.Status != http.StatusSeeOther || res.Location != "/settings/acme/auth/" {
			t.Fatalf("activation: %d %s\n%s", res.Status, res.Location, res.Body)
		}
	}
	return e
}

func user(nameID, email string) samltest.User {
	return samltest.User{NameID: nameID, Attributes: map[string][]string{"email": {email}, "firstName": {"First"}, "lastName": {"Last " + nameID}}}
}

// authnRequest reads the RelayState and AuthnRequest ID out of an IdP redirect.
func authnRequest(t *testing.T, res *testapp.Response) (relay, id string) {
	t.Helper()
	if res.Status != http.StatusSeeOther || !strings.Contains(res.Location, "/sso?") || !strings.Contains(res.Location, "SAMLRequest=") {
		t.Fatalf("expected a redirect to the IdP, got %d %q\n%s", res.Status, res.Location, res.Body)
	}
	u, _ := url.Parse(res.Location)
	compressed, err := base64.StdEncoding.DecodeString(u.Query().Get("SAMLRequest"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(compressed)))
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		ID string `xml:"ID,attr"`
	}
	if err := xml.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("RelayState"), req.ID
}

// answer lets the IdP answer the AuthnRequest in res and posts it to the ACS.
func (e *ssoEnv) answer(c *testapp.Client, res *testapp.Response, u samltest.User) *testapp.Response {
	e.t.Helper()
	relay, id := authnRequest(e.t, res)
	return e.post(c, e.idp.Response(e.t, e.sp, u, samltest.Options{InResponseTo: id}), relay)
}

// post sends a SAMLResponse to the ACS like the IdP's auto-submitting form (a
// cross-site POST: the browser's cookies are not sent).
func (e *ssoEnv) post(c *testapp.Client, raw []byte, relay string) *testapp.Response {
	e.t.Helper()
	return postToACS(c, "acme", raw, relay)
}

func postToACS(c *testapp.Client, slug string, raw []byte, relay string) *testapp.Response {
	v := url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(raw)}}
	if relay != "" {
		v.Set("RelayState", relay)
	}
	req := httptest.NewRequest(http.MethodPost, "/saml/acs/"+slug+"/", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return followHandoff(c, c.CrossSite(req))
}

// followHandoff follows the ACS's redirect to the same-site GET that completes the
// sign-in, as the browser does (with its cookies).
func followHandoff(c *testapp.Client, res *testapp.Response) *testapp.Response {
	if res.Status == http.StatusSeeOther && strings.HasPrefix(res.Location, "/auth/sso/complete/") {
		res = c.Get(res.Location)
	}
	// An owner's round trip (Test Configuration, a failed activation) ends on its
	// result page inside Settings › Auth.
	if res.Status == http.StatusSeeOther && resultPath.MatchString(res.Location) {
		return c.Get(res.Location)
	}
	return res
}

func (e *ssoEnv) count(q string, args ...any) int {
	e.t.Helper()
	return count(e.t, e.a, q, args...)
}

func TestSAMLSetupActivatesAndLinksOwner(t *testing.T) {
	e := newSSOEnv(t, false)
	page := e.owner.Get("/settings/acme/auth/")
	if page.Text(`[data-testid="provider-state"]`) != "pending setup" || !page.Has(`[data-testid="activate"]`) {
		t.Fatalf("pending page: %s", page.Text(`[data-testid="provider-status"]`))
	}
	if got := page.Doc.Find(`[data-testid="sp-entity-id"]`).AttrOr("value", ""); got != "http://gatehouse.test/saml/metadata/acme/" {
		t.Fatalf("entity id shown: %q", got)
	}
	// A member cannot sign in before activation.
	anon := e.a.Client(t)
	if res := anon.Get("/auth/login/acme/"); !res.Has(`[data-testid="sso-unavailable"]`) {
		t.Fatal("pending provider offered on the login page")
	}
	res := e.answer(e.owner, e.owner.Post("/settings/acme/auth/activate/", nil), user("owner-1", "owner@example.com"))
	if res.Status != http.StatusSeeOther || res.Location != "/settings/acme/auth/" {
		t.Fatalf("activation: %d %s", res.Status, res.Location)
	}
	page = e.owner.Get("/settings/acme/auth/")
	if page.Text(`[data-testid="provider-state"]`) != "active" {
		t.Fatal("not active")
	}
	if n := e.count(`SELECT count(*) FROM auth_identities i JOIN users u ON u.id = i.user_id WHERE u.email = 'owner@example.com' AND i.idp_user_id = 'owner-1'`); n != 1 {
		t.Fatal("owner not linked")
	}
	if n := e.count(`SELECT count(*) FROM members WHERE sso_linked AND role = 'owner'`); n != 1 {
		t.Fatal("owner membership not marked linked")
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE event = 'sso.enabled'`); n != 1 {
		t.Fatal("no sso.enabled audit")
	}
	// SP metadata at the entity ID.
	md := anon.Get("/saml/metadata/acme/")
	if md.Status != 200 || !strings.Contains(md.Body, `entityID="http://gatehouse.test/saml/metadata/acme/"`) {
		t.Fatalf("metadata: %d", md.Status)
	}
}

func TestSAMLJustInTimeAndIdPInitiated(t *testing.T) {
	e := newSSOEnv(t, true)
	bob := e.a.Client(t)
	login := bob.Get("/auth/login/acme/?next=/settings/acme/members/")
	if !login.Has(`[data-testid="sso-start"]`) {
		t.Fatal("no SSO button")
	}
	res := e.answer(bob, bob.Post("/auth/login/acme/", url.Values{"next": {"/settings/acme/members/"}}), user("bob-1", "bob@example.com"))
	if res.Status != http.StatusSeeOther || res.Location != "/settings/acme/members/" {
		t.Fatalf("JIT sign-in: %d %s\n%s", res.Status, res.Location, res.Body)
	}
	page := bob.Get("/settings/acme/members/")
	row := page.Doc.Find(`[data-testid="member-row"][data-email="bob@example.com"]`)
	if row.Length() != 1 || !strings.Contains(row.Text(), "SSO just-in-time") || !strings.Contains(row.Text(), "linked") {
		t.Fatalf("bob's row: %q", row.Text())
	}
	if n := e.count(`SELECT count(*) FROM members m JOIN users u ON u.id = m.user_id WHERE u.email = 'bob@example.com' AND m.role = 'member' AND m.joined_via = 'sso'`); n != 1 {
		t.Fatal("JIT membership wrong")
	}
	// IdP-initiated (dashboard tile): no InResponseTo, RelayState is the default path.
	carl := e.a.Client(t)
	raw := e.idp.Response(t, e.sp, user("carl-1", "carl@example.com"), samltest.Options{})
	res = e.post(carl, raw, "/organizations/acme/")
	if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("IdP-initiated: %d %s", res.Status, res.Location)
	}
	if carl.Get("/organizations/acme/").Status != 200 {
		t.Fatal("carl not signed in")
	}
	// The same assertion again is refused: no session, logged as a replay.
	replayer := e.a.Client(t)
	res = e.post(replayer, raw, "")
	if res.Status != http.StatusForbidden || !res.Has(`[data-testid="sso-failed"]`) || len(res.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("replay: %d cookies=%v", res.Status, res.Header.Values("Set-Cookie"))
	}
	if n := e.count(`SELECT count(*) FROM sso_signins WHERE outcome = 'failure' AND reason = 'replay'`); n != 1 {
		t.Fatal("replay not logged")
	}
	// An off-site RelayState is not followed.
	res = e.post(e.a.Client(t), e.idp.Response(t, e.sp, user("carl-1", "carl@example.com"), samltest.Options{}), "https://evil.example/")
	if res.Location != "/organizations/acme/" {
		t.Fatalf("open redirect: %s", res.Location)
	}
	// The Auth page lists the attempts.
	if n := e.owner.Get("/settings/acme/auth/").Doc.Find(`[data-testid="sso-attempt"]`).Length(); n < 4 {
		t.Fatalf("attempts listed: %d", n)
	}
}

func TestSAMLInvitationAcceptedBySSO(t *testing.T) {
	e := newSSOEnv(t, true)
	if res := e.owner.Post("/settings/acme/members/invite/", url.Values{"email": {"Dana@example.com"}, "role": {"admin"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("invite: %d", res.Status)
	}
	dana := e.a.Client(t)
	res := e.answer(dana, dana.Post("/auth/login/acme/", nil), user("dana-1", "dana@example.com"))
	if res.Status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", res.Status, res.Body)
	}
	if n := e.count(`SELECT count(*) FROM members m JOIN users u ON u.id = m.user_id WHERE u.email = 'dana@example.com' AND m.role = 'admin' AND m.sso_linked`); n != 1 {
		t.Fatal("invitation not accepted with its role")
	}
	if n := e.count(`SELECT count(*) FROM members WHERE invite_email IS NOT NULL`); n != 0 {
		t.Fatal("invitation still pending")
	}
}

func TestSAMLLinkExistingAccount(t *testing.T) {
	e := newSSOEnv(t, true)
	signUp(t, e.a, "erin@example.com")
	signUp(t, e.a, "fay@example.com")

	// Erin proves her account with its password.
	erin := e.a.Client(t)
	res := e.answer(erin, erin.Post("/auth/login/acme/", nil), user("erin-1", "ERIN@example.com"))
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/link/") {
		t.Fatalf("expected the link page: %d %s", res.Status, res.Location)
	}
	if n := e.count(`SELECT count(*) FROM auth_identities WHERE idp_user_id = 'erin-1'`); n != 0 {
		t.Fatal("linked on the email alone")
	}
	linkPath := res.Location
	// Another browser cannot use the link.
	if res := e.a.Client(t).Get(linkPath); res.Status != 404 {
		t.Fatalf("link in another browser: %d", res.Status)
	}
	page := erin.Get(linkPath)
	if !page.Has(`[data-testid="link-password"]`) {
		t.Fatal("no password option")
	}
	if res := erin.Post(linkPath, url.Values{"method": {"password"}, "password": {"wrong one"}}); res.Status != 422 || !res.Has(`[data-testid="error-password"]`) {
		t.Fatalf("wrong password: %d", res.Status)
	}
	res = erin.Post(linkPath, url.Values{"method": {"password"}, "password": {"user password"}})
	if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("link by password: %d %s", res.Status, res.Location)
	}
	if n := e.count(`SELECT count(*) FROM auth_identities i JOIN users u ON u.id = i.user_id WHERE u.email = 'erin@example.com' AND i.idp_user_id = 'erin-1'`); n != 1 {
		t.Fatal("erin not linked")
	}
	// Next time Erin signs in directly.
	again := e.a.Client(t)
	if res := e.answer(again, again.Post("/auth/login/acme/", nil), user("erin-1", "erin@example.com")); res.Location != "/organizations/acme/" {
		t.Fatalf("second sign-in: %s", res.Location)
	}

	// Fay proves hers with the emailed one-time link.
	fay := e.a.Client(t)
	res = e.answer(fay, fay.Post("/auth/login/acme/", nil), user("fay-1", "fay@example.com"))
	linkPath = res.Location
	if res := fay.Post(linkPath+"email/", nil); res.Status != 200 || !res.Has(`[data-testid="link-email-sent"]`) {
		t.Fatalf("email link: %d", res.Status)
	}
	var token string
	if err := e.a.DB.Bun.NewRaw(`SELECT args->'data'->>'token' FROM river_job WHERE args->>'template' = 'link_confirm' AND args->>'to' = 'fay@example.com'`).Scan(context.Background(), &token); err != nil {
		t.Fatal(err)
	}
	if res := e.a.Client(t).Get("/auth/link/confirm/" + token + "/"); res.Status != 404 {
		t.Fatalf("emailed link in another browser: %d", res.Status)
	}
	res = fay.Get("/auth/link/confirm/" + token + "/")
	if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("emailed link: %d %s", res.Status, res.Location)
	}
	if res := fay.Get("/auth/link/confirm/" + token + "/"); res.Status != 404 {
		t.Fatalf("emailed link reused: %d", res.Status)
	}
	if n := e.count(`SELECT count(*) FROM auth_identities WHERE idp_user_id = 'fay-1'`); n != 1 {
		t.Fatal("fay not linked")
	}
	// Recent sign-ins tell the story: waiting for proof, then linked.
	if n := e.count(`SELECT count(*) FROM sso_signins WHERE outcome = 'success' AND reason = 'linked'`); n != 2 {
		t.Fatalf("linked sign-ins logged: %d", n)
	}
}

func TestSAMLMappingErrorsShowSentryMessages(t *testing.T) {
	e := newSSOEnv(t, true)
	c := e.a.Client(t)
	res := e.answer(c, c.Post("/auth/login/acme/", nil), samltest.User{NameID: "x-1", Attributes: map[string][]string{"mail": {"x@example.com"}, "uid": {"x"}}})
	want := "Authentication error: Failed to map SAML attributes. Assertion returned the following attribute keys: 'mail', 'uid'. The IdP did not send 'email': set User Email to 'mail'"
	if res.Status != http.StatusBadRequest || res.Text(`[data-testid="sso-error"]`) != want {
		t.Fatalf("%d %q", res.Status, res.Text(`[data-testid="sso-error"]`))
	}
	if n := e.count(`SELECT count(*) FROM users WHERE email = 'x@example.com'`); n != 0 {
		t.Fatal("user created despite the error")
	}
	if res := e.a.Client(t).Get("/auth/login/nope/"); res.Status != 404 || !strings.Contains(res.Body, samlsp.MsgNoSSO) {
		t.Fatalf("unknown org: %d", res.Status)
	}
}

func TestSAMLSingleLogout(t *testing.T) {
	e := newSSOEnv(t, true)
	bob := e.a.Client(t)
	e.answer(bob, bob.Post("/auth/login/acme/", nil), user("bob-1", "bob@example.com"))
	if bob.Get("/organizations/acme/").Status != 200 {
		t.Fatal("bob not signed in")
	}
	q := e.idp.LogoutRedirectQuery(samltest.LogoutRequest{NameID: "bob-1", Destination: e.sp.SLSURL}, "rs", true)
	res := e.a.Client(t).Get("/saml/sls/acme/?" + q)
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "https://idp.example/slo?") {
		t.Fatalf("SLO: %d %s %s", res.Status, res.Location, res.Body)
	}
	if res := bob.Get("/organizations/acme/"); res.Status != http.StatusSeeOther {
		t.Fatalf("bob still signed in after SLO: %d", res.Status)
	}
	// Unsigned and forged requests are refused and end nothing.
	bob.Get("/auth/login/acme/") // a new anonymous session (and CSRF token)
	e.answer(bob, bob.Post("/auth/login/acme/", nil), user("bob-1", "bob@example.com"))
	unsigned := e.idp.LogoutRedirectQuery(samltest.LogoutRequest{NameID: "bob-1"}, "", false)
	if res := e.a.Client(t).Get("/saml/sls/acme/?" + unsigned); res.Status != 400 {
		t.Fatalf("unsigned SLO: %d", res.Status)
	}
	forged := samltest.New(t, "https://idp.example").LogoutPostForm(t, samltest.LogoutRequest{NameID: "bob-1"}, true)
	if res := e.a.Client(t).Post("/saml/sls/acme/", url.Values{"SAMLRequest": {forged}, "_csrf": {"x"}}); res.Status != 400 {
		t.Fatalf("forged SLO: %d", res.Status)
	}
	if res := bob.Get("/organizations/acme/"); res.Status != 200 {
		t.Fatalf("bob signed out by a refused request: %d", res.Status)
	}
	// POST binding, signed.
	signed := e.idp.LogoutPostForm(t, samltest.LogoutRequest{NameID: "bob-1"}, true)
	if res := e.a.Client(t).Post("/saml/sls/acme/", url.Values{"SAMLRequest": {signed}, "_csrf": {"x"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("POST SLO: %d %s", res.Status, res.Body)
	}
	if res := bob.Get("/organizations/acme/"); res.Status != http.StatusSeeOther {
		t.Fatal("bob still signed in after POST SLO")
	}
}

func TestSAMLConfigureBadInput(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	owner := setUp(t, a)
	cases := []struct {
		name   string
		values url.Values
		field  string
		msg    string
	}{
		{"no metadata URL", url.Values{"method": {"url"}, "map_identifier": {"NameID"}, "map_email": {"email"}}, "metadata_url", "Enter the metadata URL"},
		{"URL answers 404", url.Values{"method": {"url"}, "metadata_url": {"__404__"}, "map_identifier": {"NameID"}, "map_email": {"email"}}, "metadata_url", "answered 404"},
		{"garbage XML", url.Values{"method": {"xml"}, "metadata_xml": {"<nope"}, "map_identifier": {"NameID"}, "map_email": {"email"}}, "metadata_xml", "not valid XML"},
		{"bad certificate", url.Values{"method": {"fields"}, "entity_id": {"x"}, "sso_url": {"https://idp/sso"}, "certificate": {"not a cert"}, "map_identifier": {"NameID"}, "map_email": {"email"}}, "certificate", "cannot be read"},
		{"no mapping", url.Values{"method": {"xml"}, "metadata_xml": {"<nope"}}, "map_email", "Enter the attribute"},
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.values.Get("metadata_url") == "__404__" {
				tc.values.Set("metadata_url", srv.URL+"/metadata")
			}
			res := owner.Post("/settings/acme/auth/configure/saml2/", tc.values)
			if res.Status != 422 || !strings.Contains(res.Text(`[data-testid="error-`+tc.field+`"]`), tc.msg) {
				t.Fatalf("%d %q", res.Status, res.Text(`[data-testid="error-`+tc.field+`"]`))
			}
		})
	}
	if n := count(t, a, "SELECT count(*) FROM auth_providers"); n != 0 {
		t.Fatal("a provider was saved")
	}
	// Members other than owners and managers cannot configure.
	member := signUp(t, a, "m@example.com")
	if res := member.Get("/settings/acme/auth/"); res.Status != 404 {
		t.Fatalf("non-member: %d", res.Status)
	}
}

func TestSAMLSignedOutVisitorsAndSPInitiatedLogout(t *testing.T) {
	e := newSSOEnv(t, true)
	anon := e.a.Client(t)
	if res := anon.Get("/settings/acme/members/"); res.Location != "/auth/login/acme/?next=%2Fsettings%2Facme%2Fmembers%2F" {
		t.Fatalf("signed-out org page went to %q", res.Location)
	}
	bob := e.a.Client(t)
	e.answer(bob, bob.Post("/auth/login/acme/", nil), user("bob-1", "bob@example.com"))
	// Signing out continues at the IdP with a LogoutRequest (HTMX: HX-Redirect).
	req := httptest.NewRequest(http.MethodPost, "/auth/logout/", strings.NewReader(url.Values{"_csrf": {bob.CSRF()}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	res := bob.Do(req)
	to := res.Header.Get("HX-Redirect")
	if !strings.HasPrefix(to, "https://idp.example/slo?") || !strings.Contains(to, "SAMLRequest=") {
		t.Fatalf("logout: %d %q", res.Status, to)
	}
	// It names the IdP session as the IdP named it at sign-in: the NameID with its
	// Format and qualifiers as sent, and the SessionIndex.
	toURL, _ := url.Parse(to)
	compressed, _ := base64.StdEncoding.DecodeString(toURL.Query().Get("SAMLRequest"))
	rawLR, err := io.ReadAll(flate.NewReader(bytes.NewReader(compressed)))
	if err != nil {
		t.Fatal(err)
	}
	var slo struct {
		NameID struct {
			Value  string `xml:",chardata"`
			Format string `xml:"Format,attr"`
			NQ     string `xml:"NameQualifier,attr"`
			SPNQ   string `xml:"SPNameQualifier,attr"`
		} `xml:"NameID"`
		SessionIndex string `xml:"SessionIndex"`
	}
	if err := xml.Unmarshal(rawLR, &slo); err != nil {
		t.Fatal(err)
	}
	if slo.NameID.Value != "bob-1" || slo.NameID.Format != "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" ||
		slo.NameID.NQ != e.idp.EntityID || slo.NameID.SPNQ != e.sp.EntityID || slo.SessionIndex != "idx-bob-1" {
		t.Fatalf("LogoutRequest names %+v", slo)
	}
	if bob.Get("/organizations/acme/").Status == 200 {
		t.Fatal("still signed in after logout")
	}
	// Without JavaScript: a page links to the IdP.
	carl := e.a.Client(t)
	e.answer(carl, carl.Post("/auth/login/acme/", nil), user("carl-1", "carl@example.com"))
	res = carl.Post("/auth/logout/", nil)
	if href := res.Doc.Find(`[data-testid="idp-logout"]`).AttrOr("href", ""); !strings.HasPrefix(href, "https://idp.example/slo?") {
		t.Fatalf("no-JS logout: %d %q", res.Status, href)
	}
	// The IdP's LogoutResponse comes back to the SLS, is verified and lands on the
	// login page; garbage is refused.
	if res := anon.Get("/saml/sls/acme/?SAMLResponse=abc"); res.Status != http.StatusBadRequest {
		t.Fatalf("garbage logout response: %d %s", res.Status, res.Location)
	}
	resp := `<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="id-r" Version="2.0" InResponseTo="id-x" Destination="` +
		e.sp.SLSURL + `"><saml:Issuer>` + e.idp.EntityID + `</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>`
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	_, _ = fw.Write([]byte(resp))
	_ = fw.Close()
	if res := anon.Get("/saml/sls/acme/?SAMLResponse=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))); res.Status != http.StatusSeeOther || res.Location != "/auth/login/" {
		t.Fatalf("logout response: %d %s", res.Status, res.Location)
	}
}

func TestSAMLPresetDefaultsAndForms(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	owner := setUp(t, a)
	cases := []struct{ kind, id, email, first, last string }{
		{"okta", "identifier", "email", "firstName", "lastName"},
		{"entra", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
			"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"},
		{"onelogin", "PersonImmutableID", "User.email", "User.FirstName", "User.LastName"},
		{"auth0", "user_id", "email", "name", ""},
		{"jumpcloud", "", "", "", ""},
		{"saml2", "", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			page := owner.Get("/settings/acme/auth/configure/" + tc.kind + "/")
			got := []string{
				page.Doc.Find(`#f-map_identifier`).AttrOr("value", ""), page.Doc.Find(`#f-map_email`).AttrOr("value", ""),
				page.Doc.Find(`#f-map_first_name`).AttrOr("value", ""), page.Doc.Find(`#f-map_last_name`).AttrOr("value", ""),
			}
			want := []string{tc.id, tc.email, tc.first, tc.last}
			if page.Status != 200 || strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("%d %v, want %v", page.Status, got, want)
			}
			if v := page.Doc.Find(`[data-testid="sp-acs-url"]`).AttrOr("value", ""); v != "http://gatehouse.test/saml/acs/acme/" {
				t.Fatalf("ACS shown %q", v)
			}
		})
	}
	if owner.Get("/settings/acme/auth/configure/nope/").Status != 404 {
		t.Fatal("unknown provider kind")
	}
	// The Auth forms need the CSRF token like every other form.
	if res := owner.Post("/settings/acme/auth/settings/", url.Values{"_csrf": {"forged"}, "default_role": {"member"}, "sso_session_hours": {"1"}}); res.Status != http.StatusForbidden {
		t.Fatalf("CSRF-less settings: %d", res.Status)
	}
	if res := owner.Post("/settings/acme/auth/configure/okta/", url.Values{"_csrf": {""}, "method": {"xml"}}); res.Status != http.StatusForbidden {
		t.Fatalf("CSRF-less configure: %d", res.Status)
	}
}

// TestSAMLSingleLogoutPostOnlyIdP: an IdP whose metadata publishes only an HTTP-POST
// SingleLogoutService gets our LogoutResponse by HTTP-POST: an auto-submitting form
// (app.js, no inline script; the button works without JavaScript) to its SLO URL, the
// form-action CSP allowing that host, and the org's SP key signing inside the message.
func TestSAMLSingleLogoutPostOnlyIdP(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	owner := setUp(t, a)
	idp := samltest.New(t, "https://idp.example")
	// crewjam's IdP publishes one (HTTP-Redirect) SingleLogoutService: make it HTTP-POST.
	md := regexp.MustCompile(`<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2\.0:bindings:HTTP-Redirect"`).
		ReplaceAllString(string(idp.Metadata()), `<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"`)
	if !strings.Contains(md, `SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"`) || strings.Contains(md, `SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"`) {
		t.Fatalf("the test IdP publishes no POST SingleLogoutService:\n%s", md)
	}
	if res := owner.Post("/settings/acme/auth/configure/saml2/", url.Values{"method": {"xml"}, "metadata_xml": {md},
		"map_identifier": {"NameID"}, "map_email": {"email"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("configure: %d %s", res.Status, res.Text(`[data-testid^="error-"]`))
	}
	e := &ssoEnv{t: t, a: a, owner: owner, idp: idp, sp: samlsp.NewSP(a.BaseURL, "acme")}
	if res := e.answer(owner, owner.Post("/settings/acme/auth/activate/", nil), user("owner-1", "owner@example.com")); res.Status != http.StatusSeeOther {
		t.Fatalf("activation: %d %s", res.Status, res.Location)
	}
	if res := owner.Post("/settings/acme/auth/sp-keys/", url.Values{"sign_requests": {"1"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("SP keys: %d", res.Status)
	}
	p, err := models.ProviderOf(t.Context(), a.DB.Bun, 1)
	if err != nil || p.Config.SLOBinding != samlsp.BindingPOST {
		t.Fatalf("SLO binding registered %q (%v)", p.Config.SLOBinding, err)
	}
	spCert, err := x509.ParseCertificate(p.SPCert)
	if err != nil {
		t.Fatal(err)
	}

	for _, binding := range []string{"Redirect", "POST"} {
		bob := a.Client(t)
		e.answer(bob, bob.Post("/auth/login/acme/", nil), user("bob-1", "bob@example.com"))
		if bob.Get("/organizations/acme/").Status != http.StatusOK {
			t.Fatal("bob not signed in")
		}
		lr := samltest.LogoutRequest{ID: "id-lr-" + binding, NameID: "bob-1", Destination: e.sp.SLSURL}
		var res *testapp.Response
		if binding == "Redirect" {
			res = a.Client(t).Get("/saml/sls/acme/?" + idp.LogoutRedirectQuery(lr, "rs-"+binding, true))
		} else {
			res = a.Client(t).Post("/saml/sls/acme/", url.Values{"SAMLRequest": {idp.LogoutPostForm(t, lr, true)}, "RelayState": {"rs-" + binding}, "_csrf": {"x"}})
		}
		if bob.Get("/organizations/acme/").Status != http.StatusSeeOther {
			t.Fatalf("%s LogoutRequest: bob still signed in", binding)
		}
		// Whatever binding the request came by, the response goes by the IdP's: POST.
		form := res.Doc.Find(`form[data-testid="slo-post-form"]`)
		if res.Status != http.StatusOK || form.AttrOr("action", "") != idp.SLOURL || form.AttrOr("method", "") != "post" {
			t.Fatalf("%s LogoutRequest answered %d %q, want a POST form to %s\n%s", binding, res.Status, res.Location, idp.SLOURL, sspTail(res.Body, 800))
		}
		if _, ok := form.Attr("data-autopost"); !ok || form.Find(`button[type="submit"]`).Length() != 1 {
			t.Fatalf("%s: the form does not submit itself or has no button", binding)
		}
		if res.Doc.Find(`script:not([src])`).Length() != 0 {
			t.Fatalf("%s: inline script on the LogoutResponse page", binding)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action") || !strings.Contains(csp, "https://idp.example") || strings.Contains(csp, "unsafe-inline") {
			t.Fatalf("%s: CSP %q", binding, csp)
		}
		if form.Find(`input[name="RelayState"]`).AttrOr("value", "") != "rs-"+binding {
			t.Fatalf("%s: RelayState not echoed", binding)
		}
		raw, err := base64.StdEncoding.DecodeString(form.Find(`input[name="SAMLResponse"]`).AttrOr("value", ""))
		if err != nil {
			t.Fatal(err)
		}
		var lresp struct {
			XMLName      xml.Name
			InResponseTo string `xml:"InResponseTo,attr"`
			Destination  string `xml:"Destination,attr"`
			Status       struct {
				Code struct {
					Value string `xml:"Value,attr"`
				} `xml:"StatusCode"`
			} `xml:"Status"`
		}
		if err := xml.Unmarshal(raw, &lresp); err != nil || lresp.XMLName.Local != "LogoutResponse" || lresp.InResponseTo != lr.ID ||
			lresp.Destination != idp.SLOURL || lresp.Status.Code.Value != "urn:oasis:names:tc:SAML:2.0:status:Success" {
			t.Fatalf("%s: LogoutResponse %+v %v\n%s", binding, lresp, err, raw)
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(raw); err != nil {
			t.Fatal(err)
		}
		ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{spCert}})
		if _, err := ctx.Validate(doc.Root()); err != nil {
			t.Fatalf("%s: the LogoutResponse's embedded signature: %v", binding, err)
		}
	}
}

// TestSAMLLinkedSignInLogsOutWithSessionIndex: a sign-in that went through the link
// page (password or emailed link) keeps how the IdP named the session, like a direct
// sign-in: the SP-initiated LogoutRequest carries the NameID with its Format and
// qualifiers as sent, and the SessionIndex (saml-idp, ADFS, Shibboleth and Okta need it).
func TestSAMLLinkedSignInLogsOutWithSessionIndex(t *testing.T) {
	e := newSSOEnv(t, true)
	for _, proof := range []string{"password", "emailed link"} {
		nameID := map[string]string{"password": "erin-1", "emailed link": "fay-1"}[proof]
		email := map[string]string{"password": "erin@example.com", "emailed link": "fay@example.com"}[proof]
		signUp(t, e.a, email)
		c := e.a.Client(t)
		res := e.answer(c, c.Post("/auth/login/acme/", nil), user(nameID, email))
		if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/link/") {
			t.Fatalf("%s: expected the link page: %d %s", proof, res.Status, res.Location)
		}
		if proof == "password" {
			res = c.Post(res.Location, url.Values{"method": {"password"}, "password": {"user password"}})
		} else {
			if r := c.Post(res.Location+"email/", nil); r.Status != http.StatusOK {
				t.Fatalf("email link: %d", r.Status)
			}
			var token string
			if err := e.a.DB.Bun.NewRaw(`SELECT args->'data'->>'token' FROM river_job WHERE args->>'template' = 'link_confirm' AND args->>'to' = ?`, email).Scan(context.Background(), &token); err != nil {
				t.Fatal(err)
			}
			res = c.Get("/auth/link/confirm/" + token + "/")
		}
		if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
			t.Fatalf("%s: link: %d %s", proof, res.Status, res.Location)
		}
		out := c.Post("/auth/logout/", nil)
		href := out.Doc.Find(`[data-testid="idp-logout"]`).AttrOr("href", "")
		if !strings.HasPrefix(href, "https://idp.example/slo?") {
			t.Fatalf("%s: logout page: %d %q", proof, out.Status, href)
		}
		u, _ := url.Parse(href)
		compressed, _ := base64.StdEncoding.DecodeString(u.Query().Get("SAMLRequest"))
		raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(compressed)))
		if err != nil {
			t.Fatal(err)
		}
		var lr struct {
			NameID struct {
				Value  string `xml:",chardata"`
				Format string `xml:"Format,attr"`
				NQ     string `xml:"NameQualifier,attr"`
				SPNQ   string `xml:"SPNameQualifier,attr"`
			} `xml:"NameID"`
			SessionIndex string `xml:"SessionIndex"`
		}
		if err := xml.Unmarshal(raw, &lr); err != nil {
			t.Fatal(err)
		}
		if lr.NameID.Value != nameID || lr.NameID.Format != "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" ||
			lr.NameID.NQ != e.idp.EntityID || lr.NameID.SPNQ != e.sp.EntityID || lr.SessionIndex != "idx-"+nameID {
			t.Fatalf("%s: the LogoutRequest after a linked sign-in names %+v, SessionIndex %q", proof, lr.NameID, lr.SessionIndex)
		}
	}
}
