package models_test

import (
	"context"
	"testing"

	"gatehouse/migrations"
	"gatehouse/models/dbtest"
)

// The one-member-per-person migration merges the duplicates today's schema allowed
// (a pending SCIM or UI row and a joined row with the same address): it never
// deletes an active membership, keeps the id the IdP knows, lets a SCIM
// deactivation win for non-owners, and writes each merge to the audit log. It is run
// here on a database put back to the schema before it, holding such duplicates.
func TestMigrationMergesDuplicateMembers(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	read := func(name string) string {
		b, err := migrations.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const up, down = "20261204230000_one_member_per_person.tx.up.sql", "20261204230000_one_member_per_person.tx.down.sql"
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Bun.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%.80s: %v", q, err)
		}
	}
	exec(read(down))
	exec(`INSERT INTO organizations (id, slug, name) VALUES (1, 'acme', 'Acme')`)
	exec(`INSERT INTO users (id, email, name) VALUES (1, 'zed@example.com', 'Zed'), (2, 'amy@example.com', 'Amy'), (3, 'own@example.com', 'Own'), (4, 'solo@example.com', 'Solo')`)
	exec(`INSERT INTO teams (id, org_id, slug, name) VALUES (1, 1, 'eng', 'Eng')`)
	// zed: SCIM provisioned then deactivated (id 10), plus a JIT member (id 11) in team Eng.
	exec(`INSERT INTO members (id, org_id, invite_email, role, joined_via, idp_provisioned, idp_role_restricted, active, external_id)
		VALUES (10, 1, 'Zed@example.com', 'admin', 'scim', true, true, false, 'ext-zed')`)
	exec(`INSERT INTO members (id, org_id, user_id, role, joined_via, sso_linked, active) VALUES (11, 1, 1, 'member', 'sso', true, true)`)
	exec(`INSERT INTO team_members (team_id, member_id, org_id) VALUES (1, 11, 1)`)
	// amy: a stale UI invitation (20) and her membership (21).
	exec(`INSERT INTO members (id, org_id, invite_email, role, joined_via, active) VALUES (20, 1, 'amy@example.com', 'admin', 'invite', true)`)
	exec(`INSERT INTO members (id, org_id, user_id, role, joined_via, active) VALUES (21, 1, 2, 'member', 'sso', true)`)
	// own: an owner with a deactivated SCIM row: the owner stays an active owner.
	exec(`INSERT INTO members (id, org_id, invite_email, role, joined_via, idp_provisioned, active) VALUES (30, 1, 'own@example.com', 'member', 'scim', true, false)`)
	exec(`INSERT INTO members (id, org_id, user_id, role, joined_via, active) VALUES (31, 1, 3, 'owner', 'creator', true)`)
	// solo: no duplicate, untouched.
	exec(`INSERT INTO members (id, org_id, user_id, role, joined_via, active) VALUES (40, 1, 4, 'member', 'invite', true)`)

	if _, err := db.Bun.NewRaw(`SELECT 1`).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Bun.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, read(up)); err != nil {
		t.Fatalf("migration: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	type row struct {
		ID     int64   `bun:"id"`
		UserID *int64  `bun:"user_id"`
		Role   string  `bun:"role"`
		Active bool    `bun:"active"`
		Email  string  `bun:"email"`
		Ext    *string `bun:"external_id"`
	}
	var rows []row
	if err := db.Bun.NewRaw(`SELECT id, user_id, role, active, email, external_id FROM members ORDER BY id`).Scan(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	got := map[int64]row{}
	for _, r := range rows {
		got[r.ID] = r
	}
	if len(rows) != 4 {
		t.Fatalf("members after the merge: %+v", rows)
	}
	// zed: one member with the SCIM id, his account, the IdP's role, deactivated (the
	// IdP's deactivation wins), his team kept.
	if z := got[10]; z.UserID == nil || *z.UserID != 1 || z.Role != "admin" || z.Active || z.Ext == nil || *z.Ext != "ext-zed" || z.Email != "zed@example.com" {
		t.Fatalf("zed: %+v", z)
	}
	var n int
	if err := db.Bun.NewRaw(`SELECT count(*) FROM team_members WHERE member_id = 10 AND team_id = 1`).Scan(ctx, &n); err != nil || n != 1 {
		t.Fatalf("zed's team: %d %v", n, err)
	}
	// amy keeps her active membership; the stale invitation went.
	if a := got[21]; a.UserID == nil || *a.UserID != 2 || !a.Active || a.Role != "member" {
		t.Fatalf("amy: %+v", a)
	}
	// The owner stays an active owner on the SCIM row.
	if o := got[30]; o.UserID == nil || *o.UserID != 3 || o.Role != "owner" || !o.Active {
		t.Fatalf("owner: %+v", o)
	}
	if s := got[40]; !s.Active {
		t.Fatalf("solo: %+v", s)
	}
	if err := db.Bun.NewRaw(`SELECT count(*) FROM audit_events WHERE event = 'member.merged' AND org_id = 1`).Scan(ctx, &n); err != nil || n != 3 {
		t.Fatalf("audit: %d %v", n, err)
	}
	// And from now on the database refuses a second member for a person.
	if _, err := db.Bun.ExecContext(ctx, `INSERT INTO members (org_id, invite_email, role) VALUES (1, 'SOLO@example.com', 'member')`); err == nil {
		t.Fatal("a second member for solo was accepted")
	}
	if _, err := db.Bun.ExecContext(ctx, `INSERT INTO members (org_id, invite_email, user_name, role) VALUES (1, 'new@example.com', 'ZED@example.com', 'member')`); err == nil {
		t.Fatal("a userName equal to another member's was accepted")
	}
}
