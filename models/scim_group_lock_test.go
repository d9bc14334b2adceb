package models_test

import (
	"context"
	"errors"
	"net/http"
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

// A SCIM rename racing a team created in the app under the same name: the app's
// insert is not yet committed when SCIM checks the name, so SCIM's UPDATE meets the
// unique index. The IdP gets a SCIM 409 uniqueness error, never a 500, and nothing is
// renamed.
func TestSCIMGroupRenameRacingTheAppIsAConflict(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	org := f.mustCreateOrg(owner, "acme")
	base := "https://example.test/scim/v2"
	g, err := models.CreateSCIMGroup(f.ctx, f.db.Bun, org.ID, models.System("test"), base, &scim.Group{DisplayName: "Engineering"})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := f.db.Bun.BeginTx(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// The app's team "Platform", inserted and not yet committed.
	if _, err := tx.ExecContext(f.ctx, `INSERT INTO teams (org_id, name, slug) VALUES (?, 'Platform', 'platform-app')`, org.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		name := "platform"
		_, err := models.PatchSCIMGroup(f.ctx, f.db.Bun, org.ID, models.System("test"), base, g.ID, &scim.GroupChange{DisplayName: &name}, false)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond) // SCIM now waits on the unique index
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	err = <-done
	var se *scim.Error
	if !errors.As(err, &se) || se.Status != http.StatusConflict || se.ScimType != "uniqueness" {
		t.Fatalf("rename racing the app: %v, want a SCIM 409 uniqueness error", err)
	}
	if n := f.count("SELECT count(*) FROM teams WHERE org_id = ? AND name = 'Engineering'", org.ID); n != 1 {
		t.Fatal("the group was renamed")
	}
}
