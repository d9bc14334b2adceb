package database_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

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

// Exec mode unless the URL names another pgx mode: both are served.
func TestQueryExecModeFromURL(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	url := db.Pool.Config().ConnString()
	for _, tc := range []struct {
		url  string
		want pgx.QueryExecMode
	}{
		{url, pgx.QueryExecModeExec},
		{url + "&default_query_exec_mode=cache_describe", pgx.QueryExecModeCacheDescribe},
	} {
		d, err := database.Open(ctx, tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Pool.Config().ConnConfig.DefaultQueryExecMode; got != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.url, got, tc.want)
		}
		var n int
		if err := d.Bun.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE id > ?", 0).Scan(&n); err != nil {
			t.Errorf("%v: %v", tc.want, err)
		}
		d.Close()
	}
}
