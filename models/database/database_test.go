package database_test

import (
	"context"
	"testing"

	"gatehouse/models/database"
	"gatehouse/models/dbtest"
)

func TestMigrateIsIdempotentAndCreatesTables(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	// The template is already migrated; running again must be a no-op, not an error.
	if err := database.Migrate(ctx, db.Pool, db.Bun); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	for _, table := range []string{"users", "organizations", "members", "teams", "sessions", "audit_events", "river_job"} {
		var ok bool
		if err := db.Pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s missing (err %v)", table, err)
		}
	}
}
