package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
	"gatehouse/models/dnscheck/dnstest"
	"gatehouse/models/mail"
	"gatehouse/models/mail/mailpit"
	"gatehouse/models/samlsp/samltest"
)

// signedIn reports whether the client's session is still a signed-in one.
func signedIn(c *testapp.Client) bool { return c.Get("/account/").Status == http.StatusOK }

// Domain capture (issue 15): turning it on ends, at once, the sessions of accounts at
// the verified domains that did not come from this org's SSO (as Require SSO does);
// verifying another domain while capture is on does the same for that domain. The
// acting owner's browser, SSO sessions of this org and other addresses keep theirs.
func TestDomainCaptureEndsPasswordSessions(t *testing.T) {
	e, dns := newDomainEnv(t)
	verifyDomain(t, e.a, e.owner, dns, "acme", "acme.test")
	ada := signUp(t, e.a, "ada@acme.test") // an account at the domain, not a member
	bea := inviteAndJoin(t, e.a, e.owner, "bea@acme.test", "member")
	cy := e.a.Client(t)
	if res := ssoSignIn(t, cy, "acme", e.idp, e.sp, user("cy", "cy@acme.test")); res.Status != http.StatusSeeOther {
		t.Fatalf("cy's SSO: %d", res.Status)
	}
	other := inviteAndJoin(t, e.a, e.owner, "otto@example.com", "member")
	dan := signUp(t, e.a, "dan@beta.test")
	for name, c := range map[string]*testapp.Client{"ada": ada, "bea": bea, "cy": cy, "otto": other, "dan": dan, "owner": e.owner} {
		if !signedIn(c) {
			t.Fatalf("%s is not signed in before capture", name)
		}
	}

	if res := e.owner.Post("/settings/acme/auth/domains/capture/", url.Values{"domain_capture": {"on"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("capture on: %d", res.Status)
	}
	if flash := e.owner.Get("/settings/acme/auth/").Text(`[data-testid="flash"]`); !strings.Contains(flash, "2 open sessions") {
		t.Errorf("flash after capture on: %q", flash)
	}
	for _, tt := range []struct {
		name string
		c    *testapp.Client
		want bool
	}{
		{"ada (password, not a member)", ada, false},
		{"bea (password member)", bea, false},
		{"cy (this org's SSO)", cy, true},
		{"otto (another domain)", other, true},
		{"dan (domain not verified yet)", dan, true},
		{"the acting owner", e.owner, true},
	} {
		if got := signedIn(tt.c); got != tt.want {
			t.Errorf("%s: signed in %v after capture on, want %v", tt.name, got, tt.want)
		}
	}
	var ended int
	if err := e.a.DB.Bun.NewRaw(`SELECT (details->>'sessions_ended')::int FROM audit_events WHERE event = ? ORDER BY id DESC LIMIT 1`,
		models.EventDomainCapture).Scan(context.Background(), &ended); err != nil || ended != 2 {
		t.Errorf("capture audit: sessions_ended %d (%v), want 2", ended, err)
	}

	// Verifying another domain while capture is on ends that domain's password sessions.
	verifyDomain(t, e.a, e.owner, dns, "acme", "beta.test")
	if signedIn(dan) {
		t.Error("dan's password session survived the verification of beta.test under capture")
	}
	if !signedIn(cy) || !signedIn(other) || !signedIn(e.owner) {
		t.Error("verifying beta.test ended sessions it should not have")
	}
	if err := e.a.DB.Bun.NewRaw(`SELECT (details->>'sessions_ended')::int FROM audit_events WHERE event = ? AND target_label = 'beta.test'`,
		models.EventDomainVerified).Scan(context.Background(), &ended); err != nil || ended != 1 {
		t.Errorf("verify audit: sessions_ended %d (%v), want 1", ended, err)
	}
}

// waitForSubject waits (at most 15 s) until Mailpit holds n messages whose subject
// starts with prefix and returns them.
func waitForSubject(t *testing.T, mp *mailpit.Server, prefix string, n int) []mailpit.Summary {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var out []mailpit.Summary
		for _, m := range mp.Messages(t) {
			if strings.HasPrefix(m.Subject, prefix) {
				out = append(out, m)
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The "domain lost" email has its own template (issue 15): what happened, what it
// changes, and the exact TXT record the owners must publish again — delivered through
// a real SMTP server (Mailpit) to every owner, in text and HTML.
func TestDomainLostEmail(t *testing.T) {
	mp := mailpit.Start(t)
	sender, err := mail.NewSMTP(mp.SMTPURL(), "Gatehouse <gatehouse@example.test>")
	if err != nil {
		t.Fatal(err)
	}
	dns := dnstest.New(t)
	e := newSSOEnvWith(t, testapp.Options{DNSResolver: dns.Addr, Sender: sender, Jobs: true}, true)
	inviteAndJoin(t, e.a, e.owner, "co@example.com", "owner")
	verifyDomain(t, e.a, e.owner, dns, "acme", "acme.test")
	var token string
	if err := e.a.DB.Bun.NewRaw("SELECT token FROM org_domains WHERE domain = 'acme.test'").Scan(context.Background(), &token); err != nil {
		t.Fatal(err)
	}
	if res := e.owner.Post("/settings/acme/auth/domains/capture/", url.Values{"domain_capture": {"on"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("capture on: %d", res.Status)
	}

	dns.Withdraw("acme.test")
	h := e.a.Handler
	if r, err := models.CheckDomains(context.Background(), h.DB.Bun, h.Mailer, h.Resolver, time.Now().Add(25*time.Hour)); err != nil || r.Lost != 1 {
		t.Fatalf("check: %+v %v", r, err)
	}
	msgs := waitForSubject(t, mp, "Acme Corp: the domain acme.test is no longer verified", 2)
	if got := recipients(msgs, "Acme Corp: the domain acme.test is no longer verified"); strings.Join(got, " ") != "co@example.com owner@example.com" {
		t.Fatalf("domain-lost email went to %v", got)
	}
	if n := count(t, e.a, `SELECT count(*) FROM river_job WHERE args->>'template' = 'trust_changed' AND args->'data'->>'what' LIKE '%DNS record%'`); n != 0 {
		t.Fatalf("%d generic trust-change emails for the loss", n)
	}
	var body struct{ Text, HTML string }
	mp.GetJSON(t, "/api/v1/message/"+msgs[0].ID, &body)
	record := "gatehouse-verification=" + token
	for _, part := range []struct{ name, body string }{{"text", body.Text}, {"HTML", body.HTML}} {
		for _, want := range []string{
			"_gatehouse-verification.acme.test", // the record's name
			record,                              // its value, to publish again
			"TXT",
			"no longer verified",
			"domain capture",       // what stops working meanwhile
			"/settings/acme/auth/", // where to press Verify
			"72 hours",             // we keep checking
		} {
			if !strings.Contains(part.body, want) {
				t.Errorf("%s body lacks %q:\n%s", part.name, want, part.body)
			}
		}
	}
}

// openSessions counts the unexpired sessions of the account with email.
func openSessions(t *testing.T, a *testapp.App, email string) int {
	t.Helper()
	return count(t, a, "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE lower(u.email) = lower(?) AND s.expiry > now()", email)
}

// toIdP is the IdP URL (with its AuthnRequest) a routed answer sends the browser to,
// as a redirect response for answer/authnRequest: a boosted form gets HX-Redirect, a
// plain one a page that continues by itself (Refresh) — never a session.
func toIdP(t *testing.T, res *testapp.Response) *testapp.Response {
	t.Helper()
	to := res.Header.Get("HX-Redirect")
	if res.Status == http.StatusOK {
		refresh := res.Header.Get("Refresh")
		to = strings.TrimPrefix(refresh, "0; url=")
		if to == refresh {
			t.Fatalf("no Refresh to the IdP on the %d page (Refresh %q)\n%s", res.Status, refresh, res.Body)
		}
		if href, _ := res.Doc.Find(`[data-testid="idp-continue-link"]`).Attr("href"); href != to {
			t.Fatalf("the continue link %q is not the Refresh URL %q", href, to)
		}
	} else if res.Status != http.StatusNoContent || to == "" {
		t.Fatalf("expected a way to the IdP, got %d %q %q\n%s", res.Status, res.Location, to, res.Body)
	}
	return &testapp.Response{Status: http.StatusSeeOther, Location: to}
}

// acceptAsSignedIn accepts the newest invitation to email in the browser c (signed in
// as that account).
func acceptAsSignedIn(t *testing.T, a *testapp.App, c *testapp.Client, email string) {
	t.Helper()
	link := "/accept/" + mailToken(t, a, email, "invitation") + "/"
	c.Get(link)
	if res := c.Post(link, nil); res.Status != http.StatusSeeOther {
		t.Fatalf("accept as %s: %d\n%s", email, res.Status, res.Body)
	}
}

// Issue 14 item 7: under Require SSO a password opens no session for an account whose
// every organization requires SSO: the browser goes on to the IdP before any session
// exists. An account with an organization that takes passwords gets its session, and
// the SSO-required org stays closed to it. A wrong password answers as for an unknown
// account; a password reset follows the same rule.
func TestPasswordLoginUnderRequireSSO(t *testing.T) {
	e := newSSOEnv(t, true) // the owner linked SSO at activation
	inviteAndJoin(t, e.a, e.owner, "bob@example.com", "member")
	carol := signUp(t, e.a, "carol@example.com")
	if res := carol.Post("/organizations/new/", url.Values{"name": {"Beta"}, "slug": {"beta"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("beta: %d", res.Status)
	}
	if res := e.owner.Post("/settings/acme/members/invite/", url.Values{"email": {"carol@example.com"}, "role": {"member"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("invite carol: %d", res.Status)
	}
	acceptAsSignedIn(t, e.a, carol, "carol@example.com")
	if res := e.saveSettings(e.owner, true, "member", "168"); res.Status != http.StatusSeeOther {
		t.Fatalf("require SSO: %d", res.Status)
	}

	// Bob (only in acme): the right password continues to the IdP, no session.
	bob := e.a.Client(t)
	bob.Get("/auth/login/")
	res := bob.Post("/auth/login/", url.Values{"email": {"bob@example.com"}, "password": {"user password"}})
	start := toIdP(t, res)
	if !strings.HasPrefix(start.Location, e.idp.SSOURL+"?") {
		t.Fatalf("bob's password login continues to %q", start.Location)
	}
	if !strings.Contains(res.Text(`[data-testid="sso-continue"]`), "Acme Corp requires single sign-on") {
		t.Errorf("the page does not say why: %q", res.Text(`[data-testid="sso-continue"]`))
	}
	if n := openSessions(t, e.a, "bob@example.com"); n != 0 || signedIn(bob) {
		t.Fatalf("bob's password opened %d session(s)", n)
	}
	hx := hxPost(bob, "/auth/login/", url.Values{"email": {"bob@example.com"}, "password": {"user password"}})
	if idpOf(hx) != e.idp.SSOURL {
		t.Fatalf("boosted form: %d %q", hx.Status, idpOf(hx))
	}
	start = toIdP(t, hx) // this browser's latest sign-in is the one it can finish
	if n := openSessions(t, e.a, "bob@example.com"); n != 0 {
		t.Fatalf("the boosted form opened %d session(s)", n)
	}
	// A wrong password says what it says for an address without an account.
	for _, email := range []string{"bob@example.com", "nobody@example.com"} {
		res := bob.Post("/auth/login/", url.Values{"email": {email}, "password": {"wrong password"}})
		if res.Status != http.StatusUnprocessableEntity || res.Text(`[data-testid="error-form"]`) != "Wrong email or password." {
			t.Fatalf("%s, wrong password: %d %q", email, res.Status, res.Text(`[data-testid="error-form"]`))
		}
	}
	// Bob finishes at the IdP (linking with his password) and is in, through SSO.
	res = e.answer(bob, start, user("bob-idp", "bob@example.com"))
	if !strings.HasPrefix(res.Location, "/auth/link/") {
		t.Fatalf("bob at the IdP: %d %s", res.Status, res.Location)
	}
	bob.Post(res.Location, url.Values{"method": {"password"}, "password": {"user password"}})
	if res := bob.Get("/organizations/acme/"); res.Status != http.StatusOK {
		t.Fatalf("bob after SSO: %d %s", res.Status, res.Location)
	}

	// Carol also belongs to beta, which takes passwords: she gets a session, and acme
	// still sends her to its SSO.
	c := e.a.Client(t)
	c.Get("/auth/login/")
	if res := c.Post("/auth/login/", url.Values{"email": {"carol@example.com"}, "password": {"user password"}}); res.Status != http.StatusSeeOther || res.Location != "/" {
		t.Fatalf("carol's password login: %d %s", res.Status, res.Location)
	}
	if c.Get("/organizations/beta/").Status != http.StatusOK {
		t.Fatal("carol cannot open beta")
	}
	if res := c.Get("/organizations/acme/"); res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/login/acme/") {
		t.Fatalf("carol's password session reached acme: %d %s", res.Status, res.Location)
	}

	// A password reset saves the new password but opens no session for bob either.
	r := e.a.Client(t)
	r.Get("/auth/password/reset/")
	r.Post("/auth/password/reset/", url.Values{"email": {"bob@example.com"}})
	link := "/auth/password/reset/" + mailToken(t, e.a, "bob@example.com", "password_reset") + "/"
	r.Get(link)
	res = r.Post(link, url.Values{"password": {"a new password"}})
	if start := toIdP(t, res); !strings.HasPrefix(start.Location, e.idp.SSOURL+"?") {
		t.Fatalf("after the reset: %q", start.Location)
	}
	if signedIn(r) {
		t.Fatal("the password reset signed bob in")
	}

	// An owner has linked: the org login page offers no password fallback.
	if page := e.a.Client(t).Get("/auth/login/acme/"); page.Has(`[data-testid="password-fallback"]`) {
		t.Fatalf("fallback offered although an owner linked: %q", page.Text(`[data-testid="password-fallback"]`))
	}
}

// The owner fallback is offered only where it can work: on the org login page while
// no owner has linked (a fact about the org, the same for every visitor: it tells
// nobody who is an owner). There an unlinked owner's password opens a session and
// the org; a member who tries it goes on to the IdP instead of looping back.
func TestOwnerFallbackOnlyWhereItWorks(t *testing.T) {
	e := newSSOEnv(t, false)
	inviteAndJoin(t, e.a, e.owner, "bob@example.com", "member")
	if err := models.ActivateProvider(context.Background(), e.a.DB.Bun, e.a.Handler.Mailer, 1, models.System("test")); err != nil {
		t.Fatal(err)
	}
	if res := e.saveSettings(e.owner, true, "member", "168"); res.Status != http.StatusSeeOther {
		t.Fatalf("require SSO: %d %s", res.Status, res.Body)
	}
	visitor := e.a.Client(t)
	page := visitor.Get("/auth/login/acme/")
	href, ok := page.Doc.Find(`[data-testid="password-fallback"]`).Attr("href")
	if !ok || !strings.Contains(page.Text(`[data-testid="password-fallback"]`), "Owners") {
		t.Fatalf("no owner fallback while no owner linked: %q", page.Text(`[data-testid="password-fallback"]`))
	}

	// The owner: a session, and the org (audited fallback).
	o := e.a.Client(t)
	o.Get(href)
	res := o.Post("/auth/login/", url.Values{"email": {"owner@example.com"}, "password": {"owner password"}, "next": {"/organizations/acme/"}})
	if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("owner's fallback login: %d %s", res.Status, res.Location)
	}
	if o.Get("/organizations/acme/").Status != http.StatusOK {
		t.Fatal("the owner fallback does not open the org")
	}
	// Bob follows the same link: on to the IdP, no session, no loop.
	bob := e.a.Client(t)
	bob.Get(href)
	res = bob.Post("/auth/login/", url.Values{"email": {"bob@example.com"}, "password": {"user password"}, "next": {"/organizations/acme/"}})
	if start := toIdP(t, res); !strings.HasPrefix(start.Location, e.idp.SSOURL+"?") {
		t.Fatalf("bob: %q", start.Location)
	}
	if !strings.Contains(res.Text(`[data-testid="sso-continue"]`), "only for owners") {
		t.Errorf("bob is not told the fallback is for owners: %q", res.Text(`[data-testid="sso-continue"]`))
	}
	if signedIn(bob) {
		t.Fatal("bob signed in by password")
	}

	// Once an owner links, the fallback is gone from the page.
	res = e.answer(o, o.Post("/auth/login/acme/", nil), user("owner-1", "owner@example.com"))
	if strings.HasPrefix(res.Location, "/auth/link/") {
		res = o.Post(res.Location, url.Values{"method": {"session"}})
	}
	if res.Status != http.StatusSeeOther || e.count("SELECT count(*) FROM members WHERE role = 'owner' AND sso_linked") != 1 {
		t.Fatalf("owner's link: %d %s", res.Status, res.Location)
	}
	if visitor.Get("/auth/login/acme/").Has(`[data-testid="password-fallback"]`) {
		t.Fatal("the fallback is still offered after an owner linked")
	}
}

// Issue 14 item 8 (SPEC §1 "Where the org requires SSO, accepting goes through SSO"):
// the invitation page of an SSO-required org offers the IdP, not a password; the SSO
// sign-in that follows accepts the invitation with its role. No password account can
// be made through the link, on any channel. An owner invitation is never accepted by
// SSO (issue 9): its page says what to do instead.
func TestInvitationUnderRequireSSO(t *testing.T) {
	e := newSSOEnv(t, true)
	if res := e.saveSettings(e.owner, true, "member", "168"); res.Status != http.StatusSeeOther {
		t.Fatalf("require SSO: %d", res.Status)
	}
	if res := e.owner.Post("/settings/acme/members/invite/", url.Values{"email": {"ivy@example.com"}, "role": {"admin"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("invite: %d", res.Status)
	}
	link := "/accept/" + mailToken(t, e.a, "ivy@example.com", "invitation") + "/"
	ivy := e.a.Client(t)
	page := ivy.Get(link)
	if page.Status != http.StatusOK || !page.Has(`[data-testid="accept-sso"]`) || page.Has(`#f-password`) {
		t.Fatalf("accept page: %d, SSO button %v, password field %v", page.Status, page.Has(`[data-testid="accept-sso"]`), page.Has(`#f-password`))
	}
	if !strings.Contains(page.Text(`[data-testid="accept-invitation"]`), "Acme Corp requires single sign-on") {
		t.Errorf("the page does not say why: %q", page.Text(`[data-testid="accept-invitation"]`))
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://idp.example") {
		t.Errorf("the accept form cannot reach the IdP: %s", csp)
	}
	// Posting a password anyway (an old form) creates no account: it goes to the IdP.
	res := ivy.Post(link, url.Values{"name": {"Ivy"}, "email": {"ivy@example.com"}, "password": {"ivy password"}})
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, e.idp.SSOURL+"?") {
		t.Fatalf("accept POST: %d %s", res.Status, res.Location)
	}
	if n := e.count("SELECT count(*) FROM users WHERE email = 'ivy@example.com'"); n != 0 {
		t.Fatal("a password account was made for the invitee")
	}
	// The IdP's answer accepts the invitation, with its role.
	res = e.answer(ivy, res, user("ivy-idp", "ivy@example.com"))
	if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("after the IdP: %d %s", res.Status, res.Location)
	}
	if n := e.count(`SELECT count(*) FROM members m JOIN users u ON u.id = m.user_id WHERE u.email = 'ivy@example.com'
		AND m.role = 'admin' AND m.sso_linked AND u.password_hash IS NULL`); n != 1 {
		t.Fatal("the invitation was not accepted with its role through SSO")
	}
	if ivy.Get("/organizations/acme/").Status != http.StatusOK {
		t.Fatal("ivy cannot open the org")
	}
	if res := e.a.Client(t).Get(link); res.Status != http.StatusNotFound {
		t.Fatalf("the used link still works: %d", res.Status)
	}

	// The rule holds on every channel: the model refuses a password account too.
	if res := e.owner.Post("/settings/acme/members/invite/", url.Values{"email": {"jo@example.com"}, "role": {"member"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("invite jo: %d", res.Status)
	}
	_, _, err := models.AcceptInvitationAsNewUser(context.Background(), e.a.DB.Bun, mailToken(t, e.a, "jo@example.com", "invitation"),
		models.NewUser{Email: "jo@example.com", Name: "Jo", Password: "jo password 1"}, "")
	if err == nil || e.count("SELECT count(*) FROM users WHERE email = 'jo@example.com'") != 0 {
		t.Fatalf("AcceptInvitationAsNewUser under Require SSO: %v", err)
	}

	// An owner invitation: never accepted by SSO; the page says how instead.
	if res := e.owner.Post("/settings/acme/members/invite/", url.Values{"email": {"olga@example.com"}, "role": {"owner"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("invite olga: %d", res.Status)
	}
	olga := e.a.Client(t)
	link = "/accept/" + mailToken(t, e.a, "olga@example.com", "invitation") + "/"
	page = olga.Get(link)
	if page.Has(`[data-testid="accept-sso"]`) || !page.Has(`#f-password`) ||
		!strings.Contains(page.Text(`[data-testid="owner-invite-sso"]`), "never accepted through single sign-on") {
		t.Fatalf("owner invitation page: SSO %v, password %v, %q", page.Has(`[data-testid="accept-sso"]`), page.Has(`#f-password`), page.Text(`[data-testid="owner-invite-sso"]`))
	}
	// Olga accepts with an account; as an unlinked owner where an owner has linked,
	// her new password opens no session: on to the IdP, where she links it.
	res = olga.Post(link, url.Values{"name": {"Olga"}, "email": {"olga@example.com"}, "password": {"olga password"}})
	start := toIdP(t, res)
	if e.count(`SELECT count(*) FROM members m JOIN users u ON u.id = m.user_id WHERE u.email = 'olga@example.com' AND m.role = 'owner'`) != 1 || signedIn(olga) {
		t.Fatal("olga's invitation: not an owner, or signed in by password")
	}
	res = e.answer(olga, start, user("olga-idp", "olga@example.com"))
	if !strings.HasPrefix(res.Location, "/auth/link/") {
		t.Fatalf("olga at the IdP: %d %s", res.Status, res.Location)
	}
	olga.Post(res.Location, url.Values{"method": {"password"}, "password": {"olga password"}})
	if res := olga.Get("/settings/acme/auth/"); res.Status != http.StatusOK {
		t.Fatalf("olga after linking: %d %s", res.Status, res.Location)
	}
}

// Issue 15: under domain capture an invitation for an address at the captured domain
// goes through the org's SSO (no password account at the domain); an invitation of
// another org for such an address sends the person to the capturing org's SSO first.
func TestInvitationAtCapturedDomain(t *testing.T) {
	e, dns := newDomainEnv(t)
	verifyDomain(t, e.a, e.owner, dns, "acme", "acme.test")
	if res := e.owner.Post("/settings/acme/auth/domains/capture/", url.Values{"domain_capture": {"on"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("capture on: %d", res.Status)
	}
	if res := e.owner.Post("/settings/acme/members/invite/", url.Values{"email": {"gus@acme.test"}, "role": {"admin"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("invite: %d", res.Status)
	}
	link := "/accept/" + mailToken(t, e.a, "gus@acme.test", "invitation") + "/"
	gus := e.a.Client(t)
	if page := gus.Get(link); !page.Has(`[data-testid="accept-sso"]`) || page.Has(`#f-password`) {
		t.Fatalf("captured address: SSO %v, password %v", page.Has(`[data-testid="accept-sso"]`), page.Has(`#f-password`))
	}
	res := gus.Post(link, url.Values{"name": {"Gus"}, "email": {"gus@acme.test"}, "password": {"gus password"}})
	if n := e.count("SELECT count(*) FROM users WHERE email = 'gus@acme.test'"); n != 0 {
		t.Fatal("a password account was made at the captured domain")
	}
	if res = e.answer(gus, res, user("gus-idp", "gus@acme.test")); res.Location != "/organizations/acme/" {
		t.Fatalf("after the IdP: %d %s", res.Status, res.Location)
	}
	if n := e.count(`SELECT count(*) FROM members m JOIN users u ON u.id = m.user_id WHERE u.email = 'gus@acme.test' AND m.role = 'admin'`); n != 1 {
		t.Fatal("the invitation was not accepted through SSO")
	}

	// Another org (passwords, no SSO) invites an address at acme's captured domain.
	carol := signUp(t, e.a, "carol@example.com")
	if res := carol.Post("/organizations/new/", url.Values{"name": {"Beta"}, "slug": {"beta"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("beta: %d", res.Status)
	}
	if res := carol.Post("/settings/beta/members/invite/", url.Values{"email": {"hal@acme.test"}, "role": {"member"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("invite hal: %d", res.Status)
	}
	link = "/accept/" + mailToken(t, e.a, "hal@acme.test", "invitation") + "/"
	hal := e.a.Client(t)
	page := hal.Get(link)
	if href, _ := page.Doc.Find(`[data-testid="accept-captured"] a`).Attr("href"); href != "/auth/login/acme/" || page.Has(`#f-password`) {
		t.Fatalf("captured elsewhere: link %q, password %v", href, page.Has(`#f-password`))
	}
	if res := hal.Post(link, url.Values{"name": {"Hal"}, "email": {"hal@acme.test"}, "password": {"hal password"}}); res.Status != http.StatusUnprocessableEntity ||
		e.count("SELECT count(*) FROM users WHERE email = 'hal@acme.test'") != 0 {
		t.Fatalf("a password account at acme's captured domain through beta's invitation: %d %s", res.Status, res.Location)
	}
}

// The same door when the org's SSO is Google Workspace: a member's password opens no
// session and continues to Google; Google's answer signs the member in (linked by
// the password proof) and opens the org.
func TestPasswordLoginUnderRequireSSOWithGoogle(t *testing.T) {
	e := newOAuthEnv(t)
	e.setUpGoogle()
	inviteAndJoin(t, e.a, e.owner, "bob@example.com", "member")
	if res := e.owner.Post("/settings/acme/auth/settings/", url.Values{"require_sso": {"1"}, "default_role": {"member"},
		"sso_session_hours": {"168"}, "allow_idp_initiated": {"1"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("require SSO: %d %s", res.Status, res.Body)
	}
	bob := e.a.Client(t)
	bob.Get("/auth/login/")
	res := bob.Post("/auth/login/", url.Values{"email": {"bob@example.com"}, "password": {"user password"}})
	start := toIdP(t, res)
	if !strings.HasPrefix(start.Location, e.google.URL) {
		t.Fatalf("bob's password login continues to %q, not Google", start.Location)
	}
	if n := openSessions(t, e.a, "bob@example.com"); n != 0 || signedIn(bob) {
		t.Fatalf("bob's password opened %d session(s)", n)
	}
	e.google.SetNextUser(googleUser("bob@example.com", "example.com"))
	res = e.follow(bob, start)
	if !strings.HasPrefix(res.Location, "/auth/link/") {
		t.Fatalf("bob back from Google: %d %s", res.Status, res.Location)
	}
	bob.Post(res.Location, url.Values{"method": {"password"}, "password": {"user password"}})
	if res := bob.Get("/organizations/acme/"); res.Status != http.StatusOK {
		t.Fatalf("bob after Google: %d %s", res.Status, res.Location)
	}
}

// Domain capture takes effect with an active provider: turned on before activation it
// ends nothing (sign-ins still use passwords then), and activation ends the password
// sessions at the captured domains.
func TestDomainCaptureTakesEffectAtActivation(t *testing.T) {
	dns := dnstest.New(t)
	e := newSSOEnvWith(t, testapp.Options{DNSResolver: dns.Addr}, false)
	verifyDomain(t, e.a, e.owner, dns, "acme", "acme.test")
	ada := signUp(t, e.a, "ada@acme.test")
	if res := e.owner.Post("/settings/acme/auth/domains/capture/", url.Values{"domain_capture": {"on"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("capture on: %d", res.Status)
	}
	if !signedIn(ada) {
		t.Fatal("capture without an active provider ended ada's session")
	}
	res := e.answer(e.owner, e.owner.Post("/settings/acme/auth/activate/", nil), user("owner-1", "owner@example.com"))
	if res.Status != http.StatusSeeOther || res.Location != "/settings/acme/auth/" {
		t.Fatalf("activation: %d %s", res.Status, res.Location)
	}
	if signedIn(ada) {
		t.Fatal("ada's password session survived the activation under capture")
	}
	if !signedIn(e.owner) {
		t.Fatal("the activating owner lost the session")
	}
}

// An account in several organizations that all require SSO: its password opens no
// session, and the page offers each org's login page.
func TestPasswordLoginWithSeveralSSOOrgs(t *testing.T) {
	e := newSSOEnv(t, true)
	betaOwner, _, _ := newSAMLOrg(t, e.a, "bea@beta.test", "beta", "https://idp.beta.test")
	dora := inviteAndJoin(t, e.a, e.owner, "dora@example.com", "member")
	if res := betaOwner.Post("/settings/beta/members/invite/", url.Values{"email": {"dora@example.com"}, "role": {"member"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("invite dora to beta: %d", res.Status)
	}
	acceptAsSignedIn(t, e.a, dora, "dora@example.com")
	for slug, c := range map[string]*testapp.Client{"acme": e.owner, "beta": betaOwner} {
		// A fresh form each time: Post adds the client's CSRF token to it.
		require := url.Values{"require_sso": {"1"}, "default_role": {"member"}, "sso_session_hours": {"168"}, "allow_idp_initiated": {"1"}}
		if res := c.Post("/settings/"+slug+"/auth/settings/", require); res.Status != http.StatusSeeOther {
			t.Fatalf("require SSO in %s: %d %s", slug, res.Status, res.Body)
		}
	}
	c := e.a.Client(t)
	c.Get("/auth/login/")
	res := c.Post("/auth/login/", url.Values{"email": {"dora@example.com"}, "password": {"user password"}, "next": {"/organizations/beta/"}})
	var hrefs []string
	res.Doc.Find(`[data-testid="sso-choose"] [data-testid="sso-choice"]`).Each(func(_ int, s *goquery.Selection) {
		h, _ := s.Attr("href")
		hrefs = append(hrefs, h)
	})
	if res.Status != http.StatusOK || strings.Join(hrefs, " ") != "/auth/login/acme/?next=%2Forganizations%2Fbeta%2F /auth/login/beta/?next=%2Forganizations%2Fbeta%2F" {
		t.Fatalf("several SSO orgs: %d %v", res.Status, hrefs)
	}
	if n := openSessions(t, e.a, "dora@example.com"); n != 0 || signedIn(c) {
		t.Fatalf("dora's password opened %d session(s)", n)
	}
}

// An IdP that takes AuthnRequests by HTTP-POST only, reached by email routing: a plain
// form gets the self-submitting POST page (its CSP allows the IdP); a boosted one goes
// to the org's login page, whose CSP allows the IdP (a form swapped into the login
// page would keep the login page's form-action 'self').
func TestRoutedSignInToPostOnlyIdP(t *testing.T) {
	dns := dnstest.New(t)
	a := testapp.New(t, testapp.Options{DNSResolver: dns.Addr})
	owner := setUp(t, a)
	idp := samltest.New(t, "https://idp.example")
	md := regexp.MustCompile(`<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2\.0:bindings:HTTP-Redirect"[^>]*>(</SingleSignOnService>)?`).ReplaceAllString(string(idp.Metadata()), "")
	if res := owner.Post("/settings/acme/auth/configure/saml2/", url.Values{"method": {"xml"}, "metadata_xml": {md},
		"map_identifier": {"NameID"}, "map_email": {"email"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("configure: %d", res.Status)
	}
	if err := models.ActivateProvider(context.Background(), a.DB.Bun, a.Handler.Mailer, 1, models.System("test")); err != nil {
		t.Fatal(err)
	}
	verifyDomain(t, a, owner, dns, "acme", "acme.test")
	c := a.Client(t)
	c.Get("/auth/login/")
	res := c.Post("/auth/login/", url.Values{"email": {"ann@acme.test"}})
	if form := res.Doc.Find(`[data-testid="sso-post-form"]`); res.Status != http.StatusOK || form.AttrOr("action", "") != idp.SSOURL ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "form-action 'self' https://idp.example") {
		t.Fatalf("plain form: %d %q %q", res.Status, form.AttrOr("action", ""), res.Header.Get("Content-Security-Policy"))
	}
	if res := hxPost(c, "/auth/login/", url.Values{"email": {"ann@acme.test"}}); res.Status != http.StatusNoContent || res.Header.Get("HX-Redirect") != "/auth/login/acme/" {
		t.Fatalf("boosted form: %d %q", res.Status, res.Header.Get("HX-Redirect"))
	}
}
