package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/handlers/testapp"
	"gatehouse/models/dbtest"
	"gatehouse/models/pglocal"
)

// scimDoWithin is scimDo with a client that gives up after limit (a server without a
// deadline would otherwise hang the test).
func scimDoWithin(t *testing.T, a *testapp.App, token, method, path, body string, limit time.Duration) (int, http.Header, string) {
	t.Helper()
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/scim+json")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := a.Fiber.Test(req, int(limit.Milliseconds()))
	if err != nil {
		t.Fatalf("%s %s: no answer within %s: %v", method, path, limit, err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return res.StatusCode, res.Header, b.String()
}

func want503(t *testing.T, what string, status int, h http.Header, body string) {
	t.Helper()
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("%s: %d (Retry-After %q) %s, want 503 with Retry-After", what, status, h.Get("Retry-After"), body)
	}
	if !strings.Contains(body, "urn:ietf:params:scim:api:messages:2.0:Error") || !strings.Contains(body, `"status":"503"`) {
		t.Fatalf("%s: not a SCIM error body: %s", what, body)
	}
}

// While PostgreSQL is down SCIM answers 503 + Retry-After in SCIM's error format (never
// 500), HTML pages answer 503 too, and the app recovers by itself when it is back
// (issue 13 item 1).
func TestSCIMAnswers503WhileDatabaseIsDown(t *testing.T) {
	srv, db, _ := dbtest.Private(t)
	e := newSCIMEnvWith(t, testapp.Options{DB: db, RequestTimeout: 5 * time.Second})
	base := "/api/0/organizations/acme/scim/v2"
	if st, _, body := scimDoWithin(t, e.a, e.token, "GET", base+"/Users", "", time.Minute); st != 200 {
		t.Fatalf("before: %d %s", st, body)
	}

	// The backends are killed under open connections (what a restart does first).
	if _, err := db.Pool.Exec(context.Background(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for _, r := range []struct{ method, path, body string }{
		{"GET", base + "/Users", ""},
		{"POST", base + "/Users", entraUser},
		{"PATCH", base + "/Users/1", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`},
	} {
		st, h, body := scimDoWithin(t, e.a, e.token, r.method, r.path, r.body, time.Minute)
		want503(t, r.method+" "+r.path+" while down", st, h, body)
	}
	if res := e.owner.Get("/settings/acme/members/"); res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("HTML page while down: %d (Retry-After %q)", res.Status, res.Header.Get("Retry-After"))
	}

	again, err := pglocal.Start(context.Background(), srv.DataDir, pglocal.Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(again.Stop)
	if st, _, body := scimDoWithin(t, e.a, e.token, "POST", base+"/Users", entraUser, time.Minute); st != http.StatusCreated {
		t.Fatalf("after the restart: %d %s", st, body)
	}
}

// With the database frozen (SIGSTOP), a request ends at its deadline with 503 +
// Retry-After instead of waiting for ever, and the write it started is not committed
// when the database thaws (issue 13 item 2).
func TestRequestDeadlineWhileDatabaseFrozen(t *testing.T) {
	srv, db, _ := dbtest.Private(t)
	e := newSCIMEnvWith(t, testapp.Options{DB: db, RequestTimeout: 2 * time.Second})
	base := "/api/0/organizations/acme/scim/v2"
	if st, _, body := scimDoWithin(t, e.a, e.token, "GET", base+"/Users", "", time.Minute); st != 200 {
		t.Fatalf("before: %d %s", st, body)
	}
	if err := srv.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			_ = srv.Signal(syscall.SIGCONT)
		}
	}
	defer thaw()
	st, h, body := scimDoWithin(t, e.a, e.token, "POST", base+"/Users", entraUser, 30*time.Second)
	want503(t, "POST while frozen", st, h, body)
	st, h, body = scimDoWithin(t, e.a, e.token, "GET", base+"/Users", "", 30*time.Second)
	want503(t, "GET while frozen", st, h, body)
	thaw()

	// The abandoned POST never commits: the IdP's retry creates the user (201), not 409.
	var n int
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _, body = scimDoWithin(t, e.a, e.token, "POST", base+"/Users", entraUser, 30*time.Second)
		if st != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st != http.StatusCreated {
		t.Fatalf("retry after the freeze: %d %s (want 201: the abandoned write must not have committed)", st, body)
	}
	if err := db.Bun.NewRaw("SELECT count(*) FROM members WHERE lower(email) = lower(?)", "Test_User_ab6490ee@example.com").Scan(context.Background(), &n); err != nil || n != 1 {
		t.Fatalf("%d members for the user (%v)", n, err)
	}
}
