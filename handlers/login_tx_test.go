package handlers_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
	"gatehouse/models/database"
	"gatehouse/models/dbtest"
	"gatehouse/models/samlsp/samltest"
)

// An SSO login is one transaction (issue 12): the replay cache, the
// JIT account and membership, the sign-in log and the browser's session commit
// together. A session that cannot be written leaves nothing behind, and the same
// completion step works once the fault is gone; a sign-in log that cannot be
// written leaves no session.
func TestSSOLoginIsOneTransaction(t *testing.T) {
	e := newSSOEnv(t, true)
	ctx := context.Background()
	exec := func(q string) {
		t.Helper()
		if _, err := e.a.DB.Bun.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$`)

	replays := e.count(`SELECT count(*) FROM saml_replay`)
	bob := e.a.Client(t)
	raw := e.idp.Response(t, e.sp, user("bob-1", "bob@example.com"), samltest.Options{})
	req := httptest.NewRequest(http.MethodPost, "/saml/acs/acme/", strings.NewReader(url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(raw)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	acs := bob.CrossSite(req)
	if acs.Status != http.StatusSeeOther || !strings.HasPrefix(acs.Location, "/auth/sso/complete/") {
		t.Fatalf("ACS: %d %s", acs.Status, acs.Location)
	}
	complete := acs.Location

	// The session row cannot be written (a user's session: the signed-out
	// browser's CSRF cookie needs none).
	exec(`CREATE TRIGGER refuse_sessions BEFORE INSERT ON sessions FOR EACH ROW WHEN (NEW.user_id IS NOT NULL) EXECUTE FUNCTION refuse_write()`)
	res := bob.Get(complete)
	if res.Status == http.StatusSeeOther || bob.Cookie("gatehouse_session") != nil && bob.Cookie("gatehouse_session").Value != "" {
		t.Fatalf("sign-in without its session: %d %s cookie=%v", res.Status, res.Location, bob.Cookie("gatehouse_session"))
	}
	for what, q := range map[string]string{
		"JIT account":    `SELECT count(*) FROM users WHERE email = 'bob@example.com'`,
		"membership":     `SELECT count(*) FROM members WHERE email = 'bob@example.com' OR invite_email = 'bob@example.com'`,
		"identity":       `SELECT count(*) FROM auth_identities WHERE idp_user_id = 'bob-1'`,
		"success logged": `SELECT count(*) FROM sso_signins WHERE outcome = 'success' AND idp_user_id = 'bob-1'`,
		"parked handoff": `SELECT count(*) FROM sso_handoffs`, // it travels sealed in the URL
	} {
		if n := e.count(q); n != 0 {
			t.Errorf("%s written although the session was not (%d)", what, n)
		}
	}

	if n := e.count(`SELECT count(*) FROM saml_replay`); n != replays {
		t.Errorf("the assertion entered the replay cache although the session was not written")
	}

	// The fault is gone: the same completion step signs bob in, once.
	exec(`DROP TRIGGER refuse_sessions ON sessions`)
	res = bob.Get(complete)
	if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("after the fault: %d %s\n%s", res.Status, res.Location, res.Body)
	}
	if bob.Get("/organizations/acme/").Status != http.StatusOK {
		t.Fatal("bob is not signed in")
	}
	if n := e.count(`SELECT count(*) FROM sso_signins WHERE outcome = 'success' AND idp_user_id = 'bob-1'`); n != 1 {
		t.Fatalf("success logged %d times", n)
	}

	// The sign-in log cannot be written: no session either.
	exec(`CREATE TRIGGER refuse_signins BEFORE INSERT ON sso_signins FOR EACH ROW WHEN (NEW.outcome = 'success') EXECUTE FUNCTION refuse_write()`)
	carl := e.a.Client(t)
	res = postToACS(carl, "acme", e.idp.Response(t, e.sp, user("carl-1", "carl@example.com"), samltest.Options{}), "")
	if res.Status == http.StatusSeeOther {
		t.Fatalf("signed in without a sign-in log: %s", res.Location)
	}
	if n := e.count(`SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = 'carl@example.com'`); n != 0 {
		t.Fatalf("%d sessions for carl without a sign-in log", n)
	}
	if n := e.count(`SELECT count(*) FROM users WHERE email = 'carl@example.com'`); n != 0 {
		t.Fatal("carl's JIT account written without a sign-in log")
	}
}

// A returning SSO login writes once (issue 12: "one commit per login"): the ACS
// only reads (org and provider) and hands the validated result to the browser sealed
// in the completion URL; the completion is the one writing transaction. Counted as
// transaction ids taken on a server of this test's own, so nothing else runs on it.
func TestSSOLoginIsOneWritingTransaction(t *testing.T) {
	_, db, _ := dbtest.Private(t)
	e := newSSOEnvWith(t, testapp.Options{DB: db}, true)
	ctx := context.Background()
	xids := func() int64 {
		t.Helper()
		var n int64
		if err := db.Bun.QueryRowContext(ctx, "SELECT txid_snapshot_xmax(txid_current_snapshot())").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	e.mustLogin(user("bob-1", "bob@example.com"))
	for i := 0; i < 3; i++ {
		bob := e.a.Client(t)
		raw := e.idp.Response(t, e.sp, user("bob-1", "bob@example.com"), samltest.Options{})
		before := xids()
		req := httptest.NewRequest(http.MethodPost, "/saml/acs/acme/", strings.NewReader(url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(raw)}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		acs := bob.CrossSite(req)
		if acs.Status != http.StatusSeeOther || !strings.HasPrefix(acs.Location, "/auth/sso/complete/") {
			t.Fatalf("ACS: %d %s", acs.Status, acs.Location)
		}
		if n := xids() - before; n != 0 {
			t.Errorf("the ACS took %d transaction ids: it should only read", n)
		}
		res := bob.Get(acs.Location)
		if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
			t.Fatalf("completion: %d %s", res.Status, res.Location)
		}
		if n := xids() - before; n != 1 {
			t.Errorf("a returning login took %d writing transactions, want 1", n)
		}
		if bob.Get("/organizations/acme/").Status != http.StatusOK {
			t.Fatal("bob is not signed in")
		}
	}
}

// A returning SSO login's transaction is four round trips (issue 12): BEGIN; the
// org, provider and replay entry with the person's lookup and deprovisioning check
// (qOpenSignIn); the tail, one statement for the identity's last sign-in, the
// sign-in log and the session (database.Defer); COMMIT. SP-initiated, one more: the
// request state is used up. Counted per connection by a query tracer on the
// application's own pool.
func TestSSOLoginRoundTrips(t *testing.T) {
	_, dbURL := dbtest.NewWithURL(t)
	tr := &statementTracer{}
	db, err := database.Open(context.Background(), dbURL, func(c *pgxpool.Config) { c.ConnConfig.Tracer = tr })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	e := newSSOEnvWith(t, testapp.Options{DB: db}, true)
	e.mustLogin(user("bob-1", "bob@example.com"))
	for i, login := range []struct {
		how  string
		want int
		do   func() *testapp.Response
	}{
		{"IdP-initiated", 4, func() *testapp.Response {
			return postToACS(e.a.Client(t), "acme", e.idp.Response(t, e.sp, user("bob-1", "bob@example.com"), samltest.Options{}), "")
		}},
		{"IdP-initiated", 4, func() *testapp.Response {
			return postToACS(e.a.Client(t), "acme", e.idp.Response(t, e.sp, user("bob-1", "bob@example.com"), samltest.Options{}), "")
		}},
		{"SP-initiated", 5, func() *testapp.Response {
			c := e.a.Client(t)
			return e.answer(c, c.Post("/auth/login/acme/", nil), user("bob-1", "bob@example.com"))
		}},
	} {
		tr.reset()
		res := login.do()
		if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
			t.Fatalf("%s login %d: %d %s", login.how, i, res.Status, res.Location)
		}
		tx := tr.transactionWith("INSERT INTO sessions")
		if len(tx) != login.want {
			t.Errorf("a returning %s login's transaction took %d round trips, want %d:\n%s", login.how, len(tx), login.want, strings.Join(tx, "\n"))
		}
		var tail string
		for _, q := range tx {
			if strings.Contains(q, "INSERT INTO sessions") {
				tail = q
			}
		}
		for _, w := range []string{"UPDATE auth_identities", "INSERT INTO sso_signins"} {
			if !strings.Contains(tail, w) {
				t.Errorf("%s is not in the tail statement:\n%s", w, tail)
			}
		}
	}
}

// statementTracer records every statement each connection sends (pgx.QueryTracer).
type statementTracer struct {
	mu   sync.Mutex
	sent map[*pgx.Conn][]string
}

func (s *statementTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent == nil {
		s.sent = map[*pgx.Conn][]string{}
	}
	s.sent[conn] = append(s.sent[conn], strings.Join(strings.Fields(data.SQL), " "))
	return ctx
}

func (s *statementTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (s *statementTracer) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = nil
}

// transactionWith is the one transaction (begin … commit, on one connection) that
// sent a statement containing marker; nil if none did.
func (s *statementTracer) transactionWith(marker string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sent := range s.sent {
		start := -1
		for i, q := range sent {
			switch {
			case strings.EqualFold(q, "begin"):
				start = i
			case strings.EqualFold(q, "commit") && start >= 0:
				tx := sent[start : i+1]
				for _, q := range tx {
					if strings.Contains(q, marker) {
						return tx
					}
				}
				start = -1
			}
		}
	}
	return nil
}

// A replayed completion is refused without touching the person (issue 12, qOpenSignIn):
// the sign-in's first statement enters the assertion into the replay cache before it
// looks the person up, and looks nobody up for a replay. While another transaction
// holds bob's member row, a replay of his used completion is refused at once; it
// never waits for that lock.
func TestReplayedLoginLocksNobody(t *testing.T) {
	e := newSSOEnv(t, true)
	ctx := context.Background()
	bob := e.a.Client(t)
	acs := e.unsolicited(bob, user("bob-1", "bob@example.com"))
	if acs.Status != http.StatusSeeOther || !strings.HasPrefix(acs.Location, "/auth/sso/complete/") {
		t.Fatalf("ACS: %d %s", acs.Status, acs.Location)
	}
	if res := bob.Get(acs.Location); res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("login: %d %s", res.Status, res.Location)
	}

	holder, err := e.a.DB.Bun.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Rollback() }()
	var memberID int64
	if err := holder.QueryRowContext(ctx, `SELECT m.id FROM members m JOIN users u ON u.id = m.user_id
		WHERE u.email = 'bob@example.com' FOR UPDATE OF m`).Scan(&memberID); err != nil {
		t.Fatal(err)
	}
	done := make(chan *testapp.Response, 1)
	go func() { done <- e.a.Client(t).Get(acs.Location) }()
	res, answered := answerOrLockWait(e, done)
	if !answered {
		_ = holder.Rollback()
		<-done
		t.Fatal("the replay waited for bob's member row")
	}
	if res.Status == http.StatusSeeOther {
		t.Fatalf("the replay signed in: %s", res.Location)
	}
	if n := e.count(`SELECT count(*) FROM sso_signins WHERE reason = 'replay' AND idp_user_id = 'bob-1'`); n != 1 {
		t.Errorf("replay refusals logged: %d, want 1", n)
	}
}

// mustLogin signs u in once, IdP-initiated (a first login makes the account, the
// identity link and the membership).
func (e *ssoEnv) mustLogin(u samltest.User) {
	e.t.Helper()
	if res := postToACS(e.a.Client(e.t), "acme", e.idp.Response(e.t, e.sp, u, samltest.Options{}), ""); res.Status != http.StatusSeeOther {
		e.t.Fatalf("login of %s: %d %s", u.NameID, res.Status, res.Location)
	}
}

// signInPastHolder posts raw to the ACS in a new browser while holder (a transaction
// holding the person's member row) is open, checks that the sign-in waits for it,
// commits holder and returns the sign-in's answer.
func (e *ssoEnv) signInPastHolder(raw []byte, holder interface{ Commit() error }) *testapp.Response {
	e.t.Helper()
	done := make(chan *testapp.Response, 1)
	go func() { done <- postToACS(e.a.Client(e.t), "acme", raw, "") }()
	if res, answered := answerOrLockWait(e, done); answered {
		e.t.Fatalf("the sign-in did not wait for the member row: %d %s", res.Status, res.Location)
	}
	if err := holder.Commit(); err != nil {
		e.t.Fatal(err)
	}
	return <-done
}

// answerOrLockWait returns done's answer, or (answered false) as soon as a
// statement of e's database waits for a row lock, whichever comes first.
func answerOrLockWait[T any](e *ssoEnv, done <-chan T) (res T, answered bool) {
	e.t.Helper()
	for {
		select {
		case res := <-done:
			return res, true
		default:
		}
		if e.count(`SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`) != 0 {
			return res, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Deprovisioning wins a race with a sign-in: a sign-in that waited for the member row
// an IdP's SCIM delete held finds the row gone once the delete commits, and must not
// make the person a new member (the deletion's removal record is newer than the
// sign-in's first statement, which looked for one).
func TestSCIMDeleteRacingASignInWins(t *testing.T) {
	e := newSSOEnv(t, true)
	ctx := context.Background()
	e.mustLogin(user("bob-1", "bob@example.com"))
	raw := e.idp.Response(t, e.sp, user("bob-1", "bob@example.com"), samltest.Options{})

	// What DeleteSCIMUser does, held open: the member row deleted, the removal recorded.
	deleting, err := e.a.DB.Bun.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = deleting.Rollback() }()
	var orgID, userID int64
	if err := deleting.QueryRowContext(ctx, `DELETE FROM members m USING users u WHERE u.id = m.user_id AND u.email = 'bob@example.com'
		RETURNING m.org_id, u.id`).Scan(&orgID, &userID); err != nil {
		t.Fatal(err)
	}
	if _, err := deleting.ExecContext(ctx, `INSERT INTO scim_removed (org_id, user_id, user_name, email) VALUES (?, ?, 'bob-1', 'bob@example.com')`, orgID, userID); err != nil {
		t.Fatal(err)
	}
	res := e.signInPastHolder(raw, deleting)
	if res.Status == http.StatusSeeOther {
		t.Fatalf("signed in after the IdP deleted the member: %s", res.Location)
	}
	if n := e.count(`SELECT count(*) FROM members m JOIN users u ON u.id = m.user_id WHERE u.email = 'bob@example.com'`); n != 0 {
		t.Errorf("the sign-in made bob a member again (%d rows)", n)
	}
	if n := e.count(`SELECT count(*) FROM sso_signins WHERE reason = 'deprovisioned' AND idp_user_id = 'bob-1'`); n != 1 {
		t.Errorf("deprovisioned refusals logged: %d, want 1", n)
	}
}

// A sign-in locks the person's member row, then writes the identity (and, through
// the sign-in log's foreign key, shares the account's row). Writers that end links
// take the same rows in the same order, so a sign-in never deadlocks with them:
// proving a mailbox (VerifyEmail, a password reset, an invitation), and an owner
// changing who the provider trusts or disabling it. The sign-in is played in SQL, its statements in
// its order, paused while it holds the member row.
func TestLinkEndingWritersLockInSignInOrder(t *testing.T) {
	for name, writer := range map[string]func(e *ssoEnv, userID int64) error{
		"proving the mailbox": func(e *ssoEnv, userID int64) error {
			token := "verify-" + strconv.FormatInt(userID, 10)
			if _, err := e.a.DB.Bun.ExecContext(context.Background(), `INSERT INTO email_verifications (token_hash, user_id, expires_at)
				VALUES (?, ?, now() + interval '1 hour')`, models.HashToken(token), userID); err != nil {
				return err
			}
			_, err := models.VerifyEmail(context.Background(), e.a.DB.Bun, token)
			return err
		},
		"disabling the provider": func(e *ssoEnv, _ int64) error {
			if res := e.owner.Post("/settings/acme/auth/disable/", nil); res.Status != http.StatusSeeOther {
				return fmt.Errorf("disable: %d\n%s", res.Status, res.Body)
			}
			return nil
		},
		"changing the provider's trust": func(e *ssoEnv, _ int64) error {
			other := samltest.New(t, "https://other-idp.example")
			res := e.owner.Post("/settings/acme/auth/configure/okta/", url.Values{"method": {"xml"}, "metadata_xml": {string(other.Metadata())},
				"map_identifier": {"NameID"}, "map_email": {"email"}, "map_first_name": {"firstName"}, "map_last_name": {"lastName"}})
			if res.Status != http.StatusSeeOther {
				return fmt.Errorf("configure: %d\n%s", res.Status, res.Body)
			}
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newSSOEnv(t, true)
			ctx := context.Background()
			e.mustLogin(user("bob-1", "bob@example.com"))
			var orgID, userID int64
			if err := e.a.DB.Bun.QueryRowContext(ctx, `SELECT m.org_id, u.id FROM members m JOIN users u ON u.id = m.user_id WHERE u.email = 'bob@example.com'`).Scan(&orgID, &userID); err != nil {
				t.Fatal(err)
			}
			signIn, err := e.a.DB.Bun.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = signIn.Rollback() }()
			if _, err := signIn.ExecContext(ctx, `SELECT id FROM members WHERE user_id = ? FOR UPDATE`, userID); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- writer(e, userID) }()
			if err, answered := answerOrLockWait(e, done); answered {
				t.Fatalf("the writer did not wait for the member row the sign-in holds: %v", err)
			}
			// The sign-in's tail, while the writer waits.
			if _, err := signIn.ExecContext(ctx, `UPDATE auth_identities SET last_verified_at = now() WHERE user_id = ?`, userID); err != nil {
				t.Fatalf("the sign-in's identity write: %v", err)
			}
			if _, err := signIn.ExecContext(ctx, `INSERT INTO sso_signins (org_id, outcome, user_id) VALUES (?, 'success', ?)`, orgID, userID); err != nil {
				t.Fatalf("the sign-in's log: %v", err)
			}
			if err := signIn.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("the writer after the sign-in: %v", err)
			}
		})
	}
}

// A sign-in racing a mailbox proof does not survive it: the proof ends every IdP
// link of the account (proveMailbox), and a sign-in through such a link that waited
// for the member row the proof held is refused once the proof commits, with no
// session. (An IdP that signs in continually would otherwise keep a session in an
// account its owner has just taken back.) The proof is played in SQL, held open.
func TestSignInRacingAMailboxProofIsRefused(t *testing.T) {
	e := newSSOEnv(t, true)
	ctx := context.Background()
	e.mustLogin(user("bob-1", "bob@example.com"))
	raw := e.idp.Response(t, e.sp, user("bob-1", "bob@example.com"), samltest.Options{})
	var userID int64
	if err := e.a.DB.Bun.QueryRowContext(ctx, `SELECT id FROM users WHERE email = 'bob@example.com'`).Scan(&userID); err != nil {
		t.Fatal(err)
	}
	proof, err := e.a.DB.Bun.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = proof.Rollback() }()
	for _, q := range []string{ // proveMailbox's statements, in its order
		"SELECT email_verified FROM users WHERE id = ? FOR NO KEY UPDATE",
		"UPDATE members SET sso_linked = false WHERE user_id = ?",
		"DELETE FROM auth_identities WHERE user_id = ?",
		"UPDATE users SET email_verified = true, created_by_org_id = NULL, updated_at = now() WHERE id = ?",
		"UPDATE sessions SET expiry = now() WHERE user_id = ? AND expiry > now()",
	} {
		if _, err := proof.ExecContext(ctx, q, userID); err != nil {
			t.Fatal(err)
		}
	}
	res := e.signInPastHolder(raw, proof)
	if res.Status == http.StatusSeeOther {
		t.Fatalf("signed in through a link the mailbox proof removed: %s", res.Location)
	}
	if n := e.count(`SELECT count(*) FROM sessions WHERE user_id = ? AND expiry > now()`, userID); n != 0 {
		t.Errorf("%d live sessions for bob after the proof", n)
	}
	if n := e.count(`SELECT count(*) FROM auth_identities WHERE user_id = ?`, userID); n != 0 {
		t.Errorf("the identity link came back (%d)", n)
	}
	if n := e.count(`SELECT count(*) FROM sso_signins WHERE reason = 'link_removed' AND idp_user_id = 'bob-1'`); n != 1 {
		t.Errorf("link_removed refusals logged: %d, want 1", n)
	}
	if !strings.Contains(res.Text(`main`), "changed while you were signing in") {
		t.Errorf("the refusal does not say what happened: %d %q", res.Status, res.Text(`main`))
	}
}
