package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
	"gatehouse/models/oauth/oauthtest"
	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// Trust boundaries (issue "no org's IdP can become someone else, and no manager can
// become an owner"): each hole as an attack through the real app.

// memberID returns the members row id of email in org slug (pending or joined).
func memberID(t *testing.T, a *testapp.App, slug, email string) int64 {
	t.Helper()
	var id int64
	if err := a.DB.Bun.NewRaw(`SELECT m.id FROM members m JOIN organizations o ON o.id = m.org_id WHERE o.slug = ? AND lower(m.email) = lower(?)`,
		slug, email).Scan(context.Background(), &id); err != nil {
		t.Fatalf("member %s of %s: %v", email, slug, err)
	}
	return id
}

// Hole 1: a manager re-addresses a pending owner invitation through SCIM, resends it
// to themselves, or takes it over through SSO.
func TestManagerCannotTakeOverAnOwnerInvitation(t *testing.T) {
	e := newSCIMEnv(t)
	manager := inviteAndJoin(t, e.a, e.owner, "manager@example.com", "manager")
	if res := e.owner.Post("/settings/acme/members/invite/", url.Values{"email": {"cfo@example.com"}, "role": {"owner"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("invite owner: %d", res.Status)
	}
	inv := memberID(t, e.a, "acme", "cfo@example.com")
	path := "/Users/" + itoa(inv)

	// SCIM (even with the owner's token) never re-addresses, deletes or deactivates a
	// pending owner invitation, nor any invitation made in the UI.
	for _, tc := range []struct {
		name   string
		method string
		body   any
	}{
		{"PUT userName", http.MethodPut, map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": "manager@example.com", "active": true}},
		{"PATCH userName", http.MethodPatch, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "userName", "value": "manager@example.com"}}}},
		{"PATCH active", http.MethodPatch, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": false}}}},
		{"DELETE", http.MethodDelete, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, path, tc.body)
			wantSCIMError(t, r, http.StatusForbidden, "")
		})
	}
	var email string
	if err := e.a.DB.Bun.NewRaw("SELECT invite_email FROM members WHERE id = ?", inv).Scan(context.Background(), &email); err != nil || email != "cfo@example.com" {
		t.Fatalf("invitation now for %q (%v)", email, err)
	}
	// A manager may not resend or cancel an invitation whose role they cannot grant
	// (the members page shows the refusal).
	for _, action := range []string{"resend", "cancel"} {
		manager.Post("/settings/acme/members/"+itoa(inv)+"/"+action+"/", nil)
		if page := manager.Get("/settings/acme/members/"); !strings.Contains(page.Body, "Only owners can") {
			t.Fatalf("manager %s of an owner invitation: no refusal shown", action)
		}
	}
	if n := count(t, e.a, "SELECT count(*) FROM members WHERE id = ?", inv); n != 1 {
		t.Fatal("the manager cancelled the owner invitation")
	}
	if n := count(t, e.a, "SELECT count(*) FROM river_job WHERE args->>'template' = 'invitation' AND args->>'to' = 'cfo@example.com'"); n != 1 {
		t.Fatalf("owner invitation emails: %d, want the original only", n)
	}
	// An SSO sign-in for the invited address never accepts an owner invitation.
	c := e.a.Client(t)
	c.Get("/auth/login/acme/")
	res := e.answer(c, c.Post("/auth/login/acme/", nil), user("cfo-idp", "cfo@example.com"))
	if res.Status != http.StatusForbidden || !strings.Contains(res.Body, "invited as an owner") {
		t.Fatalf("SSO for an owner invitation: %d %s", res.Status, res.Location)
	}
	if n := count(t, e.a, "SELECT count(*) FROM members WHERE id = ? AND user_id IS NULL AND role = 'owner'", inv); n != 1 {
		t.Fatal("the owner invitation was accepted through SSO")
	}
	if n := count(t, e.a, "SELECT count(*) FROM users WHERE email = 'cfo@example.com'"); n != 0 {
		t.Fatal("an account was made just in time for the invited owner")
	}
}

// Hole 2: SCIM cannot deactivate or delete owners; the audit log names the person
// behind the token; the token dies with its creator's ownership.
func TestSCIMCannotTouchOwnersAndTokensCarryTheirCreator(t *testing.T) {
	e := newSCIMEnv(t)
	coOwner := inviteAndJoin(t, e.a, e.owner, "co@example.com", "owner")
	owner := memberID(t, e.a, "acme", "owner@example.com")
	co := memberID(t, e.a, "acme", "co@example.com")
	deactivate := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": "False"}}}
	wantSCIMError(t, e.do(http.MethodPatch, "/Users/"+itoa(co), deactivate), http.StatusForbidden, "")
	wantSCIMError(t, e.do(http.MethodDelete, "/Users/"+itoa(co), nil), http.StatusForbidden, "")
	wantSCIMError(t, e.do(http.MethodPatch, "/Users/"+itoa(owner), deactivate), http.StatusForbidden, "")
	if n := count(t, e.a, "SELECT count(*) FROM members WHERE role = 'owner' AND active"); n != 2 {
		t.Fatalf("active owners: %d", n)
	}
	if res := coOwner.Get("/organizations/acme/"); res.Status != 200 {
		t.Fatalf("co-owner lost access: %d", res.Status)
	}
	// A non-owner member is deprovisioned, and the audit log names who made the token.
	inviteAndJoin(t, e.a, e.owner, "dev@example.com", "member")
	if r := e.do(http.MethodPatch, "/Users/"+itoa(memberID(t, e.a, "acme", "dev@example.com")), deactivate); r.Status != 200 {
		t.Fatalf("deactivate a member: %d %s", r.Status, r.Raw)
	}
	var actor string
	if err := e.a.DB.Bun.NewRaw("SELECT actor_label FROM audit_events WHERE event = 'member.deactivated'").Scan(context.Background(), &actor); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(actor, "generated by owner@example.com") {
		t.Fatalf("audit actor %q does not name the token's creator", actor)
	}
	// Demoted, the creator's token has no power left.
	if res := coOwner.Post("/settings/acme/members/"+itoa(owner)+"/role/", url.Values{"role": {"manager"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("demote: %d %s", res.Status, res.Body)
	}
	r := e.do(http.MethodGet, "/Users", nil)
	if r.Status != http.StatusUnauthorized || !strings.Contains(r.Raw, "no longer an owner") {
		t.Fatalf("token of a demoted owner: %d %s", r.Status, r.Raw)
	}
}

// A token whose creator's account is gone (deleted by the operator: created_by_id is
// set NULL) has no person behind it, and is refused like a demoted owner's; a token
// the operator generated with the CLI keeps working.
func TestSCIMTokenOfADeletedCreatorIsPowerless(t *testing.T) {
	e := newSCIMEnv(t)
	inviteAndJoin(t, e.a, e.owner, "co@example.com", "owner")
	if r := e.do(http.MethodGet, "/Users", nil); r.Status != http.StatusOK {
		t.Fatalf("token before: %d %s", r.Status, r.Raw)
	}
	ctx := context.Background()
	// The operator removes the creator's account outright (no UI does this).
	for _, q := range []string{
		"DELETE FROM members WHERE email = 'owner@example.com'",
		"DELETE FROM users WHERE email = 'owner@example.com'",
	} {
		if _, err := e.a.DB.Bun.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, e.a, "SELECT count(*) FROM scim_tokens WHERE created_by_id IS NULL AND revoked_at IS NULL"); n != 1 {
		t.Fatalf("tokens left without a creator: %d", n)
	}
	r := e.do(http.MethodGet, "/Users", nil)
	if r.Status != http.StatusUnauthorized || !strings.Contains(r.Raw, "no longer an owner") {
		t.Fatalf("token of a deleted creator: %d %s", r.Status, r.Raw)
	}
	// The operator's own token (CLI) acts for the operator, who has every power.
	mailer, err := models.NewMailer(e.a.DB.SQL)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := models.CreateSCIMToken(ctx, e.a.DB.Bun, mailer, int64(count(t, e.a, "SELECT id FROM organizations WHERE slug = 'acme'")), models.System("cli"))
	if err != nil {
		t.Fatal(err)
	}
	if r := scimDo(t, e.a, secret, http.MethodGet, "/api/0/organizations/acme/scim/v2/Users", nil); r.Status != http.StatusOK {
		t.Fatalf("operator's token: %d %s", r.Status, r.Raw)
	}
}

// Hole 5 and the owner-only trust changes: a manager cannot disable the provider,
// replace a once-trusted IdP, activate one, or handle SCIM tokens; owners are emailed
// when another owner does.
func TestOnlyOwnersChangeWhomTheOrgTrusts(t *testing.T) {
	e := newSCIMEnv(t)
	manager := inviteAndJoin(t, e.a, e.owner, "manager@example.com", "manager")
	inviteAndJoin(t, e.a, e.owner, "co@example.com", "owner")
	if res := manager.Post("/settings/acme/auth/disable/", nil); res.Status != http.StatusForbidden {
		t.Fatalf("manager disable: %d", res.Status)
	}
	manager.Post("/settings/acme/auth/scim/tokens/", nil)
	if n := count(t, e.a, "SELECT count(*) FROM scim_tokens"); n != 1 {
		t.Fatalf("a manager generated a SCIM token: %d tokens", n)
	}
	var tokenID int64
	if err := e.a.DB.Bun.NewRaw("SELECT id FROM scim_tokens").Scan(context.Background(), &tokenID); err != nil {
		t.Fatal(err)
	}
	if res := manager.Post("/settings/acme/auth/scim/tokens/"+itoa(tokenID)+"/revoke/", nil); res.Status != http.StatusForbidden {
		t.Fatalf("manager revoke: %d", res.Status)
	}
	if n := count(t, e.a, "SELECT count(*) FROM scim_tokens WHERE revoked_at IS NULL"); n != 1 {
		t.Fatal("a manager revoked the SCIM token")
	}
	if n := count(t, e.a, "SELECT count(*) FROM auth_providers WHERE status = 'active'"); n != 1 {
		t.Fatal("the provider changed")
	}
	// The owner disables; a manager cannot set up a new IdP in its place.
	if res := e.owner.Post("/settings/acme/auth/disable/", nil); res.Status != http.StatusSeeOther {
		t.Fatalf("owner disable: %d", res.Status)
	}
	if n := count(t, e.a, "SELECT count(*) FROM river_job WHERE args->>'template' = 'trust_changed' AND args->>'to' = 'co@example.com'"); n != 1 {
		t.Fatalf("trust-change emails to the other owner: %d", n)
	}
	evil := samltest.New(t, "https://evil.example")
	res := manager.Post("/settings/acme/auth/configure/saml2/", url.Values{"method": {"xml"}, "metadata_xml": {string(evil.Metadata())},
		"map_identifier": {"NameID"}, "map_email": {"email"}})
	if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Body, "only an owner can set up") {
		t.Fatalf("manager configures a new IdP after one was trusted: %d %s", res.Status, res.Doc.Find(`[data-testid^="error-"]`).Text())
	}
	if n := count(t, e.a, "SELECT count(*) FROM auth_providers"); n != 0 {
		t.Fatal("a provider was stored")
	}
	// Even a pending provider an owner set up cannot be activated by the manager.
	if res := e.owner.Post("/settings/acme/auth/configure/saml2/", url.Values{"method": {"xml"}, "metadata_xml": {string(evil.Metadata())},
		"map_identifier": {"NameID"}, "map_email": {"email"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("owner configure: %d %s", res.Status, res.Body)
	}
	sp := samlsp.NewSP(e.a.BaseURL, "acme")
	start := manager.Post("/settings/acme/auth/activate/", nil)
	relay, id := authnRequest(t, start)
	res = postToACS(manager, "acme", evil.Response(t, sp, user("mgr", "manager@example.com"), samltest.Options{InResponseTo: id}), relay)
	// Refused, and told why inside Settings › Auth (issue 14 item 5).
	if res.Status != http.StatusOK || res.Text("h1") != "Activation failed" || !strings.Contains(res.Text(`[data-testid="test-verdict"]`), "owner") {
		t.Fatalf("manager activation: %d %s %q", res.Status, res.Location, res.Text(`[data-testid="test-verdict"]`))
	}
	if n := count(t, e.a, "SELECT count(*) FROM auth_providers WHERE status = 'active'"); n != 0 {
		t.Fatal("the manager activated an IdP")
	}
}

// Hole 3: org B's IdP makes an account for victim@… just in time; the real person
// later links org A through the emailed link. B's link must die with the proof, and
// until then the account reaches org B only.
func TestAnotherOrgsIdPCannotTakeOverAnAccount(t *testing.T) {
	e := newSSOEnv(t, true) // org acme (A), its IdP e.idp
	// Mallory runs org B with her own IdP.
	mallory := signUp(t, e.a, "mallory@evil.example")
	if res := mallory.Post("/organizations/new/", url.Values{"name": {"Evil"}, "slug": {"evil"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("create org B: %d %s", res.Status, res.Body)
	}
	idpB := samltest.New(t, "https://idp.evil.example")
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(idpB.Metadata()) }))
	t.Cleanup(meta.Close)
	if res := mallory.Post("/settings/evil/auth/configure/saml2/", url.Values{"method": {"url"}, "metadata_url": {meta.URL},
		"map_identifier": {"NameID"}, "map_email": {"email"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("configure B: %d %s", res.Status, res.Body)
	}
	spB := samlsp.NewSP(e.a.BaseURL, "evil")
	relay, id := authnRequest(t, mallory.Post("/settings/evil/auth/activate/", nil))
	if res := postToACS(mallory, "evil", idpB.Response(t, spB, user("mallory", "mallory@evil.example"), samltest.Options{InResponseTo: id}), relay); res.Status != http.StatusSeeOther {
		t.Fatalf("activate B: %d", res.Status)
	}
	// B's IdP asserts the victim's address: a just-in-time account in B.
	attacker := e.a.Client(t)
	attacker.Get("/auth/login/evil/")
	relay, id = authnRequest(t, attacker.Post("/auth/login/evil/", nil))
	res := postToACS(attacker, "evil", idpB.Response(t, spB, user("victim-in-b", "victim@acme.example"), samltest.Options{InResponseTo: id}), relay)
	if res.Status != http.StatusSeeOther || res.Location != "/organizations/evil/" {
		t.Fatalf("JIT in B: %d %s", res.Status, res.Location)
	}
	// Org A invites the victim; the JIT account cannot reach A while unproven.
	if res := e.owner.Post("/settings/acme/members/invite/", url.Values{"email": {"victim@acme.example"}, "role": {"member"}}); res.Status != http.StatusSeeOther {
		t.Fatal("invite")
	}
	// The real victim signs in to A through A's IdP and proves the mailbox by the emailed link.
	victim := e.a.Client(t)
	victim.Get("/auth/login/acme/")
	res = e.answer(victim, victim.Post("/auth/login/acme/", nil), user("victim-in-a", "victim@acme.example"))
	if !strings.HasPrefix(res.Location, "/auth/link/") {
		t.Fatalf("A's sign-in for an existing address: %d %s", res.Status, res.Location)
	}
	victim.Get(res.Location)
	victim.Post(res.Location+"email/", nil)
	res = victim.Get("/auth/link/confirm/" + mailToken(t, e.a, "victim@acme.example", "link_confirm") + "/")
	if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("emailed link: %d %s %s", res.Status, res.Location, res.Body)
	}
	// The proof claimed the account clean: B's link and the attacker's session are gone.
	if n := count(t, e.a, "SELECT count(*) FROM auth_identities WHERE idp_user_id = 'victim-in-b'"); n != 0 {
		t.Fatal("B's link survived the mailbox proof")
	}
	if res := attacker.Get("/organizations/evil/"); res.Status == http.StatusOK {
		t.Fatal("the attacker's session survived the mailbox proof")
	}
	// B's IdP asserting the victim again gets no session: the account is someone's now.
	intruder := e.a.Client(t)
	intruder.Get("/auth/login/evil/")
	relay, id = authnRequest(t, intruder.Post("/auth/login/evil/", nil))
	res = postToACS(intruder, "evil", idpB.Response(t, spB, user("victim-in-b", "victim@acme.example"), samltest.Options{InResponseTo: id}), relay)
	if !strings.HasPrefix(res.Location, "/auth/link/") {
		t.Fatalf("B's IdP for a proven account: %d %s", res.Status, res.Location)
	}
	if res := intruder.Get("/organizations/acme/"); res.Status == http.StatusOK {
		t.Fatal("B's IdP opened org A")
	}
	if res := victim.Get("/organizations/acme/"); res.Status != http.StatusOK {
		t.Fatalf("the victim lost A: %d", res.Status)
	}
}

// A just-in-time account that nobody proved reaches only the org whose IdP made it.
func TestUnprovenJITAccountReachesItsOrgOnly(t *testing.T) {
	e := newSSOEnv(t, true)
	c := e.a.Client(t)
	c.Get("/auth/login/acme/")
	if res := e.answer(c, c.Post("/auth/login/acme/", nil), user("jit", "jit@example.com")); res.Location != "/organizations/acme/" {
		t.Fatalf("JIT: %d %s", res.Status, res.Location)
	}
	// It joins another org (the invitation went elsewhere: typed by an inviter).
	if res := c.Post("/organizations/new/", url.Values{"name": {"Side"}, "slug": {"side"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("create org: %d", res.Status)
	}
	if res := c.Get("/organizations/side/"); res.Status != http.StatusForbidden || !strings.Contains(res.Body, "Verify your email") {
		t.Fatalf("unproven JIT account in another org: %d", res.Status)
	}
	if res := c.Get("/organizations/acme/"); res.Status != http.StatusOK {
		t.Fatalf("its own org: %d", res.Status)
	}
}

// Hole 4: a passwordless account cannot set a first password without the mailbox,
// and a registered but unverified address cannot link an IdP with its password.
func TestFirstPasswordAndUnverifiedLinksNeedTheMailbox(t *testing.T) {
	e := newSSOEnv(t, true)
	c := e.a.Client(t)
	c.Get("/auth/login/acme/")
	e.answer(c, c.Post("/auth/login/acme/", nil), user("jit", "jit@example.com"))
	if res := c.Post("/account/password/", url.Values{"new_password": {"attacker password"}}); res.Status != http.StatusForbidden {
		t.Fatalf("first password without proof: %d", res.Status)
	}
	if n := count(t, e.a, "SELECT count(*) FROM users WHERE email = 'jit@example.com' AND password_hash IS NOT NULL"); n != 0 {
		t.Fatal("a first password was set without a mailbox proof")
	}
	if res := c.Post("/account/password/link/", nil); res.Status != http.StatusSeeOther {
		t.Fatalf("email me a link: %d", res.Status)
	}
	mailToken(t, e.a, "jit@example.com", "password_reset")

	// Mallory registers the victim's address (she cannot verify it) and tries to link
	// the org's IdP identity to it with the password she chose.
	m := e.a.Client(t)
	m.Get("/auth/register/")
	if res := m.Post("/auth/register/", url.Values{"name": {"V"}, "email": {"victim@example.com"}, "password": {"mallory chose this"}}); res.Status != 200 {
		t.Fatalf("register: %d", res.Status)
	}
	m.Get("/auth/login/acme/")
	res := e.answer(m, m.Post("/auth/login/acme/", nil), user("mallory-idp", "victim@example.com"))
	if !strings.HasPrefix(res.Location, "/auth/link/") {
		t.Fatalf("SSO for the registered address: %d %s", res.Status, res.Location)
	}
	m.Get(res.Location)
	if res := m.Post(res.Location, url.Values{"method": {"password"}, "password": {"mallory chose this"}}); res.Status == http.StatusSeeOther {
		t.Fatal("an unverified sign-up linked an IdP by its password")
	}
	if n := count(t, e.a, "SELECT count(*) FROM auth_identities WHERE idp_user_id = 'mallory-idp'"); n != 0 {
		t.Fatal("linked")
	}
}

// Hole 6: changing the password ends every other session and rotates this one.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	first := setUp(t, a)
	second := a.Client(t)
	second.Get("/auth/login/")
	if res := second.Post("/auth/login/", url.Values{"email": {"owner@example.com"}, "password": {"owner password"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("second login: %d", res.Status)
	}
	before := first.Cookie("gatehouse_session")
	if before == nil {
		t.Fatal("no session cookie")
	}
	if res := first.Post("/account/password/", url.Values{"current_password": {"owner password"}, "new_password": {"a new owner password"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("change: %d %s", res.Status, res.Body)
	}
	if after := first.Cookie("gatehouse_session"); after == nil || after.Value == before.Value {
		t.Fatal("the session token was not rotated")
	}
	if res := first.Get("/account/"); res.Status != http.StatusOK {
		t.Fatalf("the changing browser lost its session: %d", res.Status)
	}
	if res := second.Get("/account/"); res.Status == http.StatusOK {
		t.Fatal("another session survived the password change")
	}
}

// Smaller holes: sign-up answers alike for taken addresses and is rate-limited; the
// CSRF token is not read from the query string; no SCIM token while SCIM is off.
func TestRegistrationRevealsNothingAndIsLimited(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	setUp(t, a)
	c := a.Client(t)
	c.Get("/auth/register/")
	taken := c.Post("/auth/register/", url.Values{"name": {"X"}, "email": {"Owner@Example.com"}, "password": {"whatever123"}})
	fresh := c.Post("/auth/register/", url.Values{"name": {"X"}, "email": {"new@example.com"}, "password": {"whatever123"}})
	if taken.Status != fresh.Status || taken.Text(`[data-testid="check-email"]`) == "" ||
		strings.ReplaceAll(strings.ToLower(taken.Text(`[data-testid="check-email"]`)), "owner@example.com", "X") != strings.ReplaceAll(strings.ToLower(fresh.Text(`[data-testid="check-email"]`)), "new@example.com", "X") {
		t.Fatalf("answers differ: %d vs %d", taken.Status, fresh.Status)
	}
	if n := count(t, a, "SELECT count(*) FROM river_job WHERE args->>'template' = 'account_exists' AND args->>'to' = 'owner@example.com'"); n != 1 {
		t.Fatalf("account-exists email: %d", n)
	}
	if n := count(t, a, "SELECT count(*) FROM users WHERE email = 'new@example.com' AND NOT email_verified"); n != 1 {
		t.Fatal("the new account is not stored unverified")
	}
	var last *testapp.Response
	for i := 0; i < 10; i++ {
		last = c.Post("/auth/register/", url.Values{"name": {"X"}, "email": {"n" + itoa(int64(i)) + "@example.com"}, "password": {"whatever123"}})
	}
	if last.Status != http.StatusTooManyRequests {
		t.Fatalf("sign-ups are not limited: %d", last.Status)
	}
}

func TestCSRFTokenNotFromQueryString(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	owner := setUp(t, a)
	req := httptestPost("/settings/acme/members/invite/?_csrf="+url.QueryEscape(owner.CSRF()), url.Values{"email": {"q@example.com"}, "role": {"member"}}.Encode())
	if res := owner.Do(req); res.Status != http.StatusForbidden {
		t.Fatalf("token in the query string accepted: %d", res.Status)
	}
	if n := count(t, a, "SELECT count(*) FROM members WHERE email = 'q@example.com'"); n != 0 {
		t.Fatal("invited")
	}
}

func TestNoSCIMTokenWhileSCIMIsOff(t *testing.T) {
	e := newSSOEnv(t, true)
	res := e.owner.Post("/settings/acme/auth/scim/tokens/", nil)
	if page := e.owner.Get(res.Location); !strings.Contains(page.Body, "Enable SCIM") {
		t.Fatalf("token with SCIM off: %d, no refusal shown", res.Status)
	}
	if n := count(t, e.a, "SELECT count(*) FROM scim_tokens"); n != 0 {
		t.Fatal("a token was stored")
	}
}

// Login CSRF: an attacker's SP-initiated response pushed into a victim's browser does
// not sign the victim in as the attacker; an IdP-initiated one asks first when the
// browser is someone else's, and changes nothing until confirmed.
func TestResponsesCompleteOnlyInTheirBrowser(t *testing.T) {
	e := newSSOEnv(t, true)
	attacker := e.a.Client(t)
	attacker.Get("/auth/login/acme/")
	e.answer(attacker, attacker.Post("/auth/login/acme/", nil), user("attacker", "attacker@example.com"))
	relay, id := authnRequest(t, attacker.Post("/auth/login/acme/", nil))
	victim := e.a.Client(t)
	res := postToACS(victim, "acme", e.idp.Response(t, e.sp, user("attacker", "attacker@example.com"), samltest.Options{InResponseTo: id}), relay)
	if res.Status != http.StatusForbidden {
		t.Fatalf("pushed SP-initiated response: %d %s", res.Status, res.Location)
	}
	if res := victim.Get("/organizations/acme/"); res.Status == http.StatusOK {
		t.Fatal("the victim was signed in as the attacker")
	}
	// IdP-initiated into the owner's browser: asked, nothing written, then continued.
	res = postToACS(e.owner, "acme", e.idp.Response(t, e.sp, user("newbie", "newbie@example.com"), samltest.Options{}), "")
	if res.Status != http.StatusOK || !res.Has(`[data-testid="confirm-switch"]`) || !strings.Contains(res.Body, "owner@example.com") {
		t.Fatalf("IdP-initiated over another user's session: %d %s", res.Status, res.Location)
	}
	if n := count(t, e.a, "SELECT count(*) FROM users WHERE email = 'newbie@example.com'"); n != 0 {
		t.Fatal("the unconfirmed sign-in created an account")
	}
	if res := e.owner.Get("/settings/acme/auth/"); res.Status != http.StatusOK {
		t.Fatalf("the owner's session changed: %d", res.Status)
	}
	action := res.Doc.Find(`[data-testid="confirm-switch"] form`).AttrOr("action", "")
	if res := e.owner.Post(action, url.Values{"confirm": {"yes"}}); res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("continue as: %d %s", res.Status, res.Location)
	}
	if n := count(t, e.a, "SELECT count(*) FROM users WHERE email = 'newbie@example.com'"); n != 1 {
		t.Fatal("no account after confirming")
	}
	// A signed-out browser is simply signed in (Sentry's guides rely on it).
	fresh := e.a.Client(t)
	if res := postToACS(fresh, "acme", e.idp.Response(t, e.sp, user("tile", "tile@example.com"), samltest.Options{}), ""); res.Status != http.StatusSeeOther {
		t.Fatalf("IdP-initiated, signed out: %d", res.Status)
	}
}

// OAuth callbacks complete only in the session that started them.
func TestOAuthCallbackBoundToItsBrowser(t *testing.T) {
	e := newOAuthEnv(t)
	e.setUpGoogle()
	attacker := e.a.Client(t)
	attacker.Get("/auth/login/acme/")
	start := attacker.Post("/auth/login/acme/", nil)
	e.google.SetNextUser(googleUser("attacker@example.com", "example.com"))
	cb, err := oauthtestAuthorize(start.Location)
	if err != nil {
		t.Fatal(err)
	}
	victim := e.a.Client(t)
	if res := victim.Get(cb); res.Status != http.StatusForbidden || !strings.Contains(res.Body, "another browser") {
		t.Fatalf("callback in another browser: %d %s", res.Status, res.Location)
	}
	if n := count(t, e.a, "SELECT count(*) FROM users WHERE email = 'attacker@example.com'"); n != 0 {
		t.Fatal("the pushed callback created an account")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// oauthtestAuthorize runs the in-process provider's consent for an authorization
// redirect and returns our callback's path and query.
func oauthtestAuthorize(location string) (string, error) {
	cb, err := oauthtest.Authorize(location)
	if err != nil {
		return "", err
	}
	return cb.RequestURI(), nil
}
