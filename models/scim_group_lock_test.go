package models_test

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/scim"
)

// Creating a SCIM group does not lock the organization's row (issue 12): member
// writes in flight (whose foreign-key checks share-lock the org row) do not hold it
// up, nor does it hold them up. Teams' names and slugs are guarded by their own lock.
func TestSCIMGroupCreateDoesNotLockTheOrg(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	org := f.mustCreateOrg(owner, "acme")
	tx, err := f.db.Bun.BeginTx(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// A member write in flight, as SCIM's POST /Users or an invitation makes.
	if _, err := tx.ExecContext(f.ctx, `INSERT INTO members (org_id, invite_email, role, joined_via) VALUES (?, 'pending@example.com', 'member', 'invite')`, org.ID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(f.ctx, 3*time.Second)
	defer cancel()
	for _, name := range []string{"Platform Team", "platform-team"} {
		g, err := models.CreateSCIMGroup(ctx, f.db.Bun, org.ID, models.System("test"), "https://example.test/scim/v2", &scim.Group{DisplayName: name})
		if err != nil {
			t.Fatalf("create %q while a member write is in flight: %v", name, err)
		}
		if g.DisplayName != name {
			t.Fatalf("created %q", g.DisplayName)
		}
	}
	var slugs []string
	if err := f.db.Bun.NewRaw("SELECT slug FROM teams WHERE org_id = ? ORDER BY id", org.ID).Scan(f.ctx, &slugs); err != nil {
		t.Fatal(err)
	}
	if len(slugs) != 2 || slugs[0] == slugs[1] {
		t.Fatalf("slugs %v", slugs)
	}
}
