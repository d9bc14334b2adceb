package models

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/uptrace/bun"

	"gatehouse/models/database"
)

// Prepared statements for the hot paths (issue 12).
//
// bun writes every argument into the SQL text, so PostgreSQL parses and plans each of
// its statements anew; for the few lookups every SSO login runs, that was most of
// PostgreSQL's CPU per login (4.5 ms before, 1.8 ms after, on the login bench). These statements are fixed texts with real
// parameters ($1…), rendered once from the models by bun (so the column lists stay the
// models'), and prepared once per connection by pgx's statement cache. Only these fixed
// texts are ever cached, a bounded set: every other query stays in exec mode
// (database.Open explains why). Column lists are explicit, so a column added by a
// migration under a running pool does not invalidate a prepared statement's result type.

// preparedQuery is one fixed statement text, rendered on first use.
type preparedQuery struct {
	once   sync.Once
	text   string
	render func(db bun.IDB) string
}

func prepare(render func(db bun.IDB) string) *preparedQuery { return &preparedQuery{render: render} }

// param is a server-side parameter placeholder inside a bun query ($n).
func param(n int) bun.Safe { return bun.Safe(fmt.Sprintf("$%d", n)) }

func (q *preparedQuery) sql(db bun.IDB) string {
	q.once.Do(func() { q.text = q.render(db) })
	return q.text
}

// query runs q with args on db (a *bun.DB, bun.Tx or bun.Conn), prepared.
func (q *preparedQuery) query(ctx context.Context, db bun.IDB, args ...any) (*sql.Rows, error) {
	return queryPrepared(ctx, db, q.sql(db), args...)
}

// queryPrepared runs text (with $n parameters) on db, prepared. text must come from a
// bounded set of shapes (the cache keeps every text it sees, up to its capacity).
func queryPrepared(ctx context.Context, db bun.IDB, text string, args ...any) (*sql.Rows, error) {
	r, err := sqlOf(db)
	if err != nil {
		return nil, err
	}
	return r.QueryContext(ctx, text, append([]any{database.PreparedMode()}, args...)...)
}

// sqlOf is database.SQLOf.
func sqlOf(db bun.IDB) (database.Runner, error) { return database.SQLOf(db) }

// scanPrepared runs text prepared and scans every row into dest (a pointer to a
// slice of models, or a value for a one-row, one-column answer).
func scanPrepared(ctx context.Context, db bun.IDB, dest any, text string, args ...any) error {
	rows, err := queryPrepared(ctx, db, text, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return bunOf(db).ScanRows(ctx, rows, dest)
}

// dollarize numbers the ? placeholders of q as $1, $2, … (q must have no other '?',
// as the SQL written in this package has none outside placeholders).
func dollarize(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// scanOne runs q and scans its first row into dest (a model or values) as bun would;
// no row is sql.ErrNoRows.
func (q *preparedQuery) scanOne(ctx context.Context, db bun.IDB, dest any, args ...any) error {
	rows, err := q.query(ctx, db, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := bunOf(db).ScanRow(ctx, rows, dest); err != nil {
		return err
	}
	return rows.Close()
}

// scanAll runs q and scans every row into dest (a pointer to a slice of models).
func (q *preparedQuery) scanAll(ctx context.Context, db bun.IDB, dest any, args ...any) error {
	return scanPrepared(ctx, db, dest, q.sql(db), args...)
}

// exec runs q with args on db, prepared, for its effect.
func (q *preparedQuery) exec(ctx context.Context, db bun.IDB, args ...any) (sql.Result, error) {
	r, err := sqlOf(db)
	if err != nil {
		return nil, err
	}
	return r.ExecContext(ctx, q.sql(db), append([]any{database.PreparedMode()}, args...)...)
}

// deferExec runs q with args on db, prepared, for its effect: in the tail of ctx's
// transaction when db is it (database.Defer), else now.
func (q *preparedQuery) deferExec(ctx context.Context, db bun.IDB, args ...any) error {
	return database.Defer(ctx, db, q.sql(db), args...)
}

// deferChecked is deferExec with check on the rows the write affected
// (database.DeferChecked).
func (q *preparedQuery) deferChecked(ctx context.Context, db bun.IDB, check func(rows int64) error, args ...any) error {
	return database.DeferChecked(ctx, db, q.sql(db), check, args...)
}

// bunOf is the *bun.DB behind db (for its scanner).
func bunOf(db bun.IDB) *bun.DB { return db.NewSelect().DB() }

// columnsOf lists model's columns (a pointer to a bun model) as alias.column AS
// prefix+column, for a statement that reads two models into one row (see
// orgWithProvider).
func columnsOf(db bun.IDB, model any, alias, prefix string) string {
	t := db.Dialect().Tables().Get(reflect.TypeOf(model).Elem())
	cols := make([]string, 0, len(t.Fields))
	for _, f := range t.Fields {
		cols = append(cols, fmt.Sprintf("%s.%s AS %s", alias, f.SQLName, prefix+f.Name))
	}
	return strings.Join(cols, ", ")
}

// nullable is v, or SQL NULL for the zero value (an absent optional parameter: a
// comparison with it is never true).
func nullable[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}
