package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"gatehouse/handlers/testapp"
)

// scimEnv is org acme with active SSO, SCIM enabled and a token.
type scimEnv struct {
	*ssoEnv
	token string
}

func newSCIMEnv(t *testing.T) *scimEnv {
	t.Helper()
	return newSCIMEnvWith(t, testapp.Options{})
}

func newSCIMEnvWith(t *testing.T, opts testapp.Options) *scimEnv {
	t.Helper()
	e := newSSOEnvWith(t, opts, true)
	if res := e.owner.Post("/settings/acme/auth/settings/", url.Values{"default_role": {"member"}, "sso_session_hours": {"168"},
		"allow_idp_initiated": {"1"}, "scim_enabled": {"1"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("enable SCIM: %d %s", res.Status, res.Body)
	}
	return &scimEnv{ssoEnv: e, token: newSCIMToken(t, e.owner, "acme")}
}

func newSCIMToken(t *testing.T, c *testapp.Client, slug string) string {
	t.Helper()
	// POST → 303 → GET: the new token is shown once, on the page the redirect leads to.
	post := c.Post("/settings/"+slug+"/auth/scim/tokens/", nil)
	if post.Status != http.StatusSeeOther || strings.Contains(post.Header.Get("Location"), "ghscim_") {
		t.Fatalf("generate token: %d, Location %q", post.Status, post.Header.Get("Location"))
	}
	res := c.Get("/settings/" + slug + "/auth/")
	tok := res.Doc.Find(`[data-testid="scim-new-token"]`).AttrOr("value", "")
	if res.Status != 200 || !strings.HasPrefix(tok, "ghscim_") {
		t.Fatalf("generate token: %d %q", res.Status, tok)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the page with the new token has Cache-Control %q, want no-store", cc)
	}
	if again := c.Get("/settings/" + slug + "/auth/"); again.Doc.Find(`[data-testid="scim-new-token"]`).Length() != 0 {
		t.Fatal("the new token is shown again on the next visit")
	}
	return tok
}

type scimRes struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (s scimRes) str(key string) string { return fmt.Sprint(s.Body[key]) }

// scimDo sends a SCIM request with the bearer token.
func scimDo(t *testing.T, a *testapp.App, token, method, path string, body any) scimRes {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.(string)
		if !ok {
			j, _ := json.Marshal(body)
			b = string(j)
		}
		rd = strings.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := a.Fiber.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := scimRes{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, raw)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
			t.Fatalf("%s %s: Content-Type %q", method, path, ct)
		}
	}
	return out
}

func (e *scimEnv) do(method, path string, body any) scimRes {
	e.t.Helper()
	return scimDo(e.t, e.a, e.token, method, "/api/0/organizations/acme/scim/v2"+path, body)
}

// wantSCIMError checks the RFC 7644 §3.12 error shape.
func wantSCIMError(t *testing.T, r scimRes, status int, scimType string) {
	t.Helper()
	schemas, _ := r.Body["schemas"].([]any)
	if r.Status != status || r.str("status") != fmt.Sprint(status) || len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		t.Fatalf("want SCIM error %d, got %d %s", status, r.Status, r.Raw)
	}
	if _, isString := r.Body["status"].(string); !isString {
		t.Fatalf("status is not a string: %s", r.Raw)
	}
	if scimType != "" && r.str("scimType") != scimType {
		t.Fatalf("scimType %q, want %q: %s", r.str("scimType"), scimType, r.Raw)
	}
}

var entraUser = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
  "userName": "Test_User_ab6490ee@example.com",
  "active": true,
  "displayName": "Test User",
  "emails": [{"primary": true, "type": "work", "value": "Test_User_ab6490ee@example.com"}],
  "meta": {"resourceType": "User"},
  "name": {"formatted": "Test User", "familyName": "User", "givenName": "Test"},
  "roles": []
}`

func TestSCIMAuthAndGating(t *testing.T) {
	e := newSCIMEnv(t)
	base := "/api/0/organizations/acme/scim/v2"
	wantSCIMError(t, scimDo(t, e.a, "", "GET", base+"/Users", nil), 401, "")
	wantSCIMError(t, scimDo(t, e.a, "ghscim_wrong", "GET", base+"/Users", nil), 401, "")
	wantSCIMError(t, scimDo(t, e.a, e.token, "GET", "/api/0/organizations/nope/scim/v2/Users", nil), 401, "")
	// The numeric org id works, with or without a trailing slash.
	if r := scimDo(t, e.a, e.token, "GET", "/api/0/organizations/1/scim/v2/Users/", nil); r.Status != 200 {
		t.Fatalf("numeric id: %d %s", r.Status, r.Raw)
	}
	// Entra's "Test Connection": a random userName, no User-Agent → an empty list.
	r := e.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "8f2c4a6e-17b3-4c8a-9d1e-3f5b7a9c0e21"`), nil)
	if r.Status != 200 || r.str("totalResults") != "0" || fmt.Sprint(r.Body["Resources"]) != "[]" {
		t.Fatalf("test connection: %d %s", r.Status, r.Raw)
	}
	// Discovery.
	spc := e.do("GET", "/ServiceProviderConfig", nil)
	if spc.Status != 200 || !strings.Contains(spc.Raw, `"patch":{"supported":true}`) || !strings.Contains(spc.Raw, `"bulk":{`) {
		t.Fatalf("ServiceProviderConfig: %s", spc.Raw)
	}
	for _, p := range []string{"/ResourceTypes", "/ResourceTypes/User", "/Schemas", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
		"/Schemas/" + url.PathEscape("urn:ietf:params:scim:schemas:core:2.0:Group")} {
		if r := e.do("GET", p, nil); r.Status != 200 {
			t.Errorf("%s: %d %s", p, r.Status, r.Raw)
		}
	}
	wantSCIMError(t, e.do("GET", "/Schemas/urn:nope", nil), 404, "")
	wantSCIMError(t, e.do("GET", "/Nope", nil), 404, "")
	// The provisioning log records requests, never the token.
	page := e.owner.Get("/settings/acme/auth/")
	if n := page.Doc.Find(`[data-testid="scim-log-row"]`).Length(); n < 5 || strings.Contains(page.Body, e.token) {
		t.Fatalf("log rows %d", n)
	}
	// SCIM off → 403 and the tokens are revoked.
	e.owner.Post("/settings/acme/auth/settings/", url.Values{"default_role": {"member"}, "sso_session_hours": {"168"}, "allow_idp_initiated": {"1"}})
	wantSCIMError(t, e.do("GET", "/Users", nil), 401, "")
}

func TestSCIMTokensRotateAndIsolate(t *testing.T) {
	e := newSCIMEnv(t)
	second := newSCIMToken(t, e.owner, "acme")
	if r := scimDo(t, e.a, second, "GET", "/api/0/organizations/acme/scim/v2/Users", nil); r.Status != 200 {
		t.Fatalf("second token: %d", r.Status)
	}
	e.owner.Post("/settings/acme/auth/scim/tokens/", nil)
	if res := e.owner.Get("/settings/acme/auth/"); res.Doc.Find(`[data-testid="scim-new-token"]`).Length() != 0 {
		t.Fatal("a third active token was issued")
	}
	var firstID int64
	_ = e.a.DB.Bun.NewRaw("SELECT min(id) FROM scim_tokens").Scan(context.Background(), &firstID)
	if res := e.owner.Post(fmt.Sprintf("/settings/acme/auth/scim/tokens/%d/revoke/", firstID), nil); res.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", res.Status)
	}
	wantSCIMError(t, e.do("GET", "/Users", nil), 401, "")
	if r := scimDo(t, e.a, second, "GET", "/api/0/organizations/acme/scim/v2/Users", nil); r.Status != 200 {
		t.Fatal("the other token stopped working")
	}
	var hashes int
	_ = e.a.DB.Bun.NewRaw("SELECT count(*) FROM scim_tokens WHERE token_hash = ? OR prefix = ?", second, second).Scan(context.Background(), &hashes)
	if hashes != 0 {
		t.Fatal("a token is stored in clear")
	}
}

func TestSCIMUsers(t *testing.T) {
	e := newSCIMEnv(t)
	r := e.do("POST", "/Users", entraUser)
	if r.Status != 201 || r.str("userName") != "Test_User_ab6490ee@example.com" || r.str("active") != "true" || r.str("externalId") != "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef" {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	id := r.str("id")
	meta, _ := r.Body["meta"].(map[string]any)
	if meta["location"] != e.a.BaseURL+"/api/0/organizations/acme/scim/v2/Users/"+id || meta["resourceType"] != "User" || meta["created"] == nil {
		t.Fatalf("meta: %v", meta)
	}
	if n := count(t, e.a, `SELECT count(*) FROM river_job WHERE args->>'template' = 'invitation' AND args->>'to' = 'Test_User_ab6490ee@example.com'`); n != 1 {
		t.Fatal("no invitation email")
	}
	wantSCIMError(t, e.do("POST", "/Users", strings.Replace(entraUser, "Test_User_ab6490ee@example.com", "TEST_USER_AB6490EE@example.com", -1)), 409, "uniqueness")
	wantSCIMError(t, e.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@example.com","orgRole":"owner"}`), 400, "invalidValue")
	wantSCIMError(t, e.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@example.com","sentryOrgRole":"wizard"}`), 400, "invalidValue")
	wantSCIMError(t, e.do("POST", "/Users", `{not json`), 400, "invalidSyntax")

	// Filters: case-insensitive userName, externalId.
	for _, f := range []string{`userName eq "test_user_ab6490ee@EXAMPLE.com"`, `externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`, `emails.value eq "Test_User_ab6490ee@example.com"`} {
		if r := e.do("GET", "/Users?filter="+url.QueryEscape(f), nil); r.str("totalResults") != "1" {
			t.Errorf("filter %s: %s", f, r.Raw)
		}
	}
	wantSCIMError(t, e.do("GET", "/Users?filter="+url.QueryEscape(`title eq "x"`), nil), 400, "invalidFilter")
	wantSCIMError(t, e.do("GET", "/Users?filter="+url.QueryEscape(`userName eq`), nil), 400, "invalidFilter")

	// Entra's PATCH: Replace active "False", then back.
	r = e.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`)
	if r.Status != 200 || r.str("active") != "false" {
		t.Fatalf("deactivate: %d %s", r.Status, r.Raw)
	}
	r = e.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":true,"name.givenName":"Tessa","urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User:orgRole":"admin"}}]}`)
	if r.Status != 200 || r.str("active") != "true" || !strings.Contains(r.Raw, `"givenName":"Tessa"`) || !strings.Contains(r.Raw, `"orgRole":"admin"`) {
		t.Fatalf("path-less replace: %d %s", r.Status, r.Raw)
	}
	if n := count(t, e.a, "SELECT count(*) FROM members WHERE id = ? AND role = 'admin' AND idp_role_restricted", id); n != 1 {
		t.Fatal("role not stored and locked")
	}
	wantSCIMError(t, e.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"nope","value":"x"}]}`), 400, "invalidPath")
	// Okta's PUT of the whole profile.
	r = e.do("PUT", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"`+id+`","userName":"Test_User_ab6490ee@example.com","name":{"givenName":"T","familyName":"U"},"emails":[{"primary":true,"value":"Test_User_ab6490ee@example.com","type":"work"}],"active":true,"displayName":"T U"}`)
	if r.Status != 200 || r.str("displayName") != "T U" {
		t.Fatalf("PUT: %d %s", r.Status, r.Raw)
	}
	// Paging.
	for i := 0; i < 3; i++ {
		e.do("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"p%d@example.com","active":true}`, i))
	}
	r = e.do("GET", "/Users?startIndex=2&count=2", nil)
	if r.str("totalResults") != "5" || r.str("startIndex") != "2" || r.str("itemsPerPage") != "2" {
		t.Fatalf("paging: %s", r.Raw)
	}
	if r := e.do("GET", "/Users?startIndex=0&count=-1", nil); r.str("startIndex") != "1" || r.str("itemsPerPage") != "0" || r.str("totalResults") != "5" {
		t.Fatalf("paging edge: %s", r.Raw)
	}
	// Delete removes the membership; the last owner is protected.
	if r := e.do("DELETE", "/Users/"+id, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	wantSCIMError(t, e.do("GET", "/Users/"+id, nil), 404, "")
	var ownerID string
	_ = e.a.DB.Bun.NewRaw("SELECT id::text FROM members WHERE role = 'owner'").Scan(context.Background(), &ownerID)
	wantSCIMError(t, e.do("DELETE", "/Users/"+ownerID, nil), 403, "")
	if n := count(t, e.a, "SELECT count(*) FROM audit_events WHERE actor_label LIKE 'SCIM token ghscim_%'"); n < 4 {
		t.Fatalf("SCIM audit events: %d", n)
	}
}

func TestSCIMDeactivationEndsSessions(t *testing.T) {
	e := newSCIMEnv(t)
	bob := e.a.Client(t)
	e.answer(bob, bob.Post("/auth/login/acme/", nil), user("bob-1", "bob@example.com"))
	if bob.Get("/organizations/acme/").Status != 200 {
		t.Fatal("bob not signed in")
	}
	r := e.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "bob@example.com"`), nil)
	res, _ := r.Body["Resources"].([]any)
	if len(res) != 1 {
		t.Fatalf("bob: %s", r.Raw)
	}
	id := fmt.Sprint(res[0].(map[string]any)["id"])
	e.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`)
	if res := bob.Get("/organizations/acme/"); res.Status == 200 {
		t.Fatal("a deactivated member kept access")
	}
	// And SSO does not bring him back while deactivated.
	other := e.a.Client(t)
	res2 := e.answer(other, other.Post("/auth/login/acme/", nil), user("bob-1", "bob@example.com"))
	if res2.Status != http.StatusForbidden {
		t.Fatalf("SSO of a deactivated member: %d %s", res2.Status, res2.Location)
	}
}

func TestSCIMGroups(t *testing.T) {
	e := newSCIMEnv(t)
	var ids []string
	for i := 0; i < 4; i++ {
		r := e.do("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"g%d@example.com","active":true}`, i))
		ids = append(ids, r.str("id"))
	}
	r := e.do("POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","externalId":"ext-1","members":[{"value":%q},{"value":%q}]}`, ids[0], ids[1]))
	if r.Status != 201 || r.str("displayName") != "Engineering" || len(r.Body["members"].([]any)) != 2 {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	gid := r.str("id")
	wantSCIMError(t, e.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"engineering"}`), 409, "uniqueness")
	members := func() string {
		var got []string
		_ = e.a.DB.Bun.NewRaw("SELECT member_id::text FROM team_members WHERE team_id = ? ORDER BY member_id", gid).Scan(context.Background(), &got)
		return strings.Join(got, ",")
	}
	// Entra: Add (a union), then Remove with a value array (only those).
	e.do("PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":%q},{"value":%q}]}]}`, ids[1], ids[2]))
	if got := members(); got != strings.Join(ids[:3], ",") {
		t.Fatalf("after add: %s", got)
	}
	e.do("PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"value":%q}]}]}`, ids[0]))
	if got := members(); got != strings.Join(ids[1:3], ",") {
		t.Fatalf("after remove: %s", got)
	}
	// Okta: remove by filter path; rename without path.
	r = e.do("PATCH", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"},{"op":"replace","value":{"id":%q,"displayName":"Platform"}}]}`, ids[1], gid))
	if r.Status != 200 || r.str("displayName") != "Platform" || members() != ids[2] {
		t.Fatalf("okta patch: %d %s / %s", r.Status, r.Raw, members())
	}
	// Renaming keeps the link: the same id, the new name.
	if r := e.do("GET", "/Groups/"+gid+"?excludedAttributes=members", nil); r.str("displayName") != "Platform" || r.Body["members"] != nil {
		t.Fatalf("get without members: %s", r.Raw)
	}
	if r := e.do("GET", "/Groups?filter="+url.QueryEscape(`displayName eq "PLATFORM"`), nil); r.str("totalResults") != "1" {
		t.Fatalf("filter: %s", r.Raw)
	}
	// An unknown member id is refused and changes nothing.
	wantSCIMError(t, e.do("PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"999999"}]}]}`), 400, "invalidValue")
	if members() != ids[2] {
		t.Fatal("a refused PATCH changed the group")
	}
	// PUT replaces the members exactly.
	r = e.do("PUT", "/Groups/"+gid, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Platform","members":[{"value":%q}]}`, ids[3]))
	if r.Status != 200 || members() != ids[3] {
		t.Fatalf("PUT: %d %s", r.Status, r.Raw)
	}
	if r := e.do("DELETE", "/Groups/"+gid, nil); r.Status != 204 {
		t.Fatalf("delete: %d", r.Status)
	}
	wantSCIMError(t, e.do("GET", "/Groups/"+gid, nil), 404, "")
}

func TestSCIMTenantIsolation(t *testing.T) {
	e := newSCIMEnv(t)
	r := e.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a1@example.com","active":true}`)
	userA := r.str("id")
	g := e.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"A team"}`)
	groupA := g.str("id")
	// Org beta with its own SSO, SCIM and token.
	ownerB := signUp(t, e.a, "b-owner@example.com")
	ownerB.Get("/organizations/new/")
	ownerB.Post("/organizations/new/", url.Values{"name": {"Beta"}, "slug": {"beta"}})
	ownerB.Post("/settings/beta/auth/configure/saml2/", url.Values{"method": {"xml"}, "metadata_xml": {string(e.idp.Metadata())}, "map_identifier": {"NameID"}, "map_email": {"email"}})
	if _, err := e.a.DB.Bun.NewRaw("UPDATE auth_providers SET status = 'active' WHERE org_id = (SELECT id FROM organizations WHERE slug = 'beta')").Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	ownerB.Post("/settings/beta/auth/settings/", url.Values{"default_role": {"member"}, "sso_session_hours": {"168"}, "scim_enabled": {"1"}})
	tokB := newSCIMToken(t, ownerB, "beta")
	// B's token on A's URL: 401, never data.
	wantSCIMError(t, scimDo(t, e.a, tokB, "GET", "/api/0/organizations/acme/scim/v2/Users", nil), 401, "")
	// B's token on B's URL naming A's ids: not found, nothing changed.
	b := "/api/0/organizations/beta/scim/v2"
	wantSCIMError(t, scimDo(t, e.a, tokB, "GET", b+"/Users/"+userA, nil), 404, "")
	wantSCIMError(t, scimDo(t, e.a, tokB, "PATCH", b+"/Users/"+userA, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`), 404, "")
	wantSCIMError(t, scimDo(t, e.a, tokB, "DELETE", b+"/Users/"+userA, nil), 404, "")
	wantSCIMError(t, scimDo(t, e.a, tokB, "DELETE", b+"/Groups/"+groupA, nil), 404, "")
	wantSCIMError(t, scimDo(t, e.a, tokB, "POST", b+"/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Steal","members":[{"value":"`+userA+`"}]}`), 400, "invalidValue")
	if r := scimDo(t, e.a, tokB, "GET", b+"/Users", nil); r.str("totalResults") != "1" { // only B's owner
		t.Fatalf("B lists %s", r.Raw)
	}
	if n := count(t, e.a, "SELECT count(*) FROM members WHERE id = ? AND active", userA); n != 1 {
		t.Fatal("A's member changed")
	}
}

func TestSCIMEdgeCases(t *testing.T) {
	e := newSCIMEnv(t)
	// A known endpoint with a method it does not take: 405 with Allow.
	r := e.do("POST", "/ServiceProviderConfig", `{}`)
	wantSCIMError(t, r, 405, "")
	if r.Header.Get("Allow") == "" {
		t.Fatal("no Allow header")
	}
	// Okta sends bodies without a JSON Content-Type; forms are refused.
	req := httptest.NewRequest("POST", "/api/0/organizations/acme/scim/v2/Users", strings.NewReader(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"okta@example.com","active":true}`))
	req.Header.Set("Authorization", "Bearer "+e.token)
	if res, _ := e.a.Fiber.Test(req, -1); res.StatusCode != 201 {
		t.Fatalf("no Content-Type: %d", res.StatusCode)
	}
	req = httptest.NewRequest("POST", "/api/0/organizations/acme/scim/v2/Users", strings.NewReader(`userName=x`))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res, _ := e.a.Fiber.Test(req, -1); res.StatusCode != 415 {
		t.Fatalf("form body: %d", res.StatusCode)
	}
	// Junk gets 400, never 500.
	wantSCIMError(t, e.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"nul@example.com","displayName":"a\u0000b"}`), 400, "invalidValue")
	wantSCIMError(t, e.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"long@example.com","externalId":"`+strings.Repeat("x", 600)+`"}`), 400, "invalidValue")
	// attributes= selects; id and schemas always come back.
	r = e.do("GET", "/Users?attributes=userName", nil)
	res, _ := r.Body["Resources"].([]any)
	if len(res) == 0 {
		t.Fatalf("no users: %s", r.Raw)
	}
	first := res[0].(map[string]any)
	if first["userName"] == nil || first["id"] == nil || first["schemas"] == nil || first["emails"] != nil || first["meta"] != nil {
		t.Fatalf("attributes=userName gave %v", first)
	}
	r = e.do("GET", "/Users?excludedAttributes=emails,groups", nil)
	if strings.Contains(r.Raw, `"emails"`) || !strings.Contains(r.Raw, `"userName"`) {
		t.Fatalf("excludedAttributes: %s", r.Raw)
	}
	// The owner (who joined without SCIM) still has a name from the account.
	var ownerID string
	_ = e.a.DB.Bun.NewRaw("SELECT id::text FROM members WHERE role = 'owner'").Scan(t.Context(), &ownerID)
	if r := e.do("GET", "/Users/"+ownerID, nil); !strings.Contains(r.Raw, `"givenName":"Olive"`) {
		t.Fatalf("owner name: %s", r.Raw)
	}
	// A startIndex past every result is an empty page, even a huge one.
	if r := e.do("GET", "/Users?startIndex=99999999999999999999", nil); r.str("itemsPerPage") != "0" {
		t.Fatalf("huge startIndex: %s", r.Raw)
	}
}

func TestSCIMFailedAuthRateLimited(t *testing.T) {
	e := newSCIMEnv(t)
	var last scimRes
	for i := 0; i < 31; i++ {
		last = scimDo(t, e.a, "ghscim_guess", "GET", "/api/0/organizations/acme/scim/v2/Users", nil)
	}
	wantSCIMError(t, last, 429, "")
	if last.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func TestSCIMBadInput(t *testing.T) {
	e := newSCIMEnv(t)
	wantSCIMError(t, e.do("POST", "/Users", `{"schemas":["urn:bogus:1.0"],"userName":"x@example.com"}`), 400, "invalidSyntax")
	wantSCIMError(t, e.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"displayName":"x"}`), 400, "invalidSyntax")
	wantSCIMError(t, e.do("GET", "/Users/99999999999999999999999", nil), 404, "")
	wantSCIMError(t, e.do("GET", "/Users?filter="+url.QueryEscape(strings.Repeat(`userName eq "a" or `, 80)+`userName eq "b"`), nil), 400, "invalidFilter")
	r := e.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"m@example.com"}`)
	id := r.str("id")
	for _, attr := range []string{"id", "meta"} {
		wantSCIMError(t, e.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"`+attr+`","value":"x"}]}`), 400, "mutability")
	}
	// All or nothing: a valid first operation is not kept when the second fails.
	wantSCIMError(t, e.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Kept?"},{"op":"replace","path":"nope","value":"x"}]}`), 400, "invalidPath")
	if r := e.do("GET", "/Users/"+id, nil); strings.Contains(r.Raw, "Kept?") {
		t.Fatal("a failed PATCH was partly applied")
	}
	// A body over the 1 MiB limit gets a SCIM error, not an HTML page.
	big := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"big@example.com","displayName":"` + strings.Repeat("x", 1<<20) + `"}`
	srv := testapp.Serve(t, testapp.Options{}) // a real listener: the limit is enforced while reading
	res, err := http.Post(srv.BaseURL+"/api/0/organizations/acme/scim/v2/Users", "application/scim+json", strings.NewReader(big))
	if err != nil {
		t.Fatalf("oversized: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 413 || !strings.Contains(string(raw), "urn:ietf:params:scim:api:messages:2.0:Error") {
		t.Fatalf("oversized: %d %s", res.StatusCode, raw)
	}
}

// A deactivated member with a password session loses the org at once, while the
// session itself (other orgs, the account page) stays: one org's IdP cannot sign a
// person out of everything.
func TestSCIMDeactivationScope(t *testing.T) {
	e := newSCIMEnv(t)
	dan := inviteAndJoin(t, e.a, e.owner, "dan@example.com", "member")
	if dan.Get("/organizations/acme/").Status != 200 {
		t.Fatal("dan has no access")
	}
	r := e.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "dan@example.com"`), nil)
	id := fmt.Sprint(resources(t, r)[0]["id"])
	e.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`)
	// Refused with the reason (deprovisioning always wins; the page says who removed it).
	wantRemovedByIdP(t, dan.Get("/organizations/acme/"))
	if res := dan.Get("/account/"); res.Status != 200 {
		t.Fatalf("the whole session ended: %d", res.Status)
	}
}
