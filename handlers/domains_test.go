package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
	"gatehouse/models/dnscheck/dnstest"
	"gatehouse/models/oauth"
	"gatehouse/models/oauth/oauthtest"
	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// newDomainEnv is org acme with its active in-process IdP, and a real DNS server on
// loopback that the app's resolver asks (GATEHOUSE_DNS_RESOLVER).
func newDomainEnv(t *testing.T) (*ssoEnv, *dnstest.Server) {
	t.Helper()
	dns := dnstest.New(t)
	return newSSOEnvWith(t, testapp.Options{DNSResolver: dns.Addr}, true), dns
}

// domainToken is the token acme's owner is shown for domain (read from the Auth page).
func domainToken(t *testing.T, c *testapp.Client, slug, domain string) string {
	t.Helper()
	page := c.Get("/settings/" + slug + "/auth/")
	v, ok := page.Doc.Find(`[data-testid="domain-row"][data-domain="` + domain + `"] [data-testid="domain-record-value"]`).Attr("value")
	if !ok || !strings.HasPrefix(v, "gatehouse-verification=") {
		t.Fatalf("no TXT record shown for %s on the Auth page", domain)
	}
	if name, _ := page.Doc.Find(`[data-testid="domain-row"][data-domain="` + domain + `"] [data-testid="domain-record-name"]`).Attr("value"); name != "_gatehouse-verification."+domain {
		t.Fatalf("record name %q", name)
	}
	return strings.TrimPrefix(v, "gatehouse-verification=")
}

func domainID(t *testing.T, a *testapp.App, slug, domain string) string {
	t.Helper()
	var id string
	if err := a.DB.Bun.NewRaw(`SELECT d.id::text FROM org_domains d JOIN organizations o ON o.id = d.org_id WHERE o.slug = ? AND d.domain = ?`, slug, domain).
		Scan(context.Background(), &id); err != nil {
		t.Fatalf("domain %s of %s: %v", domain, slug, err)
	}
	return id
}

func domainStatus(t *testing.T, c *testapp.Client, slug, domain string) string {
	t.Helper()
	s, _ := c.Get("/settings/" + slug + "/auth/").Doc.Find(`[data-testid="domain-row"][data-domain="` + domain + `"]`).Attr("data-status")
	return s
}

// verifyDomain adds domain to slug, publishes its record and presses Verify.
func verifyDomain(t *testing.T, a *testapp.App, owner *testapp.Client, dns *dnstest.Server, slug, domain string) {
	t.Helper()
	if res := owner.Post("/settings/"+slug+"/auth/domains/", url.Values{"domain": {domain}}); res.Status != http.StatusSeeOther {
		t.Fatalf("add %s: %d %s", domain, res.Status, res.Body)
	}
	dns.Publish(domain, domainToken(t, owner, slug, domain))
	if res := owner.Post("/settings/"+slug+"/auth/domains/"+domainID(t, a, slug, domain)+"/verify/", nil); res.Status != http.StatusSeeOther {
		t.Fatalf("verify %s: %d %s", domain, res.Status, res.Doc.Find(`[data-testid="domain-error"]`).Text())
	}
}

func auditCount(t *testing.T, a *testapp.App, event, target string) int {
	t.Helper()
	return count(t, a, "SELECT count(*) FROM audit_events WHERE event = ? AND target_label = ?", event, target)
}

// Add, verify, lose, re-verify, remove — through the app, its River job's function and
// a real DNS server; public and malformed domains are refused with the reason.
func TestDomainVerifyLoseReverify(t *testing.T) {
	e, dns := newDomainEnv(t)
	ctx := context.Background()
	for _, tt := range []struct{ name, domain, want string }{
		{"public mail service", "gmail.com", "public email service"},
		{"public, upper case with an @", "@Outlook.COM", "public email service"},
		{"one label", "localhost", "full domain"},
		{"an address", "1.2.3.4", "not an IP address"},
		{"bad characters", "ex ample.com", "valid domain"},
		{"empty", "", "Enter a domain"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := e.owner.Post("/settings/acme/auth/domains/", url.Values{"domain": {tt.domain}})
			if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Text(`[data-testid="error-domain"]`), tt.want) {
				t.Fatalf("%q: %d %q", tt.domain, res.Status, res.Text(`[data-testid="error-domain"]`))
			}
		})
	}
	if n := e.count("SELECT count(*) FROM org_domains"); n != 0 {
		t.Fatalf("%d domains stored from refused input", n)
	}

	if res := e.owner.Post("/settings/acme/auth/domains/", url.Values{"domain": {"Acme.Test"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("add: %d", res.Status)
	}
	if res := e.owner.Post("/settings/acme/auth/domains/", url.Values{"domain": {"acme.test"}}); res.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(res.Text(`[data-testid="error-domain"]`), "already on the list") {
		t.Fatalf("add twice: %d", res.Status)
	}
	if s := domainStatus(t, e.owner, "acme", "acme.test"); s != "checking" {
		t.Fatalf("new domain: %q", s)
	}
	token := domainToken(t, e.owner, "acme", "acme.test")
	id := domainID(t, e.a, "acme", "acme.test")

	// Verify before the record exists: what the DNS answered, nothing verified.
	dns.SetTXT("_gatehouse-verification.acme.test", "gatehouse-verification=not-the-token")
	res := e.owner.Post("/settings/acme/auth/domains/"+id+"/verify/", nil)
	if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Text(`[data-testid="domain-error"]`), "did not find") ||
		!strings.Contains(res.Text(`[data-testid="domain-error"]`), "not-the-token") {
		t.Fatalf("verify without the record: %d %q", res.Status, res.Text(`[data-testid="domain-error"]`))
	}
	// A DNS without an answer is said so, and verifies nothing.
	dns.ServFail(true)
	res = e.owner.Post("/settings/acme/auth/domains/"+id+"/verify/", nil)
	dns.ServFail(false)
	if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Text(`[data-testid="domain-error"]`), "got no answer") {
		t.Fatalf("verify with a broken DNS: %d %q", res.Status, res.Text(`[data-testid="domain-error"]`))
	}
	if s := domainStatus(t, e.owner, "acme", "acme.test"); s != "checking" {
		t.Fatalf("after failed verifications: %q", s)
	}

	dns.Publish("acme.test", token)
	if res := e.owner.Post("/settings/acme/auth/domains/"+id+"/verify/", nil); res.Status != http.StatusSeeOther {
		t.Fatalf("verify: %d %s", res.Status, res.Text(`[data-testid="domain-error"]`))
	}
	if s := domainStatus(t, e.owner, "acme", "acme.test"); s != "verified" {
		t.Fatalf("verified domain: %q", s)
	}
	if auditCount(t, e.a, models.EventDomainAdded, "acme.test") != 1 || auditCount(t, e.a, models.EventDomainVerified, "acme.test") != 1 {
		t.Fatal("add and verify are not audited once each")
	}

	// The daily re-check: nothing is due right after verification.
	h := e.a.Handler
	now := time.Now()
	if r, err := models.CheckDomains(ctx, h.DB.Bun, h.Mailer, h.Resolver, now); err != nil || r != (models.DomainCheckResult{}) {
		t.Fatalf("check right after verifying: %+v %v", r, err)
	}
	// A day later the DNS is broken: nothing is concluded.
	dns.ServFail(true)
	r, err := models.CheckDomains(ctx, h.DB.Bun, h.Mailer, h.Resolver, now.Add(25*time.Hour))
	dns.ServFail(false)
	if err != nil || r != (models.DomainCheckResult{Unanswered: 1}) || domainStatus(t, e.owner, "acme", "acme.test") != "verified" {
		t.Fatalf("check with a broken DNS: %+v %v", r, err)
	}
	// The record disappears: the domain is lost, audited, every owner warned.
	dns.Withdraw("acme.test")
	r, err = models.CheckDomains(ctx, h.DB.Bun, h.Mailer, h.Resolver, now.Add(25*time.Hour))
	if err != nil || r != (models.DomainCheckResult{Checked: 1, Lost: 1}) {
		t.Fatalf("check after the record disappeared: %+v %v", r, err)
	}
	if s := domainStatus(t, e.owner, "acme", "acme.test"); s != "lost" {
		t.Fatalf("lost domain: %q", s)
	}
	if auditCount(t, e.a, models.EventDomainLost, "acme.test") != 1 {
		t.Fatal("the loss is not audited")
	}
	if n := count(t, e.a, `SELECT count(*) FROM river_job WHERE args->>'template' = 'domain_lost' AND args->>'to' = 'owner@example.com'
		AND args->'data'->>'record_name' = '_gatehouse-verification.acme.test'`); n != 1 {
		t.Fatalf("%d loss emails to the owner", n)
	}
	// Lost, the domain no longer routes sign-ins.
	if _, _, err := models.SSORoute(ctx, h.DB.Bun, "ada@acme.test"); err == nil {
		t.Fatal("a lost domain still routes to the IdP")
	}
	// The record comes back: the job (which keeps checking a lost domain hourly for
	// 72 hours) verifies it again.
	if r, _ := models.CheckDomains(ctx, h.DB.Bun, h.Mailer, h.Resolver, now.Add(25*time.Hour+30*time.Minute)); r != (models.DomainCheckResult{}) {
		t.Fatalf("checked again within the hour: %+v", r)
	}
	dns.Publish("acme.test", token)
	r, err = models.CheckDomains(ctx, h.DB.Bun, h.Mailer, h.Resolver, now.Add(26*time.Hour))
	if err != nil || r != (models.DomainCheckResult{Checked: 1, Verified: 1}) {
		t.Fatalf("re-verify: %+v %v", r, err)
	}
	if s := domainStatus(t, e.owner, "acme", "acme.test"); s != "verified" {
		t.Fatalf("re-verified domain: %q", s)
	}
	if auditCount(t, e.a, models.EventDomainVerified, "acme.test") != 2 {
		t.Fatal("the re-verification is not audited")
	}
	if res := e.owner.Post("/settings/acme/auth/domains/"+id+"/remove/", nil); res.Status != http.StatusSeeOther {
		t.Fatalf("remove: %d", res.Status)
	}
	if e.count("SELECT count(*) FROM org_domains") != 0 || auditCount(t, e.a, models.EventDomainRemoved, "acme.test") != 1 {
		t.Fatal("remove")
	}
}

// A pending domain is re-checked for 72 hours, then left for the owner's Verify.
func TestPendingDomainCheckedFor72Hours(t *testing.T) {
	e, dns := newDomainEnv(t)
	h := e.a.Handler
	ctx := context.Background()
	if res := e.owner.Post("/settings/acme/auth/domains/", url.Values{"domain": {"late.test"}}); res.Status != http.StatusSeeOther {
		t.Fatal("add")
	}
	now := time.Now()
	if r, _ := models.CheckDomains(ctx, h.DB.Bun, h.Mailer, h.Resolver, now); r != (models.DomainCheckResult{Checked: 1}) {
		t.Fatalf("first check: %+v", r)
	}
	dns.Publish("late.test", domainToken(t, e.owner, "acme", "late.test"))
	if r, _ := models.CheckDomains(ctx, h.DB.Bun, h.Mailer, h.Resolver, now.Add(73*time.Hour)); r != (models.DomainCheckResult{}) {
		t.Fatalf("checked after 72 hours: %+v", r)
	}
	if r, _ := models.CheckDomains(ctx, h.DB.Bun, h.Mailer, h.Resolver, now.Add(2*time.Hour)); r != (models.DomainCheckResult{Checked: 1, Verified: 1}) {
		t.Fatalf("check within 72 hours: %+v", r)
	}
}

// newSAMLOrg creates org slug owned by a new account email, with its own in-process
// IdP, active.
func newSAMLOrg(t *testing.T, a *testapp.App, ownerEmail, slug, entityID string) (*testapp.Client, *samltest.IdP, samlsp.SP) {
	t.Helper()
	owner := signUp(t, a, ownerEmail)
	if res := owner.Post("/organizations/new/", url.Values{"name": {strings.ToUpper(slug)}, "slug": {slug}}); res.Status != http.StatusSeeOther {
		t.Fatalf("create %s: %d %s", slug, res.Status, res.Body)
	}
	idp := samltest.New(t, entityID)
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(idp.Metadata()) }))
	t.Cleanup(meta.Close)
	if res := owner.Post("/settings/"+slug+"/auth/configure/saml2/", url.Values{"method": {"url"}, "metadata_url": {meta.URL},
		"map_identifier": {"NameID"}, "map_email": {"email"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("configure %s: %d %s", slug, res.Status, res.Body)
	}
	sp := samlsp.NewSP(a.BaseURL, slug)
	relay, id := authnRequest(t, owner.Post("/settings/"+slug+"/auth/activate/", nil))
	if res := postToACS(owner, slug, idp.Response(t, sp, user(ownerEmail, ownerEmail), samltest.Options{InResponseTo: id}), relay); res.Status != http.StatusSeeOther {
		t.Fatalf("activate %s: %d", slug, res.Status)
	}
	return owner, idp, sp
}

// ssoSignIn signs u in to slug through its IdP, SP-initiated from the org login page.
func ssoSignIn(t *testing.T, c *testapp.Client, slug string, idp *samltest.IdP, sp samlsp.SP, u samltest.User) *testapp.Response {
	t.Helper()
	c.Get("/auth/login/" + slug + "/")
	relay, id := authnRequest(t, c.Post("/auth/login/"+slug+"/", nil))
	return postToACS(c, slug, idp.Response(t, sp, u, samltest.Options{InResponseTo: id}), relay)
}

// A domain is verified by one organization only; owners alone change domains.
func TestDomainVerifiedByOneOrgOnly(t *testing.T) {
	e, dns := newDomainEnv(t)
	other, _, _ := newSAMLOrg(t, e.a, "olga@other.test", "other", "https://idp.other.test")
	// Both claim acme.test; acme proves it first.
	if res := other.Post("/settings/other/auth/domains/", url.Values{"domain": {"acme.test"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("other adds: %d", res.Status)
	}
	verifyDomain(t, e.a, e.owner, dns, "acme", "acme.test")
	// The other org publishes its own record too: refused, now and by the job.
	var acmeToken string
	if err := e.a.DB.Bun.NewRaw("SELECT token FROM org_domains WHERE id = ?", domainID(t, e.a, "acme", "acme.test")).Scan(context.Background(), &acmeToken); err != nil {
		t.Fatal(err)
	}
	dns.SetTXT("_gatehouse-verification.acme.test", "gatehouse-verification="+acmeToken,
		"gatehouse-verification="+domainToken(t, other, "other", "acme.test"))
	res := other.Post("/settings/other/auth/domains/"+domainID(t, e.a, "other", "acme.test")+"/verify/", nil)
	if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Text(`[data-testid="domain-error"]`), "verified by another organization") {
		t.Fatalf("second org verifies: %d %q", res.Status, res.Text(`[data-testid="domain-error"]`))
	}
	h := e.a.Handler
	if r, err := models.CheckDomains(context.Background(), h.DB.Bun, h.Mailer, h.Resolver, time.Now().Add(2*time.Hour)); err != nil || r.Verified != 0 {
		t.Fatalf("the job verified it for the second org: %+v %v", r, err)
	}
	if n := e.count("SELECT count(*) FROM org_domains WHERE domain = 'acme.test' AND verified_at IS NOT NULL"); n != 1 {
		t.Fatalf("%d orgs verified acme.test", n)
	}
	// Adding a domain verified elsewhere is refused outright.
	if res := other.Post("/settings/other/auth/domains/", url.Values{"domain": {"www.acme.test"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("a subdomain is another domain: %d", res.Status)
	}
	other.Post("/settings/other/auth/domains/"+domainID(t, e.a, "other", "acme.test")+"/remove/", nil)
	if res := other.Post("/settings/other/auth/domains/", url.Values{"domain": {"acme.test"}}); res.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(res.Text(`[data-testid="error-domain"]`), "verified by another organization") {
		t.Fatalf("add a domain verified elsewhere: %d", res.Status)
	}
	// A manager sees the domains but cannot change them.
	mgr := inviteAndJoin(t, e.a, e.owner, "mia@example.com", "manager")
	page := mgr.Get("/settings/acme/auth/")
	if !page.Has(`[data-testid="domain-row"][data-domain="acme.test"]`) || page.Has(`[data-testid="domain-add"]`) {
		t.Fatal("the manager's view of the domains")
	}
	before := e.count("SELECT count(*) FROM org_domains")
	mgr.Post("/settings/acme/auth/domains/", url.Values{"domain": {"mgr.test"}})
	mgr.Post("/settings/acme/auth/domains/"+domainID(t, e.a, "acme", "acme.test")+"/remove/", nil)
	mgr.Post("/settings/acme/auth/domains/capture/", url.Values{"domain_capture": {"on"}})
	if e.count("SELECT count(*) FROM org_domains") != before || e.count("SELECT count(*) FROM organizations WHERE domain_capture") != 0 {
		t.Fatal("a manager changed the verified domains")
	}
	if !strings.Contains(mgr.Get("/settings/acme/auth/").Body, "Only an owner can change the organization") {
		t.Fatal("the refusal is not shown")
	}
}

// The org's own IdP asserting an address at its verified domain proves a new
// account's mailbox: the account is verified and its link survives a password reset.
// Elsewhere JIT accounts stay unproven (and a reset claims them clean).
func TestJITAtVerifiedDomainIsVerified(t *testing.T) {
	e, dns := newDomainEnv(t)
	verifyDomain(t, e.a, e.owner, dns, "acme", "acme.test")
	for _, tt := range []struct {
		email        string
		wantVerified bool
		wantLinks    int // after a password reset
	}{
		{"ada@acme.test", true, 1},
		{"Cy@Acme.Test", true, 1},
		{"bob@elsewhere.test", false, 0},
	} {
		t.Run(tt.email, func(t *testing.T) {
			c := e.a.Client(t)
			if res := ssoSignIn(t, c, "acme", e.idp, e.sp, user("id-"+tt.email, tt.email)); res.Location != "/organizations/acme/" {
				t.Fatalf("JIT: %d %s", res.Status, res.Location)
			}
			var verified bool
			var createdBy *int64
			if err := e.a.DB.Bun.NewRaw("SELECT email_verified, created_by_org_id FROM users WHERE lower(email) = lower(?)", tt.email).
				Scan(context.Background(), &verified, &createdBy); err != nil {
				t.Fatal(err)
			}
			if verified != tt.wantVerified || (createdBy == nil) != tt.wantVerified {
				t.Fatalf("verified %v, created by org %v", verified, createdBy)
			}
			// The person resets the password through the mailbox.
			c.Post("/auth/password/reset/", url.Values{"email": {tt.email}})
			link := "/auth/password/reset/" + mailToken(t, e.a, tt.email, "password_reset") + "/"
			c.Get(link)
			if res := c.Post(link, url.Values{"password": {"a new password"}}); res.Status != http.StatusSeeOther {
				t.Fatalf("reset: %d", res.Status)
			}
			if n := e.count("SELECT count(*) FROM auth_identities i JOIN users u ON u.id = i.user_id WHERE lower(u.email) = lower(?)", tt.email); n != tt.wantLinks {
				t.Fatalf("%d IdP links after the reset, want %d", n, tt.wantLinks)
			}
		})
	}
}

// An IdP of another org asserting an address at acme's verified domain can never
// create, link or sign in an account; the sign-in log says why.
func TestAnotherOrgsIdPRefusedForVerifiedDomain(t *testing.T) {
	e, dns := newDomainEnv(t)
	mallory, idpB, spB := newSAMLOrg(t, e.a, "mallory@evil.test", "evil", "https://idp.evil.test")
	_ = mallory
	// Before acme verifies its domain, B's IdP made an account there just in time.
	early := e.a.Client(t)
	if res := ssoSignIn(t, early, "evil", idpB, spB, user("early", "early@acme.test")); res.Location != "/organizations/evil/" {
		t.Fatalf("JIT in B before verification: %d %s", res.Status, res.Location)
	}
	// And an existing account there started a link to B's IdP, not finished yet.
	pending := signUp(t, e.a, "pending@acme.test")
	linkPage := ssoSignIn(t, pending, "evil", idpB, spB, user("pending-in-b", "pending@acme.test"))
	if !strings.HasPrefix(linkPage.Location, "/auth/link/") {
		t.Fatalf("link before verification: %d %s", linkPage.Status, linkPage.Location)
	}
	verifyDomain(t, e.a, e.owner, dns, "acme", "acme.test")
	// The link cannot be finished once acme verified the domain.
	pending.Get(linkPage.Location)
	if res := pending.Post(linkPage.Location, url.Values{"password": {"user password"}}); res.Status == http.StatusSeeOther ||
		!strings.Contains(res.Body, "a domain another organization has verified") {
		t.Fatalf("finishing the link after verification: %d %s", res.Status, res.Location)
	}
	if n := e.count("SELECT count(*) FROM auth_identities WHERE idp_user_id = 'pending-in-b'"); n != 0 {
		t.Fatal("B's IdP was linked to an account at acme's verified domain")
	}
	// An existing password account at the domain.
	signUp(t, e.a, "victim@acme.test")
	before := rowCounts(t, e.a)
	for _, tt := range []struct{ name, idpUser, email string }{
		{"a new account", "new-in-b", "newcomer@acme.test"},
		{"an existing account (link)", "victim-in-b", "victim@acme.test"},
		{"the address in another case", "victim-in-b-2", "Victim@ACME.test"},
		{"an account B linked before verification", "early", "early@acme.test"},
		{"B's linked account, now asserted at another address", "early", "early@evil.test"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := e.a.Client(t)
			res := ssoSignIn(t, c, "evil", idpB, spB, user(tt.idpUser, tt.email))
			if res.Status != http.StatusForbidden {
				t.Fatalf("B's IdP for %s: %d %s", tt.email, res.Status, res.Location)
			}
			if c.Get("/organizations/evil/").Status == http.StatusOK {
				t.Fatal("signed in")
			}
			var reason, hint string
			if err := e.a.DB.Bun.NewRaw(`SELECT s.reason, s.hint FROM sso_signins s JOIN organizations o ON o.id = s.org_id
				WHERE o.slug = 'evil' ORDER BY s.id DESC LIMIT 1`).Scan(context.Background(), &reason, &hint); err != nil {
				t.Fatal(err)
			}
			if reason != models.ReasonDomainForeign || !strings.Contains(hint, "acme.test") {
				t.Fatalf("sign-in log: %q %q", reason, hint)
			}
		})
	}
	after := rowCounts(t, e.a)
	for table, n := range before {
		if after[table] != n && table != "sso_signins" {
			t.Errorf("%s changed: %d → %d", table, n, after[table])
		}
	}
	if n := e.count("SELECT count(*) FROM pending_links WHERE idp_user_id <> 'pending-in-b'"); n != 0 {
		t.Fatalf("%d pending links made for B's IdP", n)
	}
	// Acme's own IdP still signs its people in.
	if res := ssoSignIn(t, e.a.Client(t), "acme", e.idp, e.sp, user("newcomer-in-a", "newcomer@acme.test")); res.Location != "/organizations/acme/" {
		t.Fatalf("acme's IdP: %d %s", res.Status, res.Location)
	}
}

// hxPost posts a form as htmx's boosted form does.
func hxPost(c *testapp.Client, path string, values url.Values) *testapp.Response {
	values.Set("_csrf", c.CSRF())
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Boosted", "true")
	return c.Do(req)
}

// idpOf is where a routed answer sends the browser: the IdP's SSO URL (scheme, host,
// path) for a boosted form, or the same-site page for a plain one.
func idpOf(res *testapp.Response) string {
	to := res.Header.Get("HX-Redirect")
	if to == "" {
		return res.Location
	}
	u, err := url.Parse(to)
	if err != nil {
		return "bad " + to
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// urlBase is raw's scheme, host and path.
func urlBase(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "bad " + raw
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// Domain capture: a password login for an account at the verified domain goes to the
// IdP, whatever the password and whether or not the account exists; the Auth page
// lists the accounts at the domain.
func TestDomainCaptureRedirectsPasswordLogin(t *testing.T) {
	e, dns := newDomainEnv(t)
	verifyDomain(t, e.a, e.owner, dns, "acme", "acme.test")
	signUp(t, e.a, "ada@acme.test")
	inviteAndJoin(t, e.a, e.owner, "bea@acme.test", "member")
	ssoSignIn(t, e.a.Client(t), "acme", e.idp, e.sp, user("cy", "cy@acme.test"))

	page := e.owner.Get("/settings/acme/auth/")
	want := map[string]string{"ada@acme.test": "not a member", "bea@acme.test": "member, not linked", "cy@acme.test": "linked"}
	for email, status := range want {
		if got, _ := page.Doc.Find(`[data-testid="captured-account"][data-email="` + email + `"]`).Attr("data-status"); got != status {
			t.Errorf("%s listed as %q, want %q", email, got, status)
		}
	}
	if page.Text(`[data-testid="captured-count"]`) != "3 account(s) at your verified domains." {
		t.Errorf("count: %q", page.Text(`[data-testid="captured-count"]`))
	}

	// Capture off: the password still works.
	c := e.a.Client(t)
	c.Get("/auth/login/")
	if res := c.Post("/auth/login/", url.Values{"email": {"ada@acme.test"}, "password": {"user password"}}); res.Status != http.StatusSeeOther || res.Location != "/" {
		t.Fatalf("password login, capture off: %d %s", res.Status, res.Location)
	}
	if res := e.owner.Post("/settings/acme/auth/domains/capture/", url.Values{"domain_capture": {"on"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("capture on: %d", res.Status)
	}
	if auditCount(t, e.a, models.EventDomainCapture, "") != 1 {
		t.Fatal("capture not audited")
	}
	for _, tt := range []struct{ name, email, password string }{
		{"right password", "ada@acme.test", "user password"},
		{"wrong password", "ada@acme.test", "wrong"},
		{"unknown account", "nobody@acme.test", "whatever"},
		{"upper case", "ADA@Acme.Test", "user password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := e.a.Client(t)
			c.Get("/auth/login/")
			res := c.Post("/auth/login/", url.Values{"email": {tt.email}, "password": {tt.password}})
			if to := urlBase(toIdP(t, res).Location); to != e.idp.SSOURL {
				t.Fatalf("plain form: %d %s", res.Status, to)
			}
			if c.Cookie("gatehouse_session") != nil && c.Get("/account/").Status == http.StatusOK {
				t.Fatal("signed in by password")
			}
			res = hxPost(c, "/auth/login/", url.Values{"email": {tt.email}, "password": {tt.password}})
			if res.Status != http.StatusNoContent || idpOf(res) != e.idp.SSOURL {
				t.Fatalf("boosted form: %d %q", res.Status, idpOf(res))
			}
		})
	}
	// The captured account completes its sign-in at the IdP (and links by proof).
	c = e.a.Client(t)
	c.Get("/auth/login/")
	res := c.Post("/auth/login/", url.Values{"email": {"ada@acme.test"}, "password": {"user password"}})
	res = e.answer(c, toIdP(t, res), user("ada", "ada@acme.test"))
	if !strings.HasPrefix(res.Location, "/auth/link/") {
		t.Fatalf("captured account at the IdP: %d %s", res.Status, res.Location)
	}
	// Other addresses keep their passwords.
	c = e.a.Client(t)
	c.Get("/auth/login/")
	if res := c.Post("/auth/login/", url.Values{"email": {"owner@example.com"}, "password": {"owner password"}}); res.Status != http.StatusSeeOther || res.Location == "/auth/login/acme/" {
		t.Fatalf("password login elsewhere: %d %s", res.Status, res.Location)
	}
}

// Sign in with your email: an address at a verified domain continues to its org's
// IdP; the answer depends on the domain only (identical for unknown addresses); "Sign
// in with SSO" takes an org slug or an email.
func TestEmailFirstRouting(t *testing.T) {
	e, dns := newDomainEnv(t)
	evilOwner, idpB, _ := newSAMLOrg(t, e.a, "mallory@evil.test", "evil", "https://idp.evil.test")
	verifyDomain(t, e.a, e.owner, dns, "acme", "acme.test")
	verifyDomain(t, e.a, evilOwner, dns, "evil", "evil.test")
	signUp(t, e.a, "known@acme.test")
	signUp(t, e.a, "known@plain.test")

	route := func(email string) (int, string) {
		c := e.a.Client(t)
		c.Get("/auth/login/")
		res := hxPost(c, "/auth/login/", url.Values{"email": {email}})
		return res.Status, idpOf(res)
	}
	for _, tt := range []struct {
		email  string
		status int
		to     string
	}{
		{"known@acme.test", http.StatusNoContent, e.idp.SSOURL},
		{"unknown@acme.test", http.StatusNoContent, e.idp.SSOURL},
		{"mallory@evil.test", http.StatusNoContent, idpB.SSOURL},
		{"unknown@evil.test", http.StatusNoContent, idpB.SSOURL},
		{"known@plain.test", http.StatusUnprocessableEntity, ""},
		{"unknown@plain.test", http.StatusUnprocessableEntity, ""},
	} {
		if status, to := route(tt.email); status != tt.status || to != tt.to {
			t.Errorf("%s: %d %q, want %d %q", tt.email, status, to, tt.status, tt.to)
		}
	}
	// Without JavaScript: a page that continues to the IdP by itself, the same for
	// known and unknown (but for the request's own ids).
	body := func(email string, path string, field string) *testapp.Response {
		c := e.a.Client(t)
		c.Get("/auth/login/")
		return c.Post(path, url.Values{field: {email}})
	}
	page := func(r *testapp.Response) string {
		s := strings.ReplaceAll(r.Body, strings.ReplaceAll(r.Header.Get("Refresh")[len("0; url="):], "&", "&amp;"), "IDP")
		if tok, ok := r.Doc.Find(`meta[name="csrf-token"]`).Attr("content"); ok {
			s = strings.ReplaceAll(s, tok, "TOKEN")
		}
		return s
	}
	for _, path := range [][2]string{{"/auth/login/", "email"}, {"/auth/sso/", "sso"}} {
		k, u := body("known@acme.test", path[0], path[1]), body("unknown@acme.test", path[0], path[1])
		if urlBase(toIdP(t, k).Location) != e.idp.SSOURL || urlBase(toIdP(t, u).Location) != e.idp.SSOURL || page(k) != page(u) {
			t.Errorf("%s at a verified domain: %d %s vs %d %s", path[0], k.Status, k.Header.Get("Refresh"), u.Status, u.Header.Get("Refresh"))
		}
		// Not at a verified domain: the same page, whether or not the account exists.
		k, u = body("known@plain.test", path[0], path[1]), body("unknown@plain.test", path[0], path[1])
		strip := func(r *testapp.Response, email string) string {
			s := strings.ReplaceAll(r.Body, email, "EMAIL")
			// The CSRF token differs per browser.
			if tok, ok := r.Doc.Find(`meta[name="csrf-token"]`).Attr("content"); ok {
				s = strings.ReplaceAll(s, tok, "TOKEN")
			}
			return s
		}
		if k.Status != u.Status || strip(k, "known@plain.test") != strip(u, "unknown@plain.test") {
			t.Errorf("%s answers differ for a known and an unknown address: %d vs %d", path[0], k.Status, u.Status)
		}
	}
	// The full SP-initiated round trip from the email: a new account at the domain.
	c := e.a.Client(t)
	c.Get("/auth/login/")
	res := c.Post("/auth/login/", url.Values{"email": {"newbie@acme.test"}})
	if res = e.answer(c, toIdP(t, res), user("newbie", "newbie@acme.test")); res.Location != "/organizations/acme/" {
		t.Fatalf("round trip: %d %s", res.Status, res.Location)
	}
	// "Sign in with SSO" takes a slug, as in Sentry.
	c = e.a.Client(t)
	c.Get("/auth/login/")
	if res := c.Post("/auth/sso/", url.Values{"sso": {"Evil"}, "next": {"/organizations/evil/"}}); res.Status != http.StatusSeeOther ||
		res.Location != "/auth/login/evil/?next=%2Forganizations%2Fevil%2F" {
		t.Fatalf("slug: %d %s", res.Status, res.Location)
	}
	if res := c.Post("/auth/sso/", url.Values{"sso": {"not a slug!"}}); res.Status != http.StatusUnprocessableEntity || res.Text(`[data-testid="error-sso"]`) == "" {
		t.Fatalf("bad slug: %d", res.Status)
	}
	if res := c.Post("/auth/sso/", url.Values{"sso": {""}}); res.Status != http.StatusUnprocessableEntity {
		t.Fatalf("empty: %d", res.Status)
	}
}

// Google Workspace is the org's own IdP too: a JIT account at the org's verified
// domain is verified, one at its other (unverified) domain is not; an email at the
// verified domain routes to Google.
func TestGoogleJITAtVerifiedDomainIsVerified(t *testing.T) {
	dns := dnstest.New(t)
	g := oauthtest.NewGoogle(t, "google-client", "google-secret")
	a := testapp.New(t, testapp.Options{DNSResolver: dns.Addr,
		Google: &oauth.Google{ClientID: g.ClientID, ClientSecret: g.ClientSecret, Issuer: g.URL}})
	e := &oauthEnv{t: t, a: a, owner: setUp(t, a), google: g}
	e.setUpGoogle() // allowed Workspace domains example.com and example.org
	verifyDomain(t, a, e.owner, dns, "acme", "example.org")
	for _, tt := range []struct {
		email, hd    string
		wantVerified bool
	}{
		{"ann@example.org", "example.org", true},
		{"ben@example.com", "example.com", false},
	} {
		c := a.Client(t)
		g.SetNextUser(googleUser(tt.email, tt.hd))
		c.Get("/auth/login/acme/")
		if res := e.follow(c, c.Post("/auth/login/acme/", nil)); res.Location != "/organizations/acme/" {
			t.Fatalf("%s: %d %s", tt.email, res.Status, res.Location)
		}
		if n := count(t, a, "SELECT count(*) FROM users WHERE email = ? AND email_verified = ? AND (created_by_org_id IS NULL) = ?",
			tt.email, tt.wantVerified, tt.wantVerified); n != 1 {
			t.Errorf("%s: not verified=%v", tt.email, tt.wantVerified)
		}
	}
	c := a.Client(t)
	c.Get("/auth/login/")
	res := hxPost(c, "/auth/login/", url.Values{"email": {"new@example.org"}})
	if to := res.Header.Get("HX-Redirect"); res.Status != http.StatusNoContent || !strings.HasPrefix(to, g.URL) {
		t.Fatalf("email-first to Google: %d %q", res.Status, to)
	}
}
