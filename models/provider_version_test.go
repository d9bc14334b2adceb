package models_test

import (
	"testing"

	"gatehouse/models"
)

// The provider version a sign-in is validated under changes with every setting,
// whichever statement changes it, and not with bookkeeping: a daily metadata refresh
// that finds the same metadata, a certificate warning sent, the creator's account
// deleted.
func TestProviderVersionFollowsSettingsOnly(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	if _, err := models.CreateOrganization(f.ctx, f.db.Bun, models.Actor{UserID: owner.ID, Label: owner.Email}, models.NewOrganization{Name: "Acme", Slug: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Bun.NewRaw(`INSERT INTO auth_providers (org_id, kind, status, config, created_by_id)
		SELECT id, 'saml2', 'active', '{"entity_id": "https://idp.example", "certs": ["MIIB"], "mapping": {"identifier": "NameID"}}', ? FROM organizations`, owner.ID).Exec(f.ctx); err != nil {
		t.Fatal(err)
	}
	var acs *models.ProviderCache // nil: read every time
	version := func() string {
		t.Helper()
		_, _, v, err := acs.OrgAndProvider(f.ctx, f.db.Bun, "acme")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := version()
	for _, c := range []struct {
		change  string
		setting bool
	}{
		{`UPDATE auth_providers SET config = config || '{"refreshed_at": "2026-12-06T10:00:00Z", "fetched_at": "2026-12-06T10:00:00Z", "next_refresh_at": "2026-12-07T10:00:00Z"}', updated_at = now()`, false},
		{`UPDATE auth_providers SET config = config || '{"refresh_error": "timeout", "refresh_failed_at": "2026-12-06T11:00:00Z"}'`, false},
		{`UPDATE auth_providers SET config = config || '{"cert_warnings": {"ab": "expiring"}}'`, false},
		{`UPDATE auth_providers SET created_by_id = NULL`, false},
		{`UPDATE auth_providers SET settings_version = 1`, false}, // by hand: ignored
		{`UPDATE auth_providers SET config = jsonb_set(config, '{certs}', '["MIIC"]')`, true},
		{`UPDATE auth_providers SET config = jsonb_set(config, '{mapping,email}', '"mail"')`, true},
		{`UPDATE auth_providers SET config = config || '{"entity_id": "https://other.example"}'`, true},
		{`UPDATE auth_providers SET allow_idp_initiated = NOT allow_idp_initiated`, true},
		{`UPDATE auth_providers SET require_encrypted = true`, true},
		{`UPDATE auth_providers SET status = 'pending'`, true},
		{`UPDATE auth_providers SET sp_key_sealed = 'other'`, true},
		{`UPDATE auth_providers SET clock_skew_minutes = clock_skew_minutes + 1`, true},
	} {
		if _, err := f.db.SQL.ExecContext(f.ctx, c.change); err != nil {
			t.Fatalf("%s: %v", c.change, err)
		}
		now := version()
		if changed := now != v; changed != c.setting {
			t.Errorf("%s: version %s → %s (changed %v, want %v)", c.change, v, now, changed, c.setting)
		}
		v = now
	}
	// An UPDATE that changes nothing at all is no change either.
	if _, err := f.db.SQL.ExecContext(f.ctx, "UPDATE auth_providers SET config = config"); err != nil {
		t.Fatal(err)
	}
	if now := version(); now != v {
		t.Errorf("a no-op UPDATE changed the version %s → %s", v, now)
	}
}
