package models_test

import (
	"testing"

	"gatehouse/models"
)

// Maintenance drops what has expired and keeps what has not: the replay cache (one
// row per SSO sign-in) and SP-initiated request state would otherwise grow by a row
// per sign-in forever. The replay cache goes in batches (purge).
func TestMaintenanceDropsExpiredSignInState(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	org, err := models.CreateOrganization(f.ctx, f.db.Bun, models.Actor{UserID: owner.ID, Label: owner.Email}, models.NewOrganization{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO saml_replay (org_id, issuer, assertion_id, expires_at) VALUES
			(?0, 'https://idp.example', 'spent-long-ago', now() - interval '1 minute'),
			(?0, 'https://idp.example', 'still-guarded', now() + interval '1 hour')`,
		// More than one purge batch of them.
		`INSERT INTO saml_replay (org_id, issuer, assertion_id, expires_at)
			SELECT ?0, 'https://idp.example', 'spent-' || i, now() - interval '1 hour' FROM generate_series(1, 12001) AS i`,
		`INSERT INTO saml_requests (relay_state, org_id, request_id, purpose, expires_at, used_at) VALUES
			('old-used', ?0, 'id-1', 'login', now() - interval '2 days', now() - interval '2 days'),
			('old-unused', ?0, 'id-2', 'login', now() - interval '2 days', NULL),
			('recent', ?0, 'id-3', 'login', now() - interval '1 hour', now() - interval '1 hour'),
			('live', ?0, 'id-4', 'login', now() + interval '5 minutes', NULL)`,
	} {
		if _, err := f.db.Bun.NewRaw(q, org.ID).Exec(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := (&models.MaintenanceWorker{DB: f.db.Bun}).Work(f.ctx, nil); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{
		"SELECT string_agg(assertion_id, ',' ORDER BY assertion_id) FROM saml_replay": "still-guarded",
		// A day's grace: "this request was already answered" stays explainable.
		"SELECT string_agg(relay_state, ',' ORDER BY relay_state) FROM saml_requests": "live,recent",
	} {
		var got string
		if err := f.db.Bun.NewRaw(q).Scan(f.ctx, &got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %q, want %q", q, got, want)
		}
	}
}
