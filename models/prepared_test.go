package models_test

import (
	"testing"

	"gatehouse/models"
)

// The hot-path reads run as prepared statements (prepared.go) and must answer exactly
// as the bun queries they replace: found, an org without a provider, no such org —
// in a transaction and outside one, twice (the second run uses the cached statement).
func TestPreparedOrgAndProvider(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	acme := f.mustCreateOrg(owner, "acme")
	bare := f.mustCreateOrg(owner, "bare")
	if _, err := f.db.Bun.ExecContext(f.ctx, "INSERT INTO auth_providers (org_id, kind, status, require_sso) VALUES (?, 'saml2', 'active', true)", acme.ID); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		org, p, err := models.OrgAndProvider(f.ctx, f.db.Bun, "acme")
		if err != nil || org.ID != acme.ID || org.Slug != "acme" || org.Name != acme.Name || p.OrgID != acme.ID || p.Kind != "saml2" || !p.RequireSSO || !p.Active() {
			t.Fatalf("acme: %+v %+v %v", org, p, err)
		}
		org, p, err = models.OrgAndProvider(f.ctx, f.db.Bun, "bare")
		if !models.IsNotFound(err) || org == nil || org.ID != bare.ID || p != nil {
			t.Fatalf("org without a provider: %+v %+v %v", org, p, err)
		}
		org, p, err = models.OrgAndProvider(f.ctx, f.db.Bun, "nope")
		if !models.IsNotFound(err) || org != nil || p != nil {
			t.Fatalf("no such org: %+v %+v %v", org, p, err)
		}
	}
	tx, err := f.db.Bun.BeginTx(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if org, p, err := models.OrgAndProvider(f.ctx, tx, "acme"); err != nil || org.ID != acme.ID || p.OrgID != acme.ID {
		t.Fatalf("in a transaction: %v", err)
	}
}
