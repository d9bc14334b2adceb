package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/handlers/testapp"
)

// setUp runs the first-run page and returns the owner's signed-in client.
func setUp(t *testing.T, a *testapp.App) *testapp.Client {
	t.Helper()
	c := a.Client(t)
	c.Get("/setup/")
	res := c.Post("/setup/", url.Values{"name": {"Olive Owner"}, "email": {"owner@example.com"}, "password": {"owner password"},
		"org_name": {"Acme Corp"}, "org_slug": {"acme"}})
	if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("setup: %d %s\n%s", res.Status, res.Location, res.Body)
	}
	return c
}

func signUp(t *testing.T, a *testapp.App, email string) *testapp.Client {
	t.Helper()
	c := a.Client(t)
	c.Get("/auth/register/")
	res := c.Post("/auth/register/", url.Values{"name": {"User " + email}, "email": {email}, "password": {"user password"}})
	if res.Status != http.StatusOK || !res.Has(`[data-testid="check-email"]`) {
		t.Fatalf("register %s: %d\n%s", email, res.Status, res.Body)
	}
	// The mailbox's owner opens the verification link: the account is proven and signed in.
	link := "/auth/verify/" + mailToken(t, a, email, "verify_email") + "/"
	c.Get(link)
	if res := c.Post(link, nil); res.Status != http.StatusSeeOther {
		t.Fatalf("verify %s: %d\n%s", email, res.Status, res.Body)
	}
	return c
}

// mailToken returns the token of the newest email of template enqueued to to (read
// from the River job, so it works without workers).
func mailToken(t *testing.T, a *testapp.App, to, template string) string {
	t.Helper()
	var token string
	err := a.DB.Bun.NewRaw(`SELECT args->'data'->>'token' FROM river_job WHERE kind = 'email' AND lower(args->>'to') = lower(?) AND args->>'template' = ?
		ORDER BY id DESC LIMIT 1`, to, template).Scan(context.Background(), &token)
	if err != nil || token == "" {
		t.Fatalf("no %s email with a token to %s: %v", template, to, err)
	}
	return token
}

func count(t *testing.T, a *testapp.App, q string, args ...any) int {
	t.Helper()
	var n int
	if err := a.DB.Bun.NewRaw(q, args...).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFirstRun(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	c := a.Client(t)
	if res := c.Get("/"); res.Location != "/setup/" {
		t.Fatalf("new instance: / goes to %q", res.Location)
	}
	// Bad input re-renders with every field's error and writes nothing.
	c.Get("/setup/")
	res := c.Post("/setup/", url.Values{"email": {"nope"}, "password": {"x"}, "org_slug": {"Bad Slug!"}})
	if res.Status != http.StatusUnprocessableEntity {
		t.Fatalf("bad setup: %d", res.Status)
	}
	for _, f := range []string{"name", "email", "password", "org_name", "org_slug"} {
		if !res.Has(`[data-testid="error-` + f + `"]`) {
			t.Errorf("no error shown for %s", f)
		}
	}
	if res.Doc.Find(`input[name="email"]`).AttrOr("value", "") != "nope" {
		t.Error("submitted value not kept")
	}
	if n := count(t, a, "SELECT count(*) FROM users"); n != 0 {
		t.Fatalf("users = %d after a failed setup", n)
	}
	owner := setUp(t, a)
	if res := owner.Get("/organizations/acme/"); res.Status != 200 || res.Text(`[data-testid="org-name"]`) != "Acme Corp" {
		t.Fatalf("org home: %d %q", res.Status, res.Text(`[data-testid="org-name"]`))
	}
	// Setup is closed once an account exists.
	other := a.Client(t)
	if res := other.Get("/setup/"); res.Location != "/auth/login/" {
		t.Fatalf("setup after first run: %d %s", res.Status, res.Location)
	}
	res = other.Post("/setup/", url.Values{"name": {"X"}, "email": {"x@example.com"}, "password": {"password123"}, "org_name": {"X"}})
	if res.Status == http.StatusSeeOther || count(t, a, "SELECT count(*) FROM users") != 1 {
		t.Fatalf("second setup accepted: %d", res.Status)
	}
}

func TestCSRFRequired(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	owner := setUp(t, a)
	tests := []struct {
		name, path string
		values     url.Values
	}{
		{"register without token", "/auth/register/", url.Values{"_csrf": {""}, "name": {"A"}, "email": {"a@example.com"}, "password": {"password123"}}},
		{"invite with a wrong token", "/settings/acme/members/invite/", url.Values{"_csrf": {"forged"}, "email": {"b@example.com"}, "role": {"member"}}},
		{"create org without token", "/organizations/new/", url.Values{"_csrf": {""}, "name": {"Evil"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := owner.Post(tt.path, tt.values)
			if res.Status != http.StatusForbidden || !strings.Contains(res.Body, "Reload the page") {
				t.Fatalf("status %d", res.Status)
			}
		})
	}
	if n := count(t, a, "SELECT count(*) FROM users"); n != 1 {
		t.Errorf("users = %d", n)
	}
	if n := count(t, a, "SELECT count(*) FROM members"); n != 1 {
		t.Errorf("members = %d", n)
	}
	if n := count(t, a, "SELECT count(*) FROM organizations"); n != 1 {
		t.Errorf("orgs = %d", n)
	}
	// The HTMX header works as well as the form field.
	req := httptestPost("/auth/logout/", "")
	req.Header.Set("X-CSRF-Token", owner.CSRF())
	if res := owner.Do(req); res.Status != http.StatusSeeOther {
		t.Fatalf("logout with header token: %d", res.Status)
	}
}

func TestLoginAndSessionCookie(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	setUp(t, a)
	c := a.Client(t)
	c.Get("/auth/login/")
	before := c.Cookie("gatehouse_session")
	res := c.Post("/auth/login/", url.Values{"email": {"OWNER@example.com"}, "password": {"wrong password"}})
	if res.Status != http.StatusUnprocessableEntity || res.Text(`[data-testid="error-form"]`) != "Wrong email or password." {
		t.Fatalf("wrong password: %d %q", res.Status, res.Text(`[data-testid="error-form"]`))
	}
	res = c.Post("/auth/login/", url.Values{"email": {"OWNER@example.com"}, "password": {"owner password"}, "next": {"//evil.example/"}})
	if res.Status != http.StatusSeeOther || res.Location != "/" {
		t.Fatalf("login: %d to %q (an external next must be ignored)", res.Status, res.Location)
	}
	ck := c.Cookie("gatehouse_session")
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie flags: %+v", ck)
	}
	if before != nil && before.Value == ck.Value {
		t.Fatal("session token not renewed at login")
	}
	if res := c.Get("/"); !res.Has(`[data-testid="org-list"]`) {
		t.Fatal("not signed in after login")
	}
	res = c.Get("/organizations/acme/")
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
		if res.Header.Get(h) != want {
			t.Errorf("%s = %q", h, res.Header.Get(h))
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	// A safe local next is honoured.
	c2 := a.Client(t)
	c2.Get("/auth/login/")
	res = c2.Post("/auth/login/", url.Values{"email": {"owner@example.com"}, "password": {"owner password"}, "next": {"/settings/acme/members/"}})
	if res.Location != "/settings/acme/members/" {
		t.Fatalf("next: %q", res.Location)
	}
}

func TestLoginRateLimited(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	setUp(t, a)
	c := a.Client(t)
	var last *testapp.Response
	for i := 0; i < 11; i++ {
		last = c.Post("/auth/login/", url.Values{"email": {"owner@example.com"}, "password": {"guess " + fmt.Sprint(i)}})
	}
	if last.Status != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Fatalf("11th attempt: %d", last.Status)
	}
	// Even the right password is refused while limited.
	if res := c.Post("/auth/login/", url.Values{"email": {"owner@example.com"}, "password": {"owner password"}}); res.Status != http.StatusTooManyRequests {
		t.Fatalf("right password while limited: %d", res.Status)
	}
}

func TestSignedOutAndOutsidersCannotReachOrgPages(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	setUp(t, a)
	anon := a.Client(t)
	res := anon.Get("/settings/acme/members/")
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/login/?next=") {
		t.Fatalf("signed out: %d %s", res.Status, res.Location)
	}
	outsider := signUp(t, a, "mallory@example.com")
	for _, p := range []string{"/organizations/acme/", "/settings/acme/members/", "/settings/acme/teams/", "/settings/acme/audit-log/"} {
		if res := outsider.Get(p); res.Status != http.StatusNotFound || !res.Has(`[data-testid="error-page"]`) {
			t.Errorf("%s: %d", p, res.Status)
		}
	}
	res = outsider.Post("/settings/acme/members/invite/", url.Values{"email": {"m2@example.com"}, "role": {"owner"}})
	if res.Status != http.StatusNotFound {
		t.Errorf("outsider invite: %d", res.Status)
	}
	if n := count(t, a, "SELECT count(*) FROM members"); n != 1 {
		t.Errorf("members = %d", n)
	}
	if outsider.Get("/_dev/mail").Status != http.StatusNotFound {
		t.Error("the dev outbox is open to non-superusers")
	}
}

func TestInviteAcceptAndManageMembers(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	owner := setUp(t, a)
	// Bad input.
	for _, tc := range []struct{ name, email, role, field string }{
		{"empty", "", "member", "email"},
		{"malformed", "not-an-email", "member", "email"},
		{"unknown role", "ok@example.com", "god", "role"},
		{"existing member", "OWNER@example.com", "member", "email"},
	} {
		res := owner.Post("/settings/acme/members/invite/", url.Values{"email": {tc.email}, "role": {tc.role}})
		if res.Status != http.StatusUnprocessableEntity || !res.Has(`[data-testid="error-`+tc.field+`"]`) {
			t.Errorf("%s: %d", tc.name, res.Status)
		}
	}
	res := owner.Post("/settings/acme/members/invite/", url.Values{"email": {"Colleague@example.com"}, "role": {"member"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("invite: %d %s", res.Status, res.Body)
	}
	page := owner.Get("/settings/acme/members/")
	if !strings.Contains(page.Text(`[data-testid="invitations"]`), "Colleague@example.com") {
		t.Fatal("pending invitation not listed")
	}
	if res := owner.Post("/settings/acme/members/invite/", url.Values{"email": {"colleague@EXAMPLE.com"}, "role": {"member"}}); res.Status != 422 {
		t.Fatalf("duplicate invite: %d", res.Status)
	}
	var token string
	if err := a.DB.Bun.NewRaw(`SELECT args->'data'->>'token' FROM river_job WHERE args->>'to' = 'Colleague@example.com'`).Scan(context.Background(), &token); err != nil {
		t.Fatal(err)
	}
	col := a.Client(t)
	acc := col.Get("/accept/" + token + "/")
	if acc.Status != 200 || !acc.Has(`[data-testid="accept-register"]`) {
		t.Fatalf("accept page: %d", acc.Status)
	}
	res = col.Post("/accept/"+token+"/", url.Values{"name": {"Col League"}, "email": {"colleague@example.com"}, "password": {"short"}})
	if res.Status != 422 || !res.Has(`[data-testid="error-password"]`) {
		t.Fatalf("short password on accept: %d", res.Status)
	}
	res = col.Post("/accept/"+token+"/", url.Values{"name": {"Col League"}, "email": {"colleague@example.com"}, "password": {"colleague pw"}})
	if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("accept: %d %s", res.Status, res.Location)
	}
	if res := a.Client(t).Get("/accept/" + token + "/"); res.Status != 404 || !res.Has(`[data-testid="invitation-problem"]`) {
		t.Fatalf("reused link: %d", res.Status)
	}
	// The colleague (member) sees members but cannot invite.
	if res := col.Get("/settings/acme/members/"); res.Status != 200 || res.Has(`[data-testid="invite-submit"]`) {
		t.Fatalf("member view: %d", res.Status)
	}
	if res := col.Post("/settings/acme/members/invite/", url.Values{"email": {"z@example.com"}, "role": {"member"}}); res.Status != 403 {
		t.Fatalf("member invite: %d", res.Status)
	}
	if col.Get("/settings/acme/audit-log/").Status != 403 {
		t.Fatal("member reads the audit log")
	}
	// Owner changes the role; it shows on the page and in the audit log.
	var memberID int64
	if err := a.DB.Bun.NewRaw(`SELECT m.id FROM members m JOIN users u ON u.id = m.user_id WHERE u.email = 'colleague@example.com'`).Scan(context.Background(), &memberID); err != nil {
		t.Fatal(err)
	}
	res = owner.Post(fmt.Sprintf("/settings/acme/members/%d/role/", memberID), url.Values{"role": {"admin"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("change role: %d", res.Status)
	}
	page = owner.Get("/settings/acme/members/?q=colleague")
	row := page.Doc.Find(`[data-testid="member-row"][data-email="colleague@example.com"]`)
	if row.Find(`option[selected]`).AttrOr("value", "") != "admin" {
		t.Fatalf("role not shown: %s", row.Text())
	}
	audit := owner.Get("/settings/acme/audit-log/?event=member.role_changed")
	if got := audit.Text(`[data-testid="audit-row"]`); !strings.Contains(got, "colleague@example.com") || !strings.Contains(got, "member → admin") {
		t.Fatalf("audit row: %q", got)
	}
	// The last owner cannot demote themself through the page: a message, no change.
	var ownerMember int64
	_ = a.DB.Bun.NewRaw(`SELECT id FROM members WHERE role = 'owner'`).Scan(context.Background(), &ownerMember)
	res = owner.Post(fmt.Sprintf("/settings/acme/members/%d/role/", ownerMember), url.Values{"role": {"member"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("demote last owner: %d", res.Status)
	}
	if flash := owner.Get("/settings/acme/members/").Text(`[data-testid="flash"]`); !strings.Contains(flash, "at least one owner") {
		t.Fatalf("flash = %q", flash)
	}
	if n := count(t, a, "SELECT count(*) FROM members WHERE role = 'owner'"); n != 1 {
		t.Fatal("last owner demoted")
	}
	// Another org's member id is not found from this org.
	if res := owner.Post("/settings/acme/members/999999/remove/", nil); res.Status != 404 {
		t.Fatalf("unknown member: %d", res.Status)
	}
}

func TestMembersSearchAndPaging(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	owner := setUp(t, a)
	ctx := context.Background()
	_, err := a.DB.Bun.NewRaw(`
		WITH u AS (INSERT INTO users (email, name) SELECT 'user' || lpad(i::text, 3, '0') || '@example.com', 'Person ' || i FROM generate_series(1, 120) i RETURNING id)
		INSERT INTO members (org_id, user_id, role, joined_via) SELECT (SELECT id FROM organizations), id, 'member', 'invite' FROM u`).Exec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p1 := owner.Get("/settings/acme/members/")
	if n := p1.Doc.Find(`[data-testid="member-row"]`).Length(); n != 50 {
		t.Fatalf("page 1 rows = %d", n)
	}
	if !p1.Has(`[data-testid="next-page"]`) || p1.Has(`[data-testid="prev-page"]`) {
		t.Fatal("paging links on page 1")
	}
	p3 := owner.Get("/settings/acme/members/?page=3")
	if n := p3.Doc.Find(`[data-testid="member-row"]`).Length(); n != 21 {
		t.Fatalf("page 3 rows = %d", n)
	}
	s := owner.Get("/settings/acme/members/?q=USER07")
	if n := s.Doc.Find(`[data-testid="member-row"]`).Length(); n != 10 {
		t.Fatalf("search rows = %d", n)
	}
	// HTMX search gets the partial only.
	req := httptestGet("/settings/acme/members/?q=person%2042")
	req.Header.Set("HX-Request", "true")
	part := owner.Do(req)
	if strings.Contains(part.Body, "<html") || part.Doc.Find(`#members-list [data-testid="member-row"]`).Length() != 1 {
		t.Fatalf("partial: %s", part.Body[:min(200, len(part.Body))])
	}
	if none := owner.Get("/settings/acme/members/?q=%25_%5C"); !none.Has(`[data-testid="no-members"]`) {
		t.Fatal("LIKE wildcards not escaped")
	}
}

func TestTeamsPages(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	owner := setUp(t, a)
	if res := owner.Post("/settings/acme/teams/", url.Values{"name": {""}}); res.Status != 422 || !res.Has(`[data-testid="error-name"]`) {
		t.Fatalf("empty team: %d", res.Status)
	}
	res := owner.Post("/settings/acme/teams/", url.Values{"name": {"Backend Team"}})
	if res.Status != http.StatusSeeOther || res.Location != "/settings/acme/teams/backend-team/" {
		t.Fatalf("create: %d %s", res.Status, res.Location)
	}
	if res := owner.Post("/settings/acme/teams/", url.Values{"name": {"backend team"}}); res.Status != 422 {
		t.Fatalf("duplicate: %d", res.Status)
	}
	if res := owner.Post("/settings/acme/teams/backend-team/members/", url.Values{"email": {"owner@example.com"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("add member: %d", res.Status)
	}
	page := owner.Get("/settings/acme/teams/backend-team/")
	if !strings.Contains(page.Text(`[data-testid="team-members"]`), "owner@example.com") {
		t.Fatal("member not listed")
	}
	if res := owner.Post("/settings/acme/teams/backend-team/members/", url.Values{"email": {"nobody@example.com"}}); res.Status != 422 {
		t.Fatalf("add non-member: %d", res.Status)
	}
	if res := owner.Post("/settings/acme/teams/backend-team/delete/", nil); res.Location != "/settings/acme/teams/" {
		t.Fatalf("delete: %d %s", res.Status, res.Location)
	}
	if owner.Get("/settings/acme/teams/backend-team/").Status != 404 {
		t.Fatal("deleted team still there")
	}
}

func TestAccountSessions(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	first := setUp(t, a)
	second := a.Client(t)
	second.Get("/auth/login/")
	second.Post("/auth/login/", url.Values{"email": {"owner@example.com"}, "password": {"owner password"}})
	page := first.Get("/account/")
	if n := page.Doc.Find(`[data-testid="session-row"]`).Length(); n != 2 {
		t.Fatalf("sessions listed = %d", n)
	}
	if res := first.Post("/account/sessions/revoke-others/", nil); res.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", res.Status)
	}
	if res := second.Get("/account/"); res.Status != http.StatusSeeOther {
		t.Fatalf("other browser still signed in: %d", res.Status)
	}
	if res := first.Get("/account/"); res.Status != 200 {
		t.Fatalf("this browser signed out: %d", res.Status)
	}
	res := first.Post("/account/password/", url.Values{"current_password": {"wrong"}, "new_password": {"new password!"}})
	if res.Status != 422 || !res.Has(`[data-testid="error-current_password"]`) {
		t.Fatalf("wrong current password: %d", res.Status)
	}
	if res := first.Post("/account/", url.Values{"name": {""}}); res.Status != 422 {
		t.Fatalf("empty name: %d", res.Status)
	}
}

func TestProbesAndErrors(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	c := a.Client(t)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/static/app.css": 200, "/no/such/page": 404} {
		if res := c.Get(path); res.Status != want {
			t.Errorf("%s: %d, want %d\n%s", path, res.Status, want, res.Body)
		}
	}
	res := c.Get("/no/such/page")
	if !res.Has(`[data-testid="error-page"]`) || strings.Contains(res.Body, "Cannot GET") {
		t.Fatalf("404 page: %s", res.Body)
	}
	if !strings.Contains(c.Get("/metrics").Body, "gatehouse_http_requests_total") {
		t.Error("no request metrics")
	}
}

func TestPasswordResetThroughTheOutbox(t *testing.T) {
	a := testapp.New(t, testapp.Options{Jobs: true})
	setUp(t, a)
	c := a.Client(t)
	c.Get("/auth/password/reset/")
	if res := c.Post("/auth/password/reset/", url.Values{"email": {"bad"}}); res.Status != 422 {
		t.Fatalf("malformed email: %d", res.Status)
	}
	res := c.Post("/auth/password/reset/", url.Values{"email": {"Owner@Example.com"}})
	if res.Status != 200 || !res.Has(`[data-testid="reset-sent"]`) {
		t.Fatalf("request: %d", res.Status)
	}
	// The River worker renders and keeps the email in the dev outbox.
	var text string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		err := a.DB.Bun.NewRaw(`SELECT text_body FROM dev_mails WHERE recipient = 'owner@example.com' AND subject LIKE 'Reset%'`).Scan(context.Background(), &text)
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	link := regexp.MustCompile(`http://gatehouse\.test(/auth/password/reset/[A-Za-z0-9_-]+/)`).FindStringSubmatch(text)
	if link == nil {
		t.Fatalf("no reset link in %q", text)
	}
	if res := c.Get(link[1]); res.Status != 200 {
		t.Fatalf("reset page: %d", res.Status)
	}
	if res := c.Post(link[1], url.Values{"password": {"short"}}); res.Status != 422 {
		t.Fatalf("short password: %d", res.Status)
	}
	if res := c.Post(link[1], url.Values{"password": {"a whole new password"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("set password: %d", res.Status)
	}
	if res := a.Client(t).Get(link[1]); res.Status != 404 || !res.Has(`[data-testid="reset-invalid"]`) {
		t.Fatalf("reused link: %d", res.Status)
	}
	fresh := a.Client(t)
	fresh.Get("/auth/login/")
	if res := fresh.Post("/auth/login/", url.Values{"email": {"owner@example.com"}, "password": {"a whole new password"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("login with the new password: %d", res.Status)
	}
}

func TestCreateOrgBadInput(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	owner := setUp(t, a)
	for _, tc := range []struct{ name, orgName, slug, field string }{
		{"empty name", "", "", "name"},
		{"duplicate slug", "Another", "acme", "slug"},
		{"reserved slug", "New", "new", "slug"},
		{"bad slug", "X", "-x-", "slug"},
		{"name too long", strings.Repeat("n", 101), "", "name"},
	} {
		res := owner.Post("/organizations/new/", url.Values{"name": {tc.orgName}, "slug": {tc.slug}})
		if res.Status != 422 || !res.Has(`[data-testid="error-`+tc.field+`"]`) {
			t.Errorf("%s: %d", tc.name, res.Status)
		}
	}
	if n := count(t, a, "SELECT count(*) FROM organizations"); n != 1 {
		t.Fatalf("orgs = %d", n)
	}
	if res := owner.Post("/organizations/new/", url.Values{"name": {"Beta Team Inc."}}); res.Location != "/organizations/beta-team-inc/" {
		t.Fatalf("create: %d %s", res.Status, res.Location)
	}
}
