// Package database opens the one pgx pool the application uses, wraps it for bun and
// database/sql, and applies migrations (ours and River's) under an advisory lock.
package database

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/migrate"

	"gatehouse/migrations"
)

// migrationLockID is the pg_advisory_lock key that serialises migrations across
// instances. A session-level advisory lock is released when its connection ends, so a
// crashed migrator never leaves the lock held (unlike bun's lock table).
const migrationLockID int64 = 0x6761746568 // "gateh"

// preparedMode is how the hot paths' fixed statements run (models/prepared.go):
// prepared and cached per connection, unless the database URL chose a mode.
var preparedMode atomic.Int32

func init() { preparedMode.Store(int32(pgx.QueryExecModeCacheStatement)) }

// PreparedMode is the mode for the hot paths' fixed, parameterised statements: pgx's
// statement cache (prepared once per connection) unless the last opened database URL
// set default_query_exec_mode, which is then used as is.
func PreparedMode() pgx.QueryExecMode { return pgx.QueryExecMode(preparedMode.Load()) }

// Runner is what *sql.DB, *sql.Tx and *sql.Conn share.
type Runner interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// SQLOf is the database/sql handle under db (a *bun.DB, bun.Tx or bun.Conn), for a
// statement with real parameters ($n) run in PreparedMode: bun would write the
// arguments into the text, these pass them to pgx as parameters.
func SQLOf(db bun.IDB) (Runner, error) {
	switch d := db.(type) {
	case bun.Tx:
		return d.Tx, nil
	case *bun.Tx:
		return d.Tx, nil
	case *bun.DB:
		return d.DB, nil
	case bun.Conn:
		return d.Conn, nil
	}
	return nil, fmt.Errorf("prepared statement on %T", db)
}

// DB bundles the pool and the views of it the application uses.
type DB struct {
	Pool *pgxpool.Pool
	SQL  *sql.DB
	Bun  *bun.DB
}

// Open connects to url. It does not migrate. configure (tests: a query tracer) may
// change the pool's configuration last.
func Open(ctx context.Context, url string, configure ...func(*pgxpool.Config)) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	// Exec mode unless the URL says otherwise (?default_query_exec_mode=…). bun writes
	// every argument into the SQL text, so pgx's statement cache would prepare and keep
	// nearly every query as a new statement (up to 512 per connection, including
	// SCIM's 600 KB id lists: a tenant could fill GBs), for no plan reuse. Exec mode
	// also survives schema changes under a running pool.
	if !strings.Contains(url, "default_query_exec_mode") {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
		preparedMode.Store(int32(pgx.QueryExecModeCacheStatement))
	} else {
		// The operator chose a mode (simple_protocol behind a transaction-mode pooler,
		// say): the hot-path statements follow it too.
		preparedMode.Store(int32(cfg.ConnConfig.DefaultQueryExecMode))
	}
	if cfg.MaxConns < 10 {
		cfg.MaxConns = 10
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > ConnectTimeout {
		cfg.ConnConfig.ConnectTimeout = ConnectTimeout
	}
	// No statement waits forever on a stalled server or a held lock; the URL may set
	// its own values (?statement_timeout=…). A connection idle inside a transaction
	// (its request gone) gives its locks back.
	for k, v := range map[string]string{
		"statement_timeout":                   StatementTimeout,
		"lock_timeout":                        LockTimeout,
		"idle_in_transaction_session_timeout": "60s",
	} {
		if _, ok := cfg.ConnConfig.RuntimeParams[k]; !ok {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	for _, f := range configure {
		f(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	sqldb := sql.OpenDB(boundedAcquire{stdlib.GetPoolConnector(pool)})
	sqldb.SetMaxIdleConns(0) // as stdlib.OpenDBFromPool: the pgx pool keeps the idle connections
	return &DB{Pool: pool, SQL: sqldb, Bun: bun.NewDB(sqldb, pgdialect.New())}, nil
}

// Bounds on waiting for the database (SPEC: 503 + Retry-After, never a hang). A
// request's own deadline (handlers) is longer than these.
const (
	ConnectTimeout   = 5 * time.Second
	AcquireTimeout   = 5 * time.Second
	StatementTimeout = "15s"
	LockTimeout      = "5s"
)

// boundedAcquire is the pool's database/sql connector with a bound on the wait for a
// free connection (pgxpool has none of its own): an exhausted or unreachable pool
// answers an error the surfaces turn into 503 instead of queueing requests.
type boundedAcquire struct{ driver.Connector }

func (b boundedAcquire) Connect(ctx context.Context) (driver.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, AcquireTimeout)
	defer cancel()
	return b.Connector.Connect(ctx)
}

// Close closes every view of the pool.
func (d *DB) Close() {
	_ = d.Bun.Close()
	d.Pool.Close()
}

// Migrate applies River's and the application's migrations, holding the advisory
// lock so that concurrent instances migrate one after the other.
func Migrate(ctx context.Context, appPool *pgxpool.Pool, _ *bun.DB) error {
	// Migrations may build indexes on large tables: they run on a pool of their own
	// without the application's statement and lock timeouts.
	cfg := appPool.Config()
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = "0"
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = "0"
	cfg.MaxConns = 4
	cfg.MinConns = 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open migration pool: %w", err)
	}
	defer pool.Close()
	db := bun.NewDB(stdlib.OpenDBFromPool(pool), pgdialect.New())
	defer db.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection for migration lock: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockID); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockID)
	}()

	rm, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	if _, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}

	ms := migrate.NewMigrations()
	if err := ms.Discover(migrations.FS); err != nil {
		return fmt.Errorf("discover migrations: %w", err)
	}
	m := migrate.NewMigrator(db, ms, migrate.WithTableName("schema_migrations"), migrate.WithLocksTableName("schema_migration_locks"))
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("init migrations table: %w", err)
	}
	if _, err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// SchemaHash identifies the schema the migrations produce (used to name test
// template databases).
func SchemaHash() (string, error) {
	h := sha256.New()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := fs.ReadFile(migrations.FS, n)
		if err != nil {
			return "", err
		}
		h.Write([]byte(n))
		h.Write(b)
	}
	h.Write([]byte("river v0.51.1"))
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
