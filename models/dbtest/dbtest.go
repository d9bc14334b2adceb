// Package dbtest gives each test a fresh, migrated PostgreSQL database: a clone of a
// template made once per schema by pgtestdb. The server is TEST_DATABASE_URL, or a
// local server shared by every test package (started once, left running).
package dbtest

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver for pgtestdb
	"github.com/peterldowns/pgtestdb"

	"gatehouse/models/database"
	"gatehouse/models/pglocal"
)

var (
	adminOnce sync.Once
	adminURL  string
	adminErr  error
)

// AdminURL returns the URL of a server on which tests may create databases.
func AdminURL(tb testing.TB) string {
	tb.Helper()
	adminOnce.Do(func() {
		if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
			adminURL = u
			return
		}
		// fsync off: throwaway data, speed matters (the app's default server is durable).
		dir := filepath.Join(os.TempDir(), "gatehouse-test-pg-"+strconv.Itoa(os.Getuid()))
		srv, err := pglocal.Start(context.Background(), dir, pglocal.Options{Detached: true, Fast: true})
		if err != nil {
			adminErr = err
			return
		}
		adminURL = srv.URLFor("postgres")
	})
	if adminErr != nil {
		tb.Fatalf("test database server: %v", adminErr)
	}
	return adminURL
}

// New returns a fresh migrated database for this test, closed when it ends.
func New(tb testing.TB) *database.DB {
	tb.Helper()
	db, _ := NewWithURL(tb)
	return db
}

// NewWithURL is New plus the database's URL (for code under test that connects itself).
func NewWithURL(tb testing.TB) (*database.DB, string) {
	tb.Helper()
	u, err := url.Parse(AdminURL(tb))
	if err != nil {
		tb.Fatalf("parse admin URL: %v", err)
	}
	pass, _ := u.User.Password()
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	host := u.Hostname()
	if host == "" {
		host = "localhost"
	}
	cfg := pgtestdb.Config{
		DriverName:                "pgx",
		User:                      u.User.Username(),
		Password:                  pass,
		Host:                      host,
		Port:                      port,
		Database:                  "postgres",
		Options:                   u.RawQuery,
		ForceTerminateConnections: true,
	}
	testCfg := pgtestdb.Custom(tb, cfg, migrator{})
	db, err := database.Open(context.Background(), testCfg.URL())
	if err != nil {
		tb.Fatalf("open test database: %v", err)
	}
	// Registered after pgtestdb's cleanup, so it runs first: close before drop.
	tb.Cleanup(db.Close)
	return db, testCfg.URL()
}

type migrator struct{}

func (migrator) Hash() (string, error) { return database.SchemaHash() }

func (migrator) Migrate(ctx context.Context, _ *sql.DB, cfg pgtestdb.Config) error {
	db, err := database.Open(ctx, cfg.URL())
	if err != nil {
		return err
	}
	defer db.Close()
	return database.Migrate(ctx, db.Pool, db.Bun)
}

// Private starts a PostgreSQL server of this test's own (stopped when it ends) and
// returns it with a migrated database on it: for fault tests that stop, restart or
// freeze the server under a running app. Its temporary directory is private to root
// (0700), so a root test run's server lives in a fresh folder of the temporary directory.
func Private(tb testing.TB) (*pglocal.Server, *database.DB, string) {
	tb.Helper()
	ctx := context.Background()
	srv, err := pglocal.Start(ctx, filepath.Join(tb.TempDir(), "pg"), pglocal.Options{Fast: true})
	if err != nil {
		tb.Fatalf("private test server: %v", err)
	}
	tb.Cleanup(func() {
		_ = srv.Signal(syscall.SIGCONT) // a test that froze it
		srv.Stop()
		if d := srv.PrivateTempDir(); d != "" {
			_ = os.RemoveAll(d)
		}
	})
	db, err := database.Open(ctx, srv.URL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(db.Close)
	if err := database.Migrate(ctx, db.Pool, db.Bun); err != nil {
		tb.Fatal(err)
	}
	return srv, db, srv.URL()
}
