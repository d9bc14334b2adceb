package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
	"gatehouse/models/dnscheck/dnstest"
	"gatehouse/models/mail"
	"gatehouse/models/mail/mailpit"
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

// waitForSubject waits (at most 15 s) until Mailpit holds a message whose subject
// starts with prefix and returns them all.
func waitForSubject(t *testing.T, mp *mailpit.Server, prefix string) []mailpit.Summary {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var out []mailpit.Summary
		for _, m := range mp.Messages(t) {
			if strings.HasPrefix(m.Subject, prefix) {
				out = append(out, m)
			}
		}
		if len(out) > 0 || time.Now().After(deadline) {
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
	msgs := waitForSubject(t, mp, "Acme Corp: the domain acme.test is no longer verified")
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
