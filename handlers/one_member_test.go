package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/handlers/testapp"
	"gatehouse/models/mail"
	"gatehouse/models/mail/mailpit"
	"gatehouse/models/samlsp/samltest"
)

// Issue "SCIM users are the IdP's users: userName as sent, one member per person,
// deprovisioning always wins": each numbered item through the real app.

const patchActive = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":%s}]}`

// ssoAs signs c in to acme through the in-process IdP (SP-initiated) as u.
func (e *scimEnv) ssoAs(c *testapp.Client, u samltest.User) *testapp.Response {
	e.t.Helper()
	return e.answer(c, c.Post("/auth/login/acme/", nil), u)
}

// membersOf counts acme's member rows that are this person (by email or userName).
func (e *scimEnv) membersOf(email string) int {
	e.t.Helper()
	return e.count(`SELECT count(*) FROM members WHERE org_id = 1 AND (lower(email) = lower(?) OR lower(user_name) = lower(?))`, email, email)
}

func wantRemovedByIdP(t *testing.T, res *testapp.Response) {
	t.Helper()
	if res.Status != http.StatusForbidden || !strings.Contains(res.Body, "removed by the organization") {
		t.Fatalf("want the removed-by-the-IdP refusal, got %d %s\n%s", res.Status, res.Location, res.Body)
	}
}

func scimCreate(t *testing.T, e *scimEnv, body string) string {
	t.Helper()
	r := e.do("POST", "/Users", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	return r.str("id")
}

// Item 1: an SSO sign-in does not undo a SCIM deactivation (no second member).
func TestSSODoesNotUndoSCIMDeactivation(t *testing.T) {
	e := newSCIMEnv(t)
	id := scimCreate(t, e, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"zed@example.com"}`)
	if r := e.do("PATCH", "/Users/"+id, fmt.Sprintf(patchActive, "false")); r.Status != 200 {
		t.Fatalf("deactivate: %d %s", r.Status, r.Raw)
	}
	zed := e.a.Client(t)
	wantRemovedByIdP(t, e.ssoAs(zed, user("zed-1", "zed@example.com")))
	// IdP-initiated too.
	wantRemovedByIdP(t, e.post(e.a.Client(t), e.idp.Response(t, e.sp, user("zed-1", "zed@example.com"), samltest.Options{}), ""))
	if got := resources(t, e.do("GET", "/Users"+filterQ(`userName eq "zed@example.com"`), nil)); len(got) != 1 {
		t.Fatalf("filter: %d Users", len(got))
	}
	if n := e.membersOf("zed@example.com"); n != 1 {
		t.Fatalf("%d members for zed", n)
	}
	if n := e.count(`SELECT count(*) FROM users WHERE lower(email) = 'zed@example.com'`); n != 0 {
		t.Fatalf("a just-in-time account was made for a deprovisioned person")
	}
	// The database refuses a second member for the same person whatever the path.
	_, err := e.a.DB.Bun.ExecContext(context.Background(), `INSERT INTO members (org_id, invite_email, role) VALUES (1, 'ZED@example.com', 'member')`)
	if err == nil || !strings.Contains(err.Error(), "members_org_") {
		t.Fatalf("second row for zed: %v", err)
	}
}

// Item 2 and the "Entra guest" sequence: userName is the UPN, the mail is in emails.
// provision → SSO → deactivate → SSO refused → reactivate → SSO works, one member.
func TestEntraGuestSequence(t *testing.T) {
	e := newSCIMEnv(t)
	const upn, mailAddr = "carol_gmail.com#EXT#@contoso.onmicrosoft.com", "carol@gmail.com"
	id := scimCreate(t, e, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"externalId":"c0ffee00-1111-2222-3333-444455556666","userName":"`+upn+`","active":true,"displayName":"Carol",
		"emails":[{"primary":true,"type":"work","value":"`+mailAddr+`"}],"name":{"givenName":"Carol","familyName":"Guest"}}`)
	r := e.do("GET", "/Users/"+id, nil)
	if r.str("userName") != upn || !strings.Contains(r.Raw, `"value":"`+mailAddr+`"`) {
		t.Fatalf("stored: %s", r.Raw)
	}
	// The invitation goes to the mail, not to the undeliverable UPN.
	mailToken(t, e.a, mailAddr, "invitation")
	if n := e.count(`SELECT count(*) FROM river_job WHERE kind = 'email' AND lower(args->>'to') = lower(?)`, upn); n != 0 {
		t.Fatal("an email went to the UPN")
	}
	// Entra's seed mapping: the IdP user id is the UPN (NameID), the email the mail.
	carol := user(upn, mailAddr)
	c := e.a.Client(t)
	if res := e.ssoAs(c, carol); res.Status != http.StatusSeeOther {
		t.Fatalf("first SSO: %d %s", res.Status, res.Body)
	}
	if c.Get("/organizations/acme/").Status != 200 {
		t.Fatal("carol not in")
	}
	if n := e.count(`SELECT count(*) FROM members WHERE id = ? AND user_id IS NOT NULL AND sso_linked AND active`, id); n != 1 {
		t.Fatal("the first SSO did not land on the provisioned member")
	}
	if n := e.membersOf(mailAddr); n != 1 {
		t.Fatalf("%d members for carol", n)
	}
	// Entra sends "False" as a string.
	if r := e.do("PATCH", "/Users/"+id, fmt.Sprintf(patchActive, `"False"`)); r.Status != 200 || r.Body["active"] != false {
		t.Fatalf("deactivate: %d %s", r.Status, r.Raw)
	}
	if c.Get("/organizations/acme/").Status == 200 {
		t.Fatal("carol kept access")
	}
	wantRemovedByIdP(t, e.ssoAs(e.a.Client(t), carol))
	if n := e.membersOf(mailAddr); n != 1 {
		t.Fatalf("%d members for carol after the refused SSO", n)
	}
	if r := e.do("PATCH", "/Users/"+id, fmt.Sprintf(patchActive, `"True"`)); r.Status != 200 {
		t.Fatalf("reactivate: %d %s", r.Status, r.Raw)
	}
	c2 := e.a.Client(t)
	if res := e.ssoAs(c2, carol); res.Status != http.StatusSeeOther || c2.Get("/organizations/acme/").Status != 200 {
		t.Fatalf("SSO after reactivation: %d %s", res.Status, res.Body)
	}
	if n := e.membersOf(mailAddr); n != 1 {
		t.Fatalf("%d members for carol at the end", n)
	}
	if got := resources(t, e.do("GET", "/Users"+filterQ(`userName eq "`+upn+`"`), nil)); len(got) != 1 || got[0]["id"] != id {
		t.Fatalf("filter by UPN: %v", got)
	}
}

// The "Okta re-assignment" sequence: Okta's IdP user id is its user id (externalId);
// unassigning deactivates, re-assigning finds the user and reactivates it. Then a
// DELETE: the person stays out until Okta provisions them again.
func TestOktaReassignmentSequence(t *testing.T) {
	e := newSCIMEnv(t)
	const email, oktaID = "otto@example.com", "00u1otto9XyZ"
	id := scimCreate(t, e, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+email+`","externalId":"`+oktaID+`",
		"name":{"givenName":"Otto","familyName":"O"},"emails":[{"primary":true,"value":"`+email+`","type":"work"}],"active":true}`)
	otto := user(oktaID, email)
	c := e.a.Client(t)
	if res := e.ssoAs(c, otto); res.Status != http.StatusSeeOther || c.Get("/organizations/acme/").Status != 200 {
		t.Fatalf("first SSO: %d %s", res.Status, res.Body)
	}
	if n := e.count(`SELECT count(*) FROM members WHERE id = ? AND user_id IS NOT NULL`, id); n != 1 {
		t.Fatal("SSO did not land on the provisioned member")
	}
	// Unassign: Okta PATCHes active false.
	e.do("PATCH", "/Users/"+id, fmt.Sprintf(patchActive, "false"))
	wantRemovedByIdP(t, e.ssoAs(e.a.Client(t), otto))
	if c.Get("/organizations/acme/").Status == 200 {
		t.Fatal("otto kept his session")
	}
	// Re-assign: Okta looks the user up and reactivates.
	got := resources(t, e.do("GET", "/Users"+filterQ(`userName eq "`+strings.ToUpper(email)+`"`), nil))
	if len(got) != 1 || got[0]["id"] != id {
		t.Fatalf("lookup: %v", got)
	}
	e.do("PATCH", "/Users/"+id, fmt.Sprintf(patchActive, "true"))
	c2 := e.a.Client(t)
	if res := e.ssoAs(c2, otto); res.Status != http.StatusSeeOther || c2.Get("/organizations/acme/").Status != 200 {
		t.Fatalf("SSO after re-assignment: %d %s", res.Status, res.Body)
	}
	if n := e.membersOf(email); n != 1 {
		t.Fatalf("%d members for otto", n)
	}
	// DELETE: no SSO, no just-in-time membership until provisioned again.
	if r := e.do("DELETE", "/Users/"+id, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.Status)
	}
	wantRemovedByIdP(t, e.ssoAs(e.a.Client(t), otto))
	if n := e.membersOf(email); n != 0 {
		t.Fatalf("%d members for otto after the DELETE", n)
	}
	id2 := scimCreate(t, e, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+email+`","externalId":"`+oktaID+`","active":true}`)
	c3 := e.a.Client(t)
	if res := e.ssoAs(c3, otto); res.Status != http.StatusSeeOther || c3.Get("/organizations/acme/").Status != 200 {
		t.Fatalf("SSO after provisioning again: %d %s", res.Status, res.Body)
	}
	if n := e.count(`SELECT count(*) FROM members WHERE id = ? AND user_id IS NOT NULL AND active`, id2); n != 1 || e.membersOf(email) != 1 {
		t.Fatal("not exactly one active member for otto")
	}
}

// Item 3: a userName that is not an address is kept as sent and found again; a PATCH
// of emails[type eq "work"].value is stored.
func TestSCIMUserNameKeptAsSent(t *testing.T) {
	e := newSCIMEnv(t)
	id := scimCreate(t, e, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Dave","emails":[{"value":"dave@example.com","type":"work"}]}`)
	if r := e.do("GET", "/Users/"+id, nil); r.str("userName") != "Dave" {
		t.Fatalf("userName: %s", r.Raw)
	}
	for _, q := range []string{`userName eq "dave"`, `userName eq "DAVE"`, `emails[type eq "work"].value eq "dave@example.com"`} {
		if got := resources(t, e.do("GET", "/Users"+filterQ(q), nil)); len(got) != 1 || got[0]["userName"] != "Dave" {
			t.Fatalf("%s: %v", q, got)
		}
	}
	wantSCIMError(t, e.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"dAVE","emails":[{"value":"other@example.com","type":"work"}]}`),
		http.StatusConflict, "uniqueness")
	r := e.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"userName","value":"dave.b"}]}`)
	if r.Status != 200 || r.str("userName") != "dave.b" {
		t.Fatalf("PATCH userName: %d %s", r.Status, r.Raw)
	}
	r = e.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"work\"].value","value":"dave.b@example.com"}]}`)
	if r.Status != 200 || !strings.Contains(r.Raw, `"dave.b@example.com"`) {
		t.Fatalf("PATCH work email: %d %s", r.Status, r.Raw)
	}
	if got := resources(t, e.do("GET", "/Users"+filterQ(`emails.value eq "dave.b@example.com"`), nil)); len(got) != 1 {
		t.Fatal("new email not stored")
	}
	// No address at all is a clear 400.
	wantSCIMError(t, e.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"noaddress"}`), http.StatusBadRequest, "invalidValue")
}

// Item 4: removing unknown or deleted members from a group is a no-op success; adding
// an unknown id fails as a whole and names it.
func TestSCIMGroupRemoveStaleMembers(t *testing.T) {
	e := newSCIMEnv(t)
	a := scimCreate(t, e, `{"userName":"ann@example.com"}`)
	b := scimCreate(t, e, `{"userName":"ben@example.com"}`)
	g := e.do("POST", "/Groups", map[string]any{"displayName": "Eng", "members": []any{map[string]any{"value": a}, map[string]any{"value": b}}})
	if g.Status != http.StatusCreated {
		t.Fatalf("group: %d %s", g.Status, g.Raw)
	}
	gid := g.str("id")
	e.do("DELETE", "/Users/"+b, nil)
	for _, body := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"` + b + `\"]"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members","value":[{"value":"999999"},{"value":"` + b + `"}]}]}`,
	} {
		if r := e.do("PATCH", "/Groups/"+gid, body); r.Status != 200 && r.Status != 204 {
			t.Fatalf("remove stale: %d %s", r.Status, r.Raw)
		}
	}
	if n := e.count(`SELECT count(*) FROM team_members WHERE team_id = ?`, gid); n != 1 {
		t.Fatalf("%d team members", n)
	}
	r := e.do("PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"`+a+`"},{"value":"999999"}]}]}`)
	wantSCIMError(t, r, http.StatusBadRequest, "invalidValue")
	if !strings.Contains(r.Raw, "999999") {
		t.Fatalf("error does not name the id: %s", r.Raw)
	}
}

// Items 6 and 7: unknown extension URNs are accepted and ignored; a PUT without
// active leaves a deactivated member deactivated.
func TestSCIMUnknownExtensionsAndPutWithoutActive(t *testing.T) {
	e := newSCIMEnv(t)
	id := scimCreate(t, e, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:okta:gatehouse:1.0:user:custom","urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"],
		"userName":"fay@example.com","urn:okta:gatehouse:1.0:user:custom":{"costCode":"42"},
		"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User":{"tag":"x"}}`)
	e.do("PATCH", "/Users/"+id, fmt.Sprintf(patchActive, "false"))
	r := e.do("PUT", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"fay@example.com","displayName":"Fay"}`)
	if r.Status != 200 || r.Body["active"] != false || r.str("displayName") != "Fay" {
		t.Fatalf("PUT without active: %d %s", r.Status, r.Raw)
	}
	// A Group's schema in a User body is still refused.
	wantSCIMError(t, e.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"userName":"gus@example.com"}`), http.StatusBadRequest, "")
}

// Item 8: invitations follow the IdP (reactivation of a member created inactive, a
// new address: the old link dies), "bearer" in lower case, /Users/.search, the
// enterprise extension in discovery.
func TestSCIMInvitationsFollowTheIdPAndSmallerItems(t *testing.T) {
	mp := mailpit.Start(t)
	sender, err := mail.NewSMTP(mp.SMTPURL(), "Gatehouse <gatehouse@example.test>")
	if err != nil {
		t.Fatal(err)
	}
	e := newSCIMEnvWith(t, testapp.Options{Sender: sender, Jobs: true})
	id := scimCreate(t, e, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"hal","emails":[{"value":"hal@example.com","primary":true}],"active":false}`)
	e.do("PATCH", "/Users/"+id, fmt.Sprintf(patchActive, "true"))
	first := mailToken(t, e.a, "hal@example.com", "invitation")
	// A new address: the invitation goes there, the old link stops working.
	r := e.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails","value":[{"value":"hal.new@example.com","primary":true,"type":"work"}]}]}`)
	if r.Status != 200 {
		t.Fatalf("new email: %d %s", r.Status, r.Raw)
	}
	second := mailToken(t, e.a, "hal.new@example.com", "invitation")
	if second == first {
		t.Fatal("same token")
	}
	visitor := e.a.Client(t)
	if res := visitor.Get("/accept/" + first + "/"); res.Status != http.StatusNotFound {
		t.Fatalf("the old link still works: %d", res.Status)
	}
	if res := visitor.Get("/accept/" + second + "/"); res.Status != http.StatusOK {
		t.Fatalf("the new link: %d", res.Status)
	}
	msgs := mp.WaitForMessages(t, 2)
	var to []string
	for _, m := range msgs {
		for _, a := range m.To {
			to = append(to, a.Address)
		}
	}
	if strings.Join(to, " ") != "hal.new@example.com hal@example.com" && strings.Join(to, " ") != "hal@example.com hal.new@example.com" {
		t.Fatalf("mail went to %v", to)
	}
	// A deactivated pending member's link opens nothing and says why.
	e.do("PATCH", "/Users/"+id, fmt.Sprintf(patchActive, "false"))
	wantRemovedByIdP(t, visitor.Get("/accept/"+second+"/"))

	// "bearer" in lower case.
	req := httptestGet("/api/0/organizations/acme/scim/v2/Users?count=1")
	req.Header.Set("Authorization", "bearer "+e.token)
	res, err := e.a.Fiber.Test(req, -1)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("lower-case bearer: %v %v", res.StatusCode, err)
	}
	// POST /Users/.search.
	s := e.do("POST", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"hal\"","startIndex":1,"count":10}`)
	if s.Status != 200 || len(resources(t, s)) != 1 {
		t.Fatalf(".search: %d %s", s.Status, s.Raw)
	}
	// The enterprise extension is listed.
	for _, p := range []string{"/Schemas", "/ResourceTypes"} {
		if r := e.do("GET", p, nil); !strings.Contains(r.Raw, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User") {
			t.Fatalf("%s lacks the enterprise extension", p)
		}
	}
	if r := e.do("GET", "/Schemas/"+url.PathEscape("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"), nil); r.Status != 200 {
		t.Fatalf("enterprise schema: %d", r.Status)
	}
}

// Deprovisioning wins over a UI invitation and its link, and over the password.
func TestDeprovisionedPersonStaysOut(t *testing.T) {
	e := newSCIMEnv(t)
	id := scimCreate(t, e, `{"userName":"ivy@example.com"}`)
	// Ivy accepts her invitation with a password.
	tok := mailToken(t, e.a, "ivy@example.com", "invitation")
	ivy := e.a.Client(t)
	ivy.Get("/accept/" + tok + "/")
	if res := ivy.Post("/accept/"+tok+"/", url.Values{"email": {"ivy@example.com"}, "name": {"Ivy"}, "password": {"ivy password 1"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("accept: %d %s", res.Status, res.Body)
	}
	if ivy.Get("/organizations/acme/").Status != 200 {
		t.Fatal("ivy not in")
	}
	e.do("PATCH", "/Users/"+id, fmt.Sprintf(patchActive, "false"))
	// Signing in again with the password opens nothing in acme.
	pw := e.a.Client(t)
	pw.Get("/auth/login/")
	pw.Post("/auth/login/", url.Values{"email": {"ivy@example.com"}, "password": {"ivy password 1"}})
	wantRemovedByIdP(t, pw.Get("/organizations/acme/"))
	// SCIM deletes her; a manager's UI invitation cannot bring her back.
	e.do("DELETE", "/Users/"+id, nil)
	res := e.owner.Post("/settings/acme/members/invite/", url.Values{"email": {"ivy@example.com"}, "role": {"member"}})
	if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Body, "identity provider") {
		t.Fatalf("UI invitation of a deprovisioned person: %d", res.Status)
	}
	if n := e.membersOf("ivy@example.com"); n != 0 {
		t.Fatalf("%d members", n)
	}
}

// A member who joined by SSO before SCIM was on is that person: a POST naming them
// (by email, in any case) is 409 uniqueness (SPEC §5), never a second member.
func TestSCIMCreateOfAnSSOMemberConflicts(t *testing.T) {
	e := newSCIMEnv(t)
	c := e.a.Client(t)
	e.ssoAs(c, user("jo-1", "jo@example.com"))
	wantSCIMError(t, e.do("POST", "/Users", `{"userName":"jo-1","externalId":"x-jo","emails":[{"value":"JO@example.com","primary":true}]}`), http.StatusConflict, "uniqueness")
	if n := e.membersOf("jo@example.com"); n != 1 {
		t.Fatalf("%d members", n)
	}
}

// A SCIM User renamed after the person's first sign-in, then deleted, keeps the
// person out: the deletion record names the renamed User and the linked account, and
// the sign-in (IdP user id and address as at first) is refused, with no member made.
func TestSCIMRenameThenDeleteKeepsThePersonOut(t *testing.T) {
	e := newSCIMEnv(t)
	id := scimCreate(t, e, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"kim@example.com","emails":[{"value":"kim@example.com","primary":true}]}`)
	kim := e.a.Client(t)
	if res := e.ssoAs(kim, user("kim-1", "kim@example.com")); res.Status != http.StatusSeeOther {
		t.Fatalf("first sign-in: %d %s\n%s", res.Status, res.Location, res.Body)
	}
	rename := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"userName":"kimberly@example.com"}}]}`
	if r := e.do("PATCH", "/Users/"+id, rename); r.Status != 200 {
		t.Fatalf("rename: %d %s", r.Status, r.Raw)
	}
	if r := e.do("DELETE", "/Users/"+id, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	if n := e.count(`SELECT count(*) FROM scim_removed WHERE user_id IS NOT NULL AND user_name = 'kimberly@example.com'`); n != 1 {
		t.Fatalf("the deletion record does not name the renamed User and kim's account (%d)", n)
	}
	wantRemovedByIdP(t, e.ssoAs(e.a.Client(t), user("kim-1", "kim@example.com")))
	if n := e.count(`SELECT count(*) FROM members WHERE org_id = 1 AND user_id = (SELECT id FROM users WHERE email = 'kim@example.com')`); n != 0 {
		t.Fatalf("kim is a member again (%d)", n)
	}
}
