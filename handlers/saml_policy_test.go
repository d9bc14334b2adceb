package handlers_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
	"gatehouse/models/mail"
	"gatehouse/models/samlsp/samltest"
	"gatehouse/views/emails"
)

// TestSAMLPolicySettings: the Auth page exposes "allow unsigned IdP logout requests"
// (off by default), the allowed clock skew and the maximum assertion lifetime; the ACS
// and the SLS apply what the owner saved.
func TestSAMLPolicySettings(t *testing.T) {
	e := newSSOEnv(t, true)
	page := e.owner.Get("/settings/acme/auth/")
	if page.Doc.Find(`[data-testid="allow-unsigned-logout"]`).Length() != 1 || page.Doc.Find(`[data-testid="allow-unsigned-logout"][checked]`).Length() != 0 {
		t.Fatal("the unsigned-logout switch is missing or on by default")
	}
	if v := page.Doc.Find(`[data-testid="clock-skew-minutes"]`).AttrOr("value", ""); v != "5" {
		t.Fatalf("clock skew shown %q, want the default 5", v)
	}
	if v := page.Doc.Find(`[data-testid="max-assertion-minutes"]`).AttrOr("value", ""); v != "480" {
		t.Fatalf("max assertion lifetime shown %q, want the default 480", v)
	}
	save := func(extra url.Values) *testapp.Response {
		t.Helper()
		v := url.Values{"default_role": {"member"}, "sso_session_hours": {"168"}, "allow_idp_initiated": {"1"}}
		for k, vs := range extra {
			v[k] = vs
		}
		return e.owner.Post("/settings/acme/auth/settings/", v)
	}
	bob := e.a.Client(t)
	signInBob := func(o samltest.Options) int {
		t.Helper()
		relay, id := authnRequest(t, bob.Post("/auth/login/acme/", nil))
		o.InResponseTo = id
		return e.post(bob, e.idp.Response(t, e.sp, user("bob-1", "bob@example.com"), o), relay).Status
	}

	// A 10-hour assertion (Keycloak lifespan) is refused by the default, accepted once allowed.
	if st := signInBob(samltest.Options{Lifetime: 10 * time.Hour}); st != http.StatusForbidden {
		t.Fatalf("10 h assertion with the default policy: %d", st)
	}
	if last := sspLastSignIn(t, e.a); last.reason != "conditions" || !strings.Contains(last.hint, "maximum assertion lifetime") {
		t.Fatalf("sign-in log: %+v", last)
	}
	for _, bad := range []url.Values{{"clock_skew_minutes": {"11"}}, {"max_assertion_minutes": {"2"}}, {"max_assertion_minutes": {"x"}}} {
		if res := save(bad); res.Status != http.StatusUnprocessableEntity || res.Doc.Find(`[data-testid^="error-"]`).Length() == 0 {
			t.Fatalf("%v: %d", bad, res.Status)
		}
	}
	if res := save(url.Values{"max_assertion_minutes": {"720"}, "clock_skew_minutes": {"2"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", res.Status, res.Text(`[data-testid^="error-"]`))
	}
	if st := signInBob(samltest.Options{Lifetime: 10 * time.Hour}); st != http.StatusSeeOther {
		t.Fatalf("10 h assertion with a 12 h maximum: %d %+v", st, sspLastSignIn(t, e.a))
	}
	// The skew is the org's too: an IdP clock 4 minutes ahead is refused with 2 minutes.
	bob.Get("/auth/login/acme/")
	if st := signInBob(samltest.Options{Now: time.Now().Add(4 * time.Minute)}); st != http.StatusForbidden {
		t.Fatalf("IdP 4 min ahead with 2 min skew: %d", st)
	}

	// Unsigned logout requests: refused by default, honoured once allowed.
	unsigned := e.idp.LogoutRedirectQuery(samltest.LogoutRequest{NameID: "bob-1", Destination: e.sp.SLSURL}, "", false)
	if res := e.a.Client(t).Get("/saml/sls/acme/?" + unsigned); res.Status != http.StatusBadRequest {
		t.Fatalf("unsigned logout with the default: %d", res.Status)
	}
	if bob.Get("/organizations/acme/").Status != http.StatusOK {
		t.Fatal("bob signed out by a refused request")
	}
	if res := save(url.Values{"allow_unsigned_logout": {"1"}, "max_assertion_minutes": {"720"}, "clock_skew_minutes": {"2"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("save: %d", res.Status)
	}
	if e.owner.Get("/settings/acme/auth/").Doc.Find(`[data-testid="allow-unsigned-logout"][checked]`).Length() != 1 {
		t.Fatal("the switch does not show the saved value")
	}
	if res := e.a.Client(t).Get("/saml/sls/acme/?" + unsigned); res.Status != http.StatusSeeOther {
		t.Fatalf("unsigned logout when allowed: %d %s", res.Status, res.Body)
	}
	if bob.Get("/organizations/acme/").Status != http.StatusSeeOther {
		t.Fatal("bob still signed in after an allowed unsigned logout")
	}
	if n := count(t, e.a, `SELECT count(*) FROM audit_events WHERE details->>'setting' IN ('allow_unsigned_logout', 'clock_skew_minutes', 'max_assertion_minutes')`); n != 3 {
		t.Fatalf("policy changes audited: %d", n)
	}
}

// TestSAMLRelayStateDropped: an IdP that drops RelayState (or sends its own) still
// answers the request by its signed InResponseTo, once, for this org only.
func TestSAMLRelayStateDropped(t *testing.T) {
	for _, tc := range []struct{ name, relay string }{{"dropped", ""}, {"replaced by the IdP's default", "/organizations/acme/"}, {"unknown", "zzz"}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSSOEnv(t, true)
			dana := e.a.Client(t)
			dana.Get("/auth/login/acme/")
			_, id := authnRequest(t, dana.Post("/auth/login/acme/", url.Values{"next": {"/settings/acme/members/"}}))
			raw := e.idp.Response(t, e.sp, user("dana-1", "dana@example.com"), samltest.Options{InResponseTo: id})
			res := e.post(dana, raw, tc.relay)
			if res.Status != http.StatusSeeOther || res.Location != "/settings/acme/members/" {
				t.Fatalf("sign-in without our RelayState: %d %s %+v", res.Status, res.Location, sspLastSignIn(t, e.a))
			}
			if dana.Get("/organizations/acme/").Status != http.StatusOK {
				t.Fatal("dana not signed in")
			}
			// The request is used up: a second response to it is refused.
			again := e.idp.Response(t, e.sp, user("dana-1", "dana@example.com"), samltest.Options{InResponseTo: id})
			if res := e.post(e.a.Client(t), again, tc.relay); res.Status != http.StatusForbidden {
				t.Fatalf("second answer to the same request: %d", res.Status)
			}
		})
	}
	// A response naming a request we never issued is still refused.
	e := newSSOEnv(t, true)
	raw := e.idp.Response(t, e.sp, user("eve-1", "eve@example.com"), samltest.Options{InResponseTo: "id-never-issued"})
	if res := e.post(e.a.Client(t), raw, ""); res.Status != http.StatusForbidden || sspLastSignIn(t, e.a).reason != "request_mismatch" {
		t.Fatalf("unknown InResponseTo: %d %+v", res.Status, sspLastSignIn(t, e.a))
	}
}

// TestSAMLIdPInitiatedDeepLink: an IdP-initiated Relay State that is an absolute URL
// on our own base URL (Sentry's Entra guide) lands on that page; other hosts and
// schemes fall back to the org home.
func TestSAMLIdPInitiatedDeepLink(t *testing.T) {
	e := newSSOEnv(t, true)
	base := e.a.BaseURL
	for i, tc := range []struct{ relay, want string }{
		{base + "/settings/acme/members/?q=x", "/settings/acme/members/?q=x"},
		{base + "/organizations/acme/", "/organizations/acme/"},
		{"https://evil.example/organizations/acme/", "/organizations/acme/"},
		{strings.Replace(base, "://", "://user@", 1) + "/settings/acme/", "/organizations/acme/"},
		{"//evil.example/x", "/organizations/acme/"},
		{"javascript:alert(1)", "/organizations/acme/"},
	} {
		c := e.a.Client(t)
		raw := e.idp.Response(t, e.sp, user(fmt.Sprintf("deep-%d", i), fmt.Sprintf("deep%d@example.com", i)), samltest.Options{})
		if res := e.post(c, raw, tc.relay); res.Status != http.StatusSeeOther || res.Location != tc.want {
			t.Errorf("Relay State %q: %d %q, want %q", tc.relay, res.Status, res.Location, tc.want)
		}
	}
}

// TestCertificateExpiryWarnings: a pinned IdP certificate close to or past its expiry
// is a loud warning on the Auth page and an email to the owners, once per stage.
func TestCertificateExpiryWarnings(t *testing.T) {
	e := newSSOEnv(t, true)
	ctx := context.Background()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	notAfter := time.Now().Add(10 * 24 * time.Hour).Truncate(time.Second)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "idp"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.DB.Bun.NewRaw(`UPDATE auth_providers SET config = jsonb_set(config, '{certs}', jsonb_build_array(?::text))`,
		base64.StdEncoding.EncodeToString(der)).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	alert := e.owner.Get("/settings/acme/auth/").Text(`[data-testid="cert-alert"]`)
	if !strings.Contains(alert, "expires on "+notAfter.UTC().Format("2006-01-02")) || !strings.Contains(alert, "Sign-ins will keep working") {
		t.Fatalf("Auth page alert: %q", alert)
	}
	mailer, err := models.NewMailer(e.a.DB.SQL)
	if err != nil {
		t.Fatal(err)
	}
	mails := func(stage string) int {
		return count(t, e.a, `SELECT count(*) FROM river_job WHERE args->>'template' = 'cert_expiry' AND args->>'to' = 'owner@example.com' AND args->'data'->>'stage' = ?`, stage)
	}
	for i, tc := range []struct {
		at               time.Time
		sent             int
		expiring, expird int
	}{
		{time.Now(), 1, 1, 0},
		{time.Now().Add(time.Hour), 0, 1, 0}, // once per stage
		{notAfter.Add(time.Hour), 1, 1, 1},   // and again after expiry
		{notAfter.Add(48 * time.Hour), 0, 1, 1},
	} {
		n, err := models.WarnCertificateExpiry(ctx, e.a.DB.Bun, mailer, tc.at)
		if err != nil || n != tc.sent || mails(models.CertExpiring) != tc.expiring || mails(models.CertExpired) != tc.expird {
			t.Fatalf("run %d: sent %d (%v), mails expiring %d expired %d", i, n, err, mails(models.CertExpiring), mails(models.CertExpired))
		}
	}
	for _, stage := range []string{models.CertExpiring, models.CertExpired} {
		msg, err := emails.Renderer{BaseURL: "https://gh.example"}.Render(mail.Args{To: "o@example.com", Template: mail.TemplateCertExpiry,
			Data: map[string]string{"org_name": "Acme", "org_slug": "acme", "fingerprint": "AB:CD", "stage": stage, "not_after": "2027-01-02"}})
		if err != nil || !strings.Contains(msg.Text, "https://gh.example/settings/acme/auth/") || !strings.Contains(msg.HTML, "AB:CD") ||
			!strings.Contains(msg.Subject, "Acme") || !strings.Contains(msg.Text, "Sign-ins") {
			t.Fatalf("%s email: %+v %v", stage, msg, err)
		}
	}
}

// TestSAMLPostOnlyIdP: an IdP that publishes only an HTTP-POST SingleSignOnService
// gets the AuthnRequest by POST (a self-submitting form to that endpoint).
func TestSAMLPostOnlyIdP(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	owner := setUp(t, a)
	idp := samltest.New(t, "https://idp.example")
	md := regexp.MustCompile(`<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2\.0:bindings:HTTP-Redirect"[^>]*>(</SingleSignOnService>)?`).ReplaceAllString(string(idp.Metadata()), "")
	if res := owner.Post("/settings/acme/auth/configure/saml2/", url.Values{"method": {"xml"}, "metadata_xml": {md},
		"map_identifier": {"NameID"}, "map_email": {"email"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("configure: %d %s", res.Status, res.Text(`[data-testid^="error-"]`))
	}
	res := owner.Post("/settings/acme/auth/activate/", nil)
	form := res.Doc.Find(`[data-testid="sso-post-form"]`)
	if res.Status != http.StatusOK || form.AttrOr("action", "") != idp.SSOURL || form.Find(`input[name="SAMLRequest"]`).AttrOr("value", "") == "" ||
		form.Find(`input[name="RelayState"]`).AttrOr("value", "") == "" {
		t.Fatalf("POST AuthnRequest page: %d %q", res.Status, sspTail(res.Body, 800))
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "https://idp.example") {
		t.Fatalf("form-action does not allow the IdP: %q", csp)
	}
}

// TestExpiredPinnedCertificateSignsIn: once the pinned IdP signing certificate has
// expired, sign-ins signed by its key still work (issue 11 item 4: a loud warning,
// not an outage); the Auth page shows the alert and Test Configuration a warning row.
// A response whose KeyInfo carries a certificate that is not configured is still
// refused, expired or not.
func TestExpiredPinnedCertificateSignsIn(t *testing.T) {
	e := newSSOEnv(t, true)
	ctx := context.Background()
	notAfter := time.Now().Add(-3 * 24 * time.Hour).Truncate(time.Second)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(8), Subject: pkix.Name{CommonName: "idp"}, NotBefore: notAfter.Add(-365 * 24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &e.idp.Key.PublicKey, e.idp.Key)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.DB.Bun.NewRaw(`UPDATE auth_providers SET config = jsonb_set(config, '{certs}', jsonb_build_array(?::text))`,
		base64.StdEncoding.EncodeToString(der)).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	e.idp = samltest.NewWithKey("https://idp.example", e.idp.Key, expired)
	// The IdP-initiated and SP-initiated sign-ins work.
	c := e.a.Client(t)
	if res := e.post(c, e.idp.Response(t, e.sp, user("exp-1", "exp1@example.com"), samltest.Options{}), ""); res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("IdP-initiated sign-in with the expired pinned certificate: %d %q %s", res.Status, res.Location, sspTail(res.Body, 600))
	}
	c = e.a.Client(t)
	if res := e.answer(c, c.Post("/auth/login/acme/", nil), user("exp-2", "exp2@example.com")); res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("SP-initiated sign-in with the expired pinned certificate: %d %q", res.Status, res.Location)
	}
	// The Auth page says so, loudly.
	alert := e.owner.Get("/settings/acme/auth/").Text(`[data-testid="cert-alert"]`)
	if !strings.Contains(alert, "expired on "+notAfter.UTC().Format("2006-01-02")) || !strings.Contains(alert, "Sign-ins still work") {
		t.Fatalf("Auth page alert: %q", alert)
	}
	// Test Configuration: every check passes, with a warning row for the certificate.
	relay, id := authnRequest(t, e.owner.Post("/settings/acme/auth/test/", nil))
	res := e.post(e.owner, e.idp.Response(t, e.sp, user("exp-1", "exp1@example.com"), samltest.Options{InResponseTo: id}), relay)
	if res.Status != http.StatusOK || !strings.Contains(res.Text(`[data-testid="test-verdict"]`), "would sign in") {
		t.Fatalf("Test Configuration: %d %q", res.Status, res.Text(`[data-testid="test-verdict"]`))
	}
	row := res.Doc.Find(`[data-testid="test-check"][data-check="Certificate validity"]`)
	if row.AttrOr("data-ok", "") != "true" || row.AttrOr("data-warn", "") != "true" ||
		!strings.Contains(row.Text(), "expired on "+notAfter.UTC().Format("2006-01-02")) || !strings.Contains(row.Text(), "renew") {
		t.Fatalf("certificate row: ok=%s warn=%s %q", row.AttrOr("data-ok", ""), row.AttrOr("data-warn", ""), row.Text())
	}
	// A certificate in KeyInfo that is not the configured one is never trusted: the same
	// key under a renewed (valid) certificate that nobody registered is refused.
	renewedTmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "idp"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
	renewedDER, err := x509.CreateCertificate(rand.Reader, renewedTmpl, renewedTmpl, &e.idp.Key.PublicKey, e.idp.Key)
	if err != nil {
		t.Fatal(err)
	}
	renewed, _ := x509.ParseCertificate(renewedDER)
	unregistered := samltest.NewWithKey("https://idp.example", e.idp.Key, renewed)
	c = e.a.Client(t)
	if res := e.post(c, unregistered.Response(t, e.sp, user("exp-3", "exp3@example.com"), samltest.Options{}), ""); res.Status == http.StatusSeeOther {
		t.Fatalf("a KeyInfo certificate that is not configured was trusted: %d %q", res.Status, res.Location)
	}
}
