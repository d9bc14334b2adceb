package models_test

import (
	"testing"
)

// TestMemberCountMaintained: the trigger-kept member count (SCIM totalResults) equals
// count(*) after bulk inserts, single inserts, deletes, and goes with a deleted org.
func TestMemberCountMaintained(t *testing.T) {
	f := newFixture(t)
	exec := func(q string) {
		t.Helper()
		if _, err := f.db.Bun.ExecContext(f.ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	check := func(what string) {
		t.Helper()
		var kept, real int64
		if err := f.db.Bun.QueryRowContext(f.ctx, `SELECT coalesce((SELECT sum(n) FROM org_member_counts c JOIN organizations o ON o.id = c.org_id WHERE o.slug = 'cnt'), 0),
			(SELECT count(*) FROM members m JOIN organizations o ON o.id = m.org_id WHERE o.slug = 'cnt')`).Scan(&kept, &real); err != nil {
			t.Fatal(err)
		}
		if kept != real {
			t.Fatalf("%s: kept count %d, real %d", what, kept, real)
		}
	}
	exec(`INSERT INTO organizations (name, slug) VALUES ('Cnt', 'cnt')`)
	exec(`INSERT INTO users (email, name) SELECT 'c' || i || '@example.com', 'C' FROM generate_series(1, 500) i`)
	exec(`INSERT INTO members (org_id, user_id, role, joined_via) SELECT (SELECT id FROM organizations WHERE slug = 'cnt'), id, 'member', 'scim' FROM users WHERE email LIKE 'c%@example.com'`)
	check("bulk insert")
	exec(`INSERT INTO members (org_id, invite_email, role, joined_via) SELECT id, 'inv@example.com', 'member', 'invite' FROM organizations WHERE slug = 'cnt'`)
	check("single insert")
	exec(`DELETE FROM members WHERE id IN (SELECT m.id FROM members m JOIN organizations o ON o.id = m.org_id WHERE o.slug = 'cnt' ORDER BY m.id LIMIT 123)`)
	check("delete")
	exec(`DELETE FROM organizations WHERE slug = 'cnt'`)
	var left int
	if err := f.db.Bun.QueryRowContext(f.ctx, `SELECT count(*) FROM org_member_counts c WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = c.org_id)`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d counter rows outlived their org", left)
	}
}
