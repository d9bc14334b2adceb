package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models/samlsp/samltest"
)

// A password login as another account in a browser that did SSO as someone else does
// not inherit that SSO (Require SSO stays in force for the new account).
func TestSignInAsAnotherAccountDropsTheOldSession(t *testing.T) {
	e := newSSOEnv(t, true)
	bob := inviteAndJoin(t, e.a, e.owner, "bob@example.com", "member")
	res := e.answer(bob, bob.Post("/auth/login/acme/", nil), user("bob-idp", "bob@example.com"))
	bob.Post(res.Location, url.Values{"method": {"password"}, "password": {"user password"}}) // bob linked, SSO session
	carol := inviteAndJoin(t, e.a, e.owner, "carol@example.com", "member")
	res = e.answer(carol, carol.Post("/auth/login/acme/", nil), user("carol-idp", "carol@example.com"))
	carol.Post(res.Location, url.Values{"method": {"password"}, "password": {"user password"}}) // carol linked too
	e.saveSettings(e.owner, true, "member", "168")
	// In bob's browser (SSO done as bob), a password login as carol.
	bob.Get("/auth/login/")
	bob.Post("/auth/login/", url.Values{"email": {"carol@example.com"}, "password": {"user password"}, "next": {"/organizations/acme/"}})
	if res := bob.Get("/organizations/acme/"); res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/login/acme/") {
		t.Fatalf("carol reached the org with bob's SSO: %d %s", res.Status, res.Location)
	}
}

// The link page's password proof is rate-limited like the login form.
func TestLinkPasswordAttemptsAreLimited(t *testing.T) {
	e := newSSOEnv(t, true)
	signUp(t, e.a, "target@example.com")
	c := e.a.Client(t)
	res := e.answer(c, c.Post("/auth/login/acme/", nil), user("t-1", "target@example.com"))
	var last int
	for i := 0; i < 11; i++ {
		last = c.Post(res.Location, url.Values{"method": {"password"}, "password": {"guess"}}).Status
	}
	page := c.Post(res.Location, url.Values{"method": {"password"}, "password": {"user password"}})
	if last == http.StatusSeeOther || page.Status == http.StatusSeeOther || !strings.Contains(page.Body, "Too many password attempts") {
		t.Fatalf("unlimited guesses: last %d, then %d", last, page.Status)
	}
}

// A numeric slug would shadow an org id in the SCIM base URL.
func TestNumericSlugRefused(t *testing.T) {
	e := newSSOEnv(t, false)
	if res := e.owner.Post("/organizations/new/", url.Values{"name": {"Numbers"}, "slug": {"17"}}); res.Status != 422 {
		t.Fatalf("numeric slug: %d", res.Status)
	}
}

// Replacing an active provider's IdP cannot be used to sign in as linked users: only an
// owner may do it, and it makes the provider pending with every link cleared.
func TestReplacingTheIdPResetsTrust(t *testing.T) {
	e := newSSOEnv(t, true)
	manager := inviteAndJoin(t, e.a, e.owner, "mgr@example.com", "manager")
	evil := samltest.New(t, "https://evil.example")
	form := func() url.Values { // a fresh map per request (Post adds the client's CSRF token)
		return url.Values{"method": {"xml"}, "metadata_xml": {string(evil.Metadata())}, "map_identifier": {"NameID"}, "map_email": {"email"}}
	}
	if res := manager.Post("/settings/acme/auth/configure/okta/", form()); res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Body, "Only an owner") {
		t.Fatalf("manager swapped the IdP: %d", res.Status)
	}
	// A mapping-only change by a manager (same IdP) is fine.
	same := url.Values{"method": {"xml"}, "metadata_xml": {string(e.idp.Metadata())}, "map_identifier": {"NameID"}, "map_email": {"email"}, "map_first_name": {"givenName"}}
	if res := manager.Post("/settings/acme/auth/configure/okta/", same); res.Status != http.StatusSeeOther {
		t.Fatalf("manager's harmless edit: %d", res.Status)
	}
	if n := count(t, e.a, "SELECT count(*) FROM auth_providers WHERE status = 'active'"); n != 1 {
		t.Fatal("a harmless edit deactivated the provider")
	}
	// The owner swaps the IdP: pending, links gone, the old identity no longer signs in.
	if res := e.owner.Post("/settings/acme/auth/configure/okta/", form()); res.Status != http.StatusSeeOther {
		t.Fatalf("owner swap: %d %s", res.Status, res.Body)
	}
	if n := count(t, e.a, "SELECT count(*) FROM auth_identities") + count(t, e.a, "SELECT count(*) FROM auth_providers WHERE status = 'active'"); n != 0 {
		t.Fatalf("links or active status survived: %d", n)
	}
	// The owner, linked before, now shows as "invalid" on the members page.
	row := e.owner.Get("/settings/acme/members/").Doc.Find(`[data-testid="member-row"][data-email="owner@example.com"]`)
	if !strings.Contains(row.Text(), "invalid") {
		t.Fatalf("owner's SSO status: %q", row.Text())
	}
	evilSP := e.sp
	c := e.a.Client(t)
	if res := postToACS(c, "acme", evil.Response(t, evilSP, user("owner-1", "owner@example.com"), samltest.Options{}), ""); res.Status == http.StatusSeeOther {
		t.Fatal("the new IdP signed in as the owner")
	}
}

// An attacker who pushes their own sign-in's response into a victim's browser cannot
// get the victim to link: the link belongs to the session that started the sign-in.
func TestPushedLinkIsRefused(t *testing.T) {
	e := newSSOEnv(t, true)
	victim := signUp(t, e.a, "victim@example.com")
	attacker := e.a.Client(t)
	relay, id := authnRequest(t, attacker.Post("/auth/login/acme/", nil))
	raw := e.idp.Response(t, e.sp, user("evil-1", "victim@example.com"), samltest.Options{InResponseTo: id})
	res := e.post(victim, raw, relay) // the auto-submitting form runs in the victim's browser
	// The response answers a request the victim's session did not make: refused where
	// the browser's session is known (the same-site completion step), before any link.
	if res.Status != http.StatusForbidden {
		t.Fatalf("completion in the victim's browser: %d %s", res.Status, res.Location)
	}
	if n := count(t, e.a, "SELECT count(*) FROM pending_links") + count(t, e.a, "SELECT count(*) FROM auth_identities WHERE idp_user_id = 'evil-1'"); n != 0 {
		t.Fatal("a link was started or made")
	}
	if n := count(t, e.a, "SELECT count(*) FROM sso_signins WHERE reason = 'other_browser'"); n != 1 {
		t.Fatalf("sign-in log: %d other_browser entries", n)
	}
}

// An account an IdP created just in time, later claimed through a password reset by
// the mailbox's owner, keeps no IdP link (pre-account hijacking).
func TestClaimingAJITAccountDropsItsLinks(t *testing.T) {
	e := newSSOEnv(t, true)
	c := e.a.Client(t)
	e.answer(c, c.Post("/auth/login/acme/", nil), user("jit-1", "jit@example.com"))
	if n := count(t, e.a, "SELECT count(*) FROM auth_identities WHERE idp_user_id = 'jit-1'"); n != 1 {
		t.Fatal("no JIT link")
	}
	owner := e.a.Client(t)
	owner.Get("/auth/password/reset/")
	owner.Post("/auth/password/reset/", url.Values{"email": {"jit@example.com"}})
	var token string
	if err := e.a.DB.Bun.NewRaw(`SELECT args->'data'->>'token' FROM river_job WHERE args->>'template' = 'password_reset'`).Scan(t.Context(), &token); err != nil {
		t.Fatal(err)
	}
	if res := owner.Post("/auth/password/reset/"+token+"/", url.Values{"password": {"my own password"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("reset: %d", res.Status)
	}
	if n := count(t, e.a, "SELECT count(*) FROM auth_identities WHERE idp_user_id = 'jit-1'"); n != 0 {
		t.Fatal("the IdP link survived the mailbox owner's claim")
	}
}

// Recent sign-ins show 50 per page, the last 200 at most.
func TestRecentSignInsPaging(t *testing.T) {
	e := newSSOEnv(t, true)
	if _, err := e.a.DB.Bun.NewRaw(`INSERT INTO sso_signins (org_id, outcome, reason) SELECT 1, 'failure', 'r' || i FROM generate_series(1, 260) i`).Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	p1 := e.owner.Get("/settings/acme/auth/")
	if n := p1.Doc.Find(`[data-testid="sso-attempt"]`).Length(); n != 50 || !p1.Has(`[data-testid="next-page"]`) || p1.Has(`[data-testid="prev-page"]`) {
		t.Fatalf("page 1: %d rows", n)
	}
	p4 := e.owner.Get("/settings/acme/auth/?signins=4")
	if n := p4.Doc.Find(`[data-testid="sso-attempt"]`).Length(); n != 50 || p4.Has(`[data-testid="next-page"]`) || !p4.Has(`[data-testid="prev-page"]`) {
		t.Fatalf("page 4 (the last of 200): %d rows", n)
	}
	if p := p4.Doc.Find(`[data-testid="prev-page"]`).AttrOr("href", ""); p != "/settings/acme/auth/?signins=3#recent-sign-ins" {
		t.Fatalf("prev link %q", p)
	}
}
