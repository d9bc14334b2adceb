package models_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/models"
	"gatehouse/models/database"
	"gatehouse/models/dbtest"
)

// Every way a real PostgreSQL says "not now" is classified unavailable (→ 503 +
// Retry-After on every surface), and errors about the request itself are not.
func TestDatabaseUnavailableOnRealFaults(t *testing.T) {
	ctx := context.Background()
	srv, db, url := dbtest.Private(t)
	connect := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	cases := []struct {
		name string
		want bool
		err  func() error
	}{
		{"backend terminated (57P01 / conn closed)", true, func() error {
			victim := connect()
			if _, err := db.Pool.Exec(ctx, "SELECT pg_terminate_backend($1)", victim.PgConn().PID()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			_, err := victim.Exec(ctx, "SELECT 1")
			return err
		}},
		{"statement_timeout (57014)", true, func() error {
			_, err := db.Bun.ExecContext(ctx, "SET statement_timeout = '50ms'; SELECT pg_sleep(2)")
			return err
		}},
		{"lock_timeout (55P03)", true, func() error {
			holder := connect()
			if _, err := holder.Exec(ctx, "BEGIN; LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE"); err != nil {
				t.Fatal(err)
			}
			defer holder.Exec(ctx, "ROLLBACK") //nolint:errcheck
			waiter := connect()
			_, err := waiter.Exec(ctx, "SET lock_timeout = '50ms'; SELECT count(*) FROM organizations")
			return err
		}},
		{"request deadline (context deadline exceeded)", true, func() error {
			dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			_, err := db.Bun.ExecContext(dctx, "SELECT pg_sleep(2)")
			return err
		}},
		{"pool exhausted: bounded acquire", true, func() error {
			var held []interface{ Release() }
			for i := int32(0); i < db.Pool.Config().MaxConns; i++ {
				c, err := db.Pool.Acquire(ctx)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, c)
			}
			defer func() {
				for _, c := range held {
					c.Release()
				}
			}()
			var one int
			return db.Bun.NewRaw("SELECT 1").Scan(ctx, &one) // no deadline of its own
		}},
		{"unique violation (a request error)", false, func() error {
			_, err := db.Bun.ExecContext(ctx, "CREATE TEMP TABLE u (x int UNIQUE); INSERT INTO u VALUES (1), (1)")
			return err
		}},
		{"no rows", false, func() error { return sql.ErrNoRows }},
		{"not found", false, func() error { return models.ErrNotFound }},
		{"validation", false, func() error { return models.Invalid("email", "bad") }},
		{"server stopped (connect refused)", true, func() error {
			srv.Stop()
			var one int
			return db.Bun.NewRaw("SELECT 1").Scan(ctx, &one)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if err == nil {
				t.Fatal("no error")
			}
			if got := models.DatabaseUnavailable(err); got != tc.want {
				t.Fatalf("DatabaseUnavailable(%v) = %v, want %v", err, got, tc.want)
			}
			if errors.Is(err, context.Canceled) {
				t.Fatalf("unexpected cancel: %v", err)
			}
		})
	}
}

// The application's connections carry statement and lock timeouts (issue 13 item 2).
func TestPoolTimeouts(t *testing.T) {
	db := dbtest.New(t)
	for name, want := range map[string]string{"statement_timeout": database.StatementTimeout, "lock_timeout": database.LockTimeout} {
		var got string
		if err := db.Bun.NewRaw("SELECT current_setting(?)", name).Scan(context.Background(), &got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}
