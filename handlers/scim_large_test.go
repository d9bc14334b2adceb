package handlers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestSCIMLargeGroup: a group of 10,500 members is created, patched and read.
func TestSCIMLargeGroup(t *testing.T) {
	e := newSCIMEnv(t)
	ctx := context.Background()
	var ids []string
	err := e.a.DB.Bun.NewRaw(`
		WITH u AS (INSERT INTO users (email, name) SELECT 'big' || i || '@example.com', 'Big ' || i FROM generate_series(1, 10500) i RETURNING id)
		INSERT INTO members (org_id, user_id, role, joined_via) SELECT 1, id, 'member', 'scim' FROM u RETURNING id::text`).Scan(ctx, &ids)
	if err != nil || len(ids) != 10500 {
		t.Fatalf("seed: %v %d", err, len(ids))
	}
	var b strings.Builder
	b.WriteString(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Everyone","members":[`)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"value":%q}`, id)
	}
	b.WriteString(`]}`)
	r := e.do("POST", "/Groups?excludedAttributes=members", b.String())
	if r.Status != 201 {
		t.Fatalf("create: %d %.300s", r.Status, r.Raw)
	}
	gid := r.str("id")
	size := func() int { return count(t, e.a, "SELECT count(*) FROM team_members WHERE team_id = ?", gid) }
	if n := size(); n != 10500 {
		t.Fatalf("members: %d", n)
	}
	r = e.do("PATCH", "/Groups/"+gid+"?excludedAttributes=members", fmt.Sprintf(
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"},{"op":"add","path":"members","value":[{"value":%q}]}]}`, ids[5000], ids[0]))
	if r.Status != 200 || r.Body["members"] != nil {
		t.Fatalf("patch: %d %.300s", r.Status, r.Raw)
	}
	if n := size(); n != 10499 {
		t.Fatalf("after patch: %d", n)
	}
	r = e.do("GET", "/Groups/"+gid, nil)
	if ms, _ := r.Body["members"].([]any); r.Status != 200 || len(ms) != 10499 {
		t.Fatalf("get: %d %d", r.Status, len(ms))
	}
	if r := e.do("GET", fmt.Sprintf("/Groups?filter=%s&excludedAttributes=members", strings.ReplaceAll(fmt.Sprintf(`id eq "%s" and members[value eq "%s"]`, gid, ids[1]), " ", "%20")), nil); r.str("totalResults") != "1" {
		t.Fatalf("membership filter: %.300s", r.Raw)
	}
}
