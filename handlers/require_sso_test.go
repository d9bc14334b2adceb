package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
	"gatehouse/models/mail"
	"gatehouse/models/mail/mailpit"
	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// inviteAndJoin invites email into acme and accepts it with a new password account.
func inviteAndJoin(t *testing.T, a *testapp.App, owner *testapp.Client, email, role string) *testapp.Client {
	t.Helper()
	if res := owner.Post("/settings/acme/members/invite/", url.Values{"email": {email}, "role": {role}}); res.Status != http.StatusSeeOther {
		t.Fatalf("invite %s: %d %s", email, res.Status, res.Body)
	}
	var token string
	if err := a.DB.Bun.NewRaw(`SELECT args->'data'->>'token' FROM river_job WHERE args->>'template' = 'invitation' AND args->>'to' = ? ORDER BY id DESC LIMIT 1`, email).Scan(context.Background(), &token); err != nil {
		t.Fatal(err)
	}
	c := a.Client(t)
	c.Get("/accept/" + token + "/")
	if res := c.Post("/accept/"+token+"/", url.Values{"name": {"N " + email}, "email": {email}, "password": {"user password"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("accept %s: %d", email, res.Status)
	}
	return c
}

func (e *ssoEnv) saveSettings(c *testapp.Client, require bool, role, hours string) *testapp.Response {
	e.t.Helper()
	v := url.Values{"default_role": {role}, "sso_session_hours": {hours}, "allow_idp_initiated": {"1"}}
	if require {
		v.Set("require_sso", "1")
	}
	return c.Post("/settings/acme/auth/settings/", v)
}

func TestRequireSSOEnforcement(t *testing.T) {
	e := newSSOEnv(t, true) // the owner's browser completed SSO during activation
	bob := inviteAndJoin(t, e.a, e.owner, "bob@example.com", "member")
	if bob.Get("/organizations/acme/").Status != 200 {
		t.Fatal("bob has no access before Require SSO")
	}
	// Enabling ends bob's password session at once; the owner's SSO session stays.
	res := e.saveSettings(e.owner, true, "member", "168")
	if res.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", res.Status, res.Body)
	}
	if flash := e.owner.Get("/settings/acme/auth/").Text(`[data-testid="flash"]`); !strings.Contains(flash, "1 open session of members without SSO was signed out") {
		t.Fatalf("flash %q", flash)
	}
	if res := bob.Get("/organizations/acme/"); res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/login/") {
		t.Fatalf("bob's session survived: %d %s", res.Status, res.Location)
	}
	if e.owner.Get("/organizations/acme/").Status != 200 {
		t.Fatal("the acting owner lost access")
	}
	// Bob's password login leads into the org's SSO without a session (see
	// TestPasswordLoginUnderRequireSSO), and so does any org page.
	bob.Get("/auth/login/")
	res = bob.Post("/auth/login/", url.Values{"email": {"bob@example.com"}, "password": {"user password"}})
	if to := urlBase(toIdP(t, res).Location); to != e.idp.SSOURL {
		t.Fatalf("password login went to %q", to)
	}
	for _, p := range []string{"/organizations/acme/", "/settings/acme/members/", "/settings/acme/teams/"} {
		if res := bob.Get(p); res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/login/acme/?next=") {
			t.Fatalf("%s: %d %s", p, res.Status, res.Location)
		}
	}
	if res := bob.Post("/settings/acme/members/leave/", nil); res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/login/acme/") {
		t.Fatalf("org action without SSO: %d %s", res.Status, res.Location)
	}
	// Unlinked: SSO with bob's email needs his proof first, then he is in.
	res = e.answer(bob, bob.Post("/auth/login/acme/", nil), user("bob-idp", "bob@example.com"))
	if !strings.HasPrefix(res.Location, "/auth/link/") {
		t.Fatalf("unlinked bob: %s", res.Location)
	}
	bob.Post(res.Location, url.Values{"method": {"password"}, "password": {"user password"}})
	if res := bob.Get("/settings/acme/members/"); res.Status != 200 {
		t.Fatalf("bob after SSO: %d %s", res.Status, res.Location)
	}
	// An SSO of another org does not count.
	ok, err := models.CheckSSOAccess(context.Background(), e.a.DB.Bun, &models.AuthProvider{OrgID: 1, Status: "active", RequireSSO: true, SSOSessionHours: 1},
		&models.Member{Role: models.RoleMember, SSOLinked: true}, time.Now().Add(-2*time.Hour), time.Now())
	if err != nil || ok != models.AccessNeedsSSO {
		t.Fatalf("stale SSO: %v %v", ok, err)
	}
	// Bad input changes nothing.
	for _, tc := range []struct{ role, hours, field string }{{"owner", "168", "default_role"}, {"member", "0", "sso_session_hours"}, {"member", "9999", "sso_session_hours"}, {"member", "x", "sso_session_hours"}} {
		res := e.saveSettings(e.owner, false, tc.role, tc.hours)
		if res.Status != 422 || !res.Has(`[data-testid="error-`+tc.field+`"]`) {
			t.Errorf("%v: %d", tc, res.Status)
		}
	}
	if n := count(t, e.a, "SELECT count(*) FROM auth_providers WHERE require_sso AND sso_session_hours = 168"); n != 1 {
		t.Fatal("a rejected form changed the settings")
	}
	if bob.Post("/settings/acme/auth/settings/", url.Values{"default_role": {"member"}, "sso_session_hours": {"1"}}).Status != 403 {
		t.Fatal("a member changed the Auth settings")
	}
	if n := count(t, e.a, "SELECT count(*) FROM audit_events WHERE event = 'sso.require_sso_changed'"); n != 1 {
		t.Fatal("Require SSO change not audited")
	}
}

func TestRequireSSOCheckMatrix(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	ctx := context.Background()
	now := time.Now()
	p := &models.AuthProvider{OrgID: 999999, Status: "active", RequireSSO: true, SSOSessionHours: 24}
	cases := []struct {
		name   string
		p      *models.AuthProvider
		m      models.Member
		ssoAgo time.Duration // 0: never
		want   models.SSOAccess
	}{
		{"not required", &models.AuthProvider{Status: "active", SSOSessionHours: 24}, models.Member{Role: models.RoleMember}, 0, models.AccessAllowed},
		{"fresh SSO, linked", p, models.Member{Role: models.RoleMember, SSOLinked: true}, time.Hour, models.AccessAllowed},
		{"stale SSO", p, models.Member{Role: models.RoleMember, SSOLinked: true}, 25 * time.Hour, models.AccessNeedsSSO},
		{"no SSO", p, models.Member{Role: models.RoleMember, SSOLinked: true}, 0, models.AccessNeedsSSO},
		{"unlinked member", p, models.Member{Role: models.RoleMember}, time.Hour, models.AccessNeedsSSO},
		{"unlinked owner, no owner linked", p, models.Member{Role: models.RoleOwner}, 0, models.AccessOwnerFallback},
		{"unlinked admin, no owner linked", p, models.Member{Role: models.RoleAdmin}, 0, models.AccessNeedsSSO},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var at time.Time
			if tc.ssoAgo > 0 {
				at = now.Add(-tc.ssoAgo)
			}
			got, err := models.CheckSSOAccess(ctx, a.DB.Bun, tc.p, &tc.m, at, now)
			if err != nil || got != tc.want {
				t.Fatalf("got %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}

func TestOwnerFallbackAndReminderEmails(t *testing.T) {
	mp := mailpit.Start(t)
	sender, err := mail.NewSMTP(mp.SMTPURL(), "Gatehouse <gatehouse@example.test>")
	if err != nil {
		t.Fatal(err)
	}
	a := testapp.New(t, testapp.Options{Sender: sender, Jobs: true})
	owner := setUp(t, a)
	coOwner := inviteAndJoin(t, a, owner, "co@example.com", "owner")
	inviteAndJoin(t, a, owner, "linked@example.com", "member")
	inviteAndJoin(t, a, owner, "unlinked@example.com", "member")
	idp := samltest.New(t, "https://idp.example")
	if res := owner.Post("/settings/acme/auth/configure/okta/", url.Values{"method": {"xml"}, "metadata_xml": {string(idp.Metadata())},
		"map_identifier": {"NameID"}, "map_email": {"email"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("configure: %d", res.Status)
	}
	// Activated without any owner linking (the CLI's --activate): every member is
	// reminded to link.
	if err := models.ActivateProvider(context.Background(), a.DB.Bun, a.Handler.Mailer, 1, models.System("test")); err != nil {
		t.Fatal(err)
	}
	msgs := mp.WaitForMessages(t, 3+4)
	if got := recipients(msgs, "Action Required for Acme Corp"); strings.Join(got, " ") != "co@example.com linked@example.com owner@example.com unlinked@example.com" {
		t.Fatalf("activation reminders went to %v", got)
	}
	// linked@ links through SSO; a reminder now reaches only the unlinked.
	e := &ssoEnv{t: t, a: a, owner: owner, idp: idp, sp: samlsp.NewSP(a.BaseURL, "acme")}
	lc := a.Client(t)
	res := e.answer(lc, lc.Post("/auth/login/acme/", nil), user("linked-idp", "linked@example.com"))
	lc.Post(res.Location, url.Values{"method": {"password"}, "password": {"user password"}})
	page := owner.Get("/settings/acme/auth/")
	if page.Text(`[data-testid="unlinked-count"]`) != "3" || !page.Has(`[data-testid="no-owner-linked"]`) {
		t.Fatalf("unlinked count %q", page.Text(`[data-testid="unlinked-count"]`))
	}
	if res := owner.Post("/settings/acme/auth/reminders/", nil); res.Status != http.StatusSeeOther {
		t.Fatalf("send reminders: %d", res.Status)
	}
	msgs = mp.WaitForMessages(t, 7+3)
	if got := recipients(msgs, "Action Required for Acme Corp"); len(got) != 7 || strings.Count(strings.Join(got, " "), "linked@example.com") != 1+2 {
		// linked@ got one reminder (at activation) and unlinked@ two: "linked@" is a substring of "unlinked@".
		t.Fatalf("reminders %v", got)
	}
	// Require SSO with no owner linked: the owner keeps password access (audited,
	// the other owner is told).
	if res := owner.Post("/settings/acme/auth/settings/", url.Values{"require_sso": {"1"}, "default_role": {"member"}, "sso_session_hours": {"168"}, "allow_idp_initiated": {"1"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("require: %d %s", res.Status, res.Body)
	}
	if res := owner.Get("/organizations/acme/"); res.Status != 200 {
		t.Fatalf("owner fallback: %d %s", res.Status, res.Location)
	}
	owner.Get("/settings/acme/members/") // audited once per session
	msgs = mp.WaitForMessages(t, 10+1)
	if got := recipients(msgs, "owner@example.com signed in to Acme Corp without SSO"); strings.Join(got, " ") != "co@example.com" {
		t.Fatalf("fallback notice to %v", got)
	}
	if n := count(t, a, "SELECT count(*) FROM audit_events WHERE event = 'sso.owner_fallback_access'"); n != 1 {
		t.Fatalf("fallback audited %d times", n)
	}
	// Once another owner links, the unlinked owner must use SSO too.
	coOwner.Get("/auth/login/")
	res = e.answer(coOwner, coOwner.Post("/auth/login/acme/", nil), user("co-idp", "co@example.com"))
	if !strings.HasPrefix(res.Location, "/auth/link/") {
		var reasons []string
		_ = a.DB.Bun.NewRaw("SELECT reason || ': ' || hint FROM sso_signins ORDER BY id").Scan(context.Background(), &reasons)
		t.Fatalf("co-owner SSO: %d %s %v", res.Status, res.Location, reasons)
	}
	coOwner.Post(res.Location, url.Values{"method": {"password"}, "password": {"user password"}})
	if res := owner.Get("/organizations/acme/"); res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/login/acme/") {
		t.Fatalf("owner after another owner linked: %d %s", res.Status, res.Location)
	}
	// Disabling (by the linked co-owner) emails every member how to sign in with a password.
	if res := coOwner.Post("/settings/acme/auth/disable/", nil); res.Status != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", res.Status, res.Body)
	}
	// Four members' notices, and the other owner is told who changed whom the org trusts.
	msgs = mp.WaitForMessages(t, 11+4+1)
	if got := recipients(msgs, "Single sign-on disabled for Acme Corp"); strings.Join(got, " ") != "co@example.com linked@example.com owner@example.com unlinked@example.com" {
		t.Fatalf("disable notices to %v", got)
	}
	if got := recipients(msgs, "Acme Corp: co@example.com disabled"); strings.Join(got, " ") != "owner@example.com" {
		t.Fatalf("trust-change notice to %v", got)
	}
	if n := count(t, a, "SELECT count(*) FROM auth_identities") + count(t, a, "SELECT count(*) FROM members WHERE sso_linked"); n != 0 {
		t.Fatal("links survived disabling")
	}
	if res := owner.Get("/organizations/acme/"); res.Status != 200 {
		t.Fatalf("password access after disable: %d", res.Status)
	}
}

func recipients(msgs []mailpit.Summary, subjectPrefix string) []string {
	var out []string
	for _, m := range msgs {
		if strings.HasPrefix(m.Subject, subjectPrefix) {
			for _, to := range m.To {
				out = append(out, to.Address)
			}
		}
	}
	sort.Strings(out)
	return out
}
