package handlers_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models/samlsp/samltest"
)

// Review of bd47223: when the session write inside the sign-in transaction fails once
// (a transient fault: lock/statement timeout, serialization, a dropped connection),
// the transaction rolls back, but loadSession still sees a Modified session (signed
// in as bob, new token) without the "saved" fingerprint and commits it OUTSIDE the
// transaction: bob is signed in with no sign-in log, the handoff not consumed and the
// assertion not in the replay cache.
func TestSSOLoginTransientSessionFaultSignsNobodyIn(t *testing.T) {
	e := newSSOEnv(t, true)
	ctx := context.Background()
	exec := func(q string) {
		t.Helper()
		if _, err := e.a.DB.Bun.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// bob's first login works: a returning linked member from now on.
	first := e.a.Client(t)
	if res := postToACS(first, "acme", e.idp.Response(t, e.sp, user("bob-1", "bob@example.com"), samltest.Options{}), ""); res.Status != http.StatusSeeOther {
		t.Fatalf("first login: %d %s", res.Status, res.Location)
	}
	logged := e.count(`SELECT count(*) FROM sso_signins WHERE outcome = 'success' AND idp_user_id = 'bob-1'`)

	// The next user-session insert fails once (a sequence is not transactional).
	exec(`CREATE SEQUENCE fault_once`)
	exec(`CREATE FUNCTION refuse_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF nextval('fault_once') = 1 THEN RAISE EXCEPTION 'transient fault'; END IF; RETURN NEW; END $$`)
	exec(`CREATE TRIGGER refuse_sessions_once BEFORE INSERT ON sessions FOR EACH ROW WHEN (NEW.user_id IS NOT NULL) EXECUTE FUNCTION refuse_once()`)

	b := e.a.Client(t)
	raw := e.idp.Response(t, e.sp, user("bob-1", "bob@example.com"), samltest.Options{})
	req := httptest.NewRequest(http.MethodPost, "/saml/acs/acme/", strings.NewReader(url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(raw)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	acs := b.CrossSite(req)
	complete := acs.Location
	res := b.Get(complete)
	t.Logf("completion answered %d %q, cookie=%v", res.Status, res.Location, b.Cookie("gatehouse_session") != nil)

	signedIn := b.Get("/organizations/acme/").Status == http.StatusOK
	nowLogged := e.count(`SELECT count(*) FROM sso_signins WHERE outcome = 'success' AND idp_user_id = 'bob-1'`)
	t.Logf("signed in=%v, success log rows %d -> %d", signedIn, logged, nowLogged)
	if signedIn && nowLogged == logged {
		t.Errorf("bob is signed in by a login whose transaction rolled back: no sign-in log row (%d -> %d)", logged, nowLogged)
	}
	if signedIn {
		// Had the replay cache been rolled back with the login, the same URL would
		// sign in again.
		again := b.Get(complete)
		t.Logf("same completion URL again: %d %q", again.Status, again.Location)
		if again.Status == http.StatusSeeOther {
			t.Errorf("the rolled-back handoff completed a second time")
		}
	}
}

// Review of bd47223: the cookie is set inside the transaction, before it commits. When
// the COMMIT itself fails (here a deferred constraint trigger; in production a
// serialization failure, a dropped connection), the browser keeps a cookie naming a
// session row that was rolled back, and loses its previous, still valid session.
func TestSSOLoginCommitFailureKeepsTheCookie(t *testing.T) {
	e := newSSOEnv(t, true)
	ctx := context.Background()
	exec := func(q string) {
		t.Helper()
		if _, err := e.a.DB.Bun.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	b := e.a.Client(t)
	if res := postToACS(b, "acme", e.idp.Response(t, e.sp, user("bob-1", "bob@example.com"), samltest.Options{}), ""); res.Status != http.StatusSeeOther {
		t.Fatalf("first login: %d %s", res.Status, res.Location)
	}
	old := b.Cookie("gatehouse_session").Value
	if b.Get("/organizations/acme/").Status != http.StatusOK {
		t.Fatal("bob is not signed in")
	}
	exec(`CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected commit fault'; END $$`)
	exec(`CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON sso_signins DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.outcome = 'success') EXECUTE FUNCTION refuse_write()`)

	res := postToACS(b, "acme", e.idp.Response(t, e.sp, user("bob-1", "bob@example.com"), samltest.Options{}), "")
	t.Logf("second login answered %d %q", res.Status, res.Location)
	now := b.Cookie("gatehouse_session")
	t.Logf("cookie changed=%v, valid user sessions in DB=%d", now != nil && now.Value != old,
		e.count(`SELECT count(*) FROM sessions WHERE user_id IS NOT NULL AND expiry > now()`))
	if now != nil && now.Value != old {
		t.Errorf("the failed login replaced the browser's cookie (its new session was rolled back)")
	}
	if b.Get("/organizations/acme/").Status != http.StatusOK {
		t.Errorf("bob lost his (still valid) session because a later login's commit failed")
	}
}

// The account-link completion writes its sign-in log before it touches the session:
// when the log cannot be written, the browser is not signed in through the link.
func TestSSOLinkCompletionNoSessionWithoutItsLog(t *testing.T) {
	e := newSSOEnv(t, true)
	signUp(t, e.a, "erin@example.com")
	ctx := context.Background()
	for _, q := range []string{
		`CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$`,
		`CREATE TRIGGER refuse_linked BEFORE INSERT ON sso_signins FOR EACH ROW WHEN (NEW.reason = 'linked') EXECUTE FUNCTION refuse_write()`,
	} {
		if _, err := e.a.DB.Bun.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	erin := e.a.Client(t)
	res := e.answer(erin, erin.Post("/auth/login/acme/", nil), user("erin-1", "erin@example.com"))
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/link/") {
		t.Fatalf("expected the link page: %d %s", res.Status, res.Location)
	}
	res = erin.Post(res.Location, url.Values{"method": {"password"}, "password": {"user password"}})
	t.Logf("link by password answered %d %q", res.Status, res.Location)
	logged := e.count(`SELECT count(*) FROM sso_signins WHERE reason = 'linked'`)
	if erin.Get("/organizations/acme/").Status == http.StatusOK && logged == 0 {
		t.Errorf("erin is signed in through SSO linking although its sign-in log could not be written")
	}
}
