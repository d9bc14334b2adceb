package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
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
