package handlers_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"gatehouse/handlers/testapp"
	"gatehouse/models/mail"
	"gatehouse/models/mail/mailpit"
)

func filterQ(f string) string { return "?filter=" + url.QueryEscape(f) }

func resources(t *testing.T, r scimRes) []map[string]any {
	t.Helper()
	list, ok := r.Body["Resources"].([]any)
	if !ok {
		t.Fatalf("no Resources: %s", r.Raw)
	}
	out := make([]map[string]any, len(list))
	for i, x := range list {
		out[i] = x.(map[string]any)
	}
	return out
}

// TestEntraInitialSync replays what Microsoft Entra ID does on its first provisioning
// cycle, and checks the invitations arrive through a real SMTP server.
func TestEntraInitialSync(t *testing.T) {
	mp := mailpit.Start(t)
	sender, err := mail.NewSMTP(mp.SMTPURL(), "Gatehouse <gatehouse@example.test>")
	if err != nil {
		t.Fatal(err)
	}
	e := newSCIMEnvWith(t, testapp.Options{Sender: sender, Jobs: true})
	// Test Connection: a random userName, expecting an empty list.
	if r := e.do("GET", "/Users"+filterQ(`userName eq "5d48a0a8-e3ea-4f1c-9b0c-a6b2d5f2d2a3"`), nil); r.str("totalResults") != "0" {
		t.Fatalf("test connection: %s", r.Raw)
	}
	var ids []string
	for i := 1; i <= 3; i++ {
		upn := fmt.Sprintf("user%d@contoso.example", i)
		if r := e.do("GET", "/Users"+filterQ(`userName eq "`+upn+`"`), nil); r.str("totalResults") != "0" {
			t.Fatalf("lookup %s: %s", upn, r.Raw)
		}
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"externalId":"ext-%d","userName":%q,"active":true,"displayName":"User %d",
			"emails":[{"primary":true,"type":"work","value":%q}],"meta":{"resourceType":"User"},
			"name":{"formatted":"User %d","familyName":"%d","givenName":"User"},
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales"}}`, i, upn, i, upn, i, i)
		r := e.do("POST", "/Users", body)
		if r.Status != 201 {
			t.Fatalf("create %s: %d %s", upn, r.Status, r.Raw)
		}
		ids = append(ids, r.str("id"))
	}
	// Groups: look up, create without members, then add them with a PATCH.
	if r := e.do("GET", "/Groups"+filterQ(`displayName eq "Sales"`)+"&excludedAttributes=members", nil); r.str("totalResults") != "0" {
		t.Fatalf("group lookup: %s", r.Raw)
	}
	g := e.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"externalId":"grp-1","displayName":"Sales","members":[]}`)
	if g.Status != 201 {
		t.Fatalf("group: %d %s", g.Status, g.Raw)
	}
	gid := g.str("id")
	add := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[` +
		`{"value":"` + ids[0] + `"},{"value":"` + ids[1] + `"},{"value":"` + ids[2] + `"}]}]}`
	if r := e.do("PATCH", "/Groups/"+gid, add); r.Status != 200 && r.Status != 204 {
		t.Fatalf("add members: %d %s", r.Status, r.Raw)
	}
	// Incremental cycle: a changed attribute, a removed member, a disabled user.
	if r := e.do("PATCH", "/Users/"+ids[0], `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"displayName","value":"User One"},{"op":"Replace","path":"name.givenName","value":"Uno"}]}`); r.str("displayName") != "User One" {
		t.Fatalf("update: %s", r.Raw)
	}
	if r := e.do("PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"value":"`+ids[2]+`"}]}]}`); r.Status >= 300 {
		t.Fatalf("remove member: %d %s", r.Status, r.Raw)
	}
	if r := e.do("PATCH", "/Users/"+ids[1], `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`); r.str("active") != "false" {
		t.Fatalf("disable: %s", r.Raw)
	}
	if r := e.do("GET", "/Groups/"+gid, nil); len(r.Body["members"].([]any)) != 2 {
		t.Fatalf("group members: %s", r.Raw)
	}
	// Every provisioned user got an invitation through the SMTP server.
	msgs := mp.WaitForMessages(t, 3)
	got := recipients(msgs, "Join Acme Corp")
	if strings.Join(got, " ") != "user1@contoso.example user2@contoso.example user3@contoso.example" {
		t.Fatalf("invitations to %v", got)
	}
	// Nothing failed on the way: the provisioning log has no error.
	if n := count(t, e.a, "SELECT count(*) FROM scim_requests WHERE status >= 400"); n != 0 {
		t.Fatalf("%d failed SCIM requests", n)
	}
}

// TestOktaPush replays Okta's provisioning: look-up then create, profile pushes with
// PUT, group push, deactivation, membership removal by filter.
func TestOktaPush(t *testing.T) {
	e := newSCIMEnv(t)
	user := func(given string, active bool) string {
		return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"okta.user@example.com",
			"name":{"givenName":%q,"familyName":"Okta"},"emails":[{"primary":true,"value":"okta.user@example.com","type":"work"}],
			"displayName":"%s Okta","locale":"en-US","externalId":"00u1abcd","groups":[],"password":"ignored-1!","active":%v}`, given, given, active)
	}
	if r := e.do("GET", "/Users"+filterQ(`userName eq "okta.user@example.com"`)+"&startIndex=1&count=100", nil); r.str("totalResults") != "0" {
		t.Fatalf("lookup: %s", r.Raw)
	}
	r := e.do("POST", "/Users", user("Ann", true))
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	id := r.str("id")
	if r := e.do("PUT", "/Users/"+id, user("Anna", true)); r.Status != 200 || !strings.Contains(r.Raw, `"givenName":"Anna"`) {
		t.Fatalf("profile push: %d %s", r.Status, r.Raw)
	}
	g := e.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Okta Engineers","members":[{"value":"`+id+`","display":"okta.user@example.com"}]}`)
	gid := g.str("id")
	if g.Status != 201 {
		t.Fatalf("group push: %d %s", g.Status, g.Raw)
	}
	if r := e.do("PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"`+gid+`","displayName":"Okta Engineering"}}]}`); r.Status >= 300 {
		t.Fatalf("rename: %d %s", r.Status, r.Raw)
	}
	if r := e.do("PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"`+id+`\"]"}]}`); r.Status >= 300 {
		t.Fatalf("remove: %d %s", r.Status, r.Raw)
	}
	if r := e.do("GET", "/Groups/"+gid, nil); r.str("displayName") != "Okta Engineering" || len(r.Body["members"].([]any)) != 0 {
		t.Fatalf("group: %s", r.Raw)
	}
	if r := e.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`); r.str("active") != "false" {
		t.Fatalf("deactivate: %s", r.Raw)
	}
	if r := e.do("PUT", "/Users/"+id, user("Anna", true)); r.str("active") != "true" {
		t.Fatalf("reactivate: %s", r.Raw)
	}
	if n := count(t, e.a, "SELECT count(*) FROM scim_requests WHERE status >= 400"); n != 0 {
		t.Fatalf("%d failed SCIM requests", n)
	}
}
