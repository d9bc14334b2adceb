package models

import "testing"

// The cache forgets after any statement that may write a provider, and only then.
func TestWritesProviders(t *testing.T) {
	for q, want := range map[string]bool{
		`UPDATE "auth_providers" AS "auth_provider" SET "config" = '{}' WHERE ("auth_provider"."id" = 1)`: true,
		"update auth_providers set status = 'pending' where id = 1":                                       true,
		"\n\tDELETE FROM auth_providers WHERE org_id = 1":                                                 true,
		`INSERT INTO "auth_providers" ("org_id") VALUES (1)`:                                              true,
		"WITH p AS (UPDATE auth_providers SET status = 'active' RETURNING 1) SELECT count(*) FROM p":      true,
		`SELECT "p"."id" FROM auth_providers AS p WHERE p.org_id = 1`:                                     false,
		"select id from auth_providers for update":                                                        false,
		"UPDATE organizations SET name = 'x' WHERE id = 1":                                                false,
		"INSERT INTO sso_signins (org_id) VALUES (1)":                                                     false,
	} {
		if got := writesProviders(q); got != want {
			t.Errorf("writesProviders(%q) = %v, want %v", q, got, want)
		}
	}
}
