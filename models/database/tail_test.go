package database_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"gatehouse/models/database"
	"gatehouse/models/dbtest"
)

// A transaction's tail (database.Defer, Tail.Flush): writes made with the tail's
// context and transaction are held until the flush and then sent as one statement,
// each with its own arguments; writes elsewhere run at once; a rolled-back
// transaction never sends them; a failing write fails the flush and nothing stays.
func TestTransactionTail(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	if _, err := db.Bun.ExecContext(ctx, `CREATE TABLE tail_a (id int PRIMARY KEY, note text, tags bigint[]);
		CREATE TABLE tail_b (id int PRIMARY KEY, n int CHECK (n >= 0), at timestamptz)`); err != nil {
		t.Fatal(err)
	}
	count := func(q bun.IDB, table string) int {
		t.Helper()
		var n int
		if err := q.NewRaw("SELECT count(*) FROM "+table).Scan(ctx, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		tctx, tail := database.WithTail(ctx, tx)
		for _, w := range []struct {
			text string
			args []any
		}{
			{"INSERT INTO tail_a (id, note, tags) VALUES ($1, $2, $3)", []any{1, "first", []int64{7, 8}}},
			{"INSERT INTO tail_b (id, n) VALUES ($1, $2)", []any{1, 10}},
			{"INSERT INTO tail_a (id, note) VALUES ($2, $1)", []any{"second", 2}},
		} {
			if err := database.Defer(tctx, tx, w.text, w.args...); err != nil {
				return err
			}
		}
		// Outside the tail's transaction, or without its context: at once.
		if err := database.Defer(tctx, db.Bun, "INSERT INTO tail_b (id, n) VALUES ($1, $2)", 2, 20); err != nil {
			return err
		}
		if err := database.Defer(ctx, tx, "INSERT INTO tail_b (id, n) VALUES ($1, $2)", 3, 30); err != nil {
			return err
		}
		if n := count(tx, "tail_a"); n != 0 {
			t.Errorf("deferred writes sent before the flush: %d rows", n)
		}
		if n := count(tx, "tail_b"); n != 2 {
			t.Errorf("writes outside the tail held: %d of 2 rows", n)
		}
		if err := tail.Flush(tctx); err != nil {
			return err
		}
		if err := database.Defer(tctx, tx, "INSERT INTO tail_b (id, n) VALUES ($1, $2)", 9, 90); err == nil {
			t.Error("a write deferred after the flush was accepted: nothing would send it")
		}
		return tail.Flush(tctx) // nothing sent twice
	}); err != nil {
		t.Fatal(err)
	}
	var got []string
	rows, err := db.SQL.QueryContext(ctx, "SELECT id || ':' || note || ':' || coalesce(array_to_string(tags, ','), '-') FROM tail_a ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if strings.Join(got, " ") != "1:first:7,8 2:second:-" {
		t.Errorf("tail_a after the flush: %q", got)
	}
	if n := count(db.Bun, "tail_b"); n != 3 {
		t.Errorf("tail_b: %d rows, want 3", n)
	}

	// Rolled back: never sent.
	errAbort := errors.New("abort")
	if err := db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		ctx, _ = database.WithTail(ctx, tx)
		if err := database.Defer(ctx, tx, "INSERT INTO tail_a (id, note) VALUES ($1, $2)", 3, "rolled back"); err != nil {
			return err
		}
		return errAbort
	}); !errors.Is(err, errAbort) {
		t.Fatal(err)
	}
	// One write fails: the flush fails, and the others are undone with it.
	err = db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		ctx, tail := database.WithTail(ctx, tx)
		_ = database.Defer(ctx, tx, "INSERT INTO tail_a (id, note) VALUES ($1, $2)", 4, "undone")
		_ = database.Defer(ctx, tx, "UPDATE tail_b SET n = n - $1, at = now() WHERE id = $2", 15, 1) // 10 - 15 breaks the CHECK
		return tail.Flush(ctx)
	})
	if err == nil || !strings.Contains(err.Error(), "transaction tail") {
		t.Fatalf("failing write: %v", err)
	}
	if n := count(db.Bun, "tail_a"); n != 2 {
		t.Errorf("tail_a: %d rows after the rollback and the failed flush, want 2", n)
	}

	// Texts that joining could break are refused when deferred: a quoted '$', a
	// statement of its own, a comment, a WITH of its own.
	err = db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		ctx, _ = database.WithTail(ctx, tx)
		for _, text := range []string{
			"INSERT INTO tail_a (id, note) VALUES ($1, '$2')",
			"INSERT INTO tail_a (id) VALUES ($1); DELETE FROM tail_b",
			"INSERT INTO tail_a (id) VALUES ($1) -- $2",
			"INSERT INTO tail_a (id) VALUES ($1) /* $2 */",
			`INSERT INTO "tail_a" (id) VALUES ($1)`,
			"with w AS (SELECT 1) INSERT INTO tail_a (id) VALUES ($1)",
			"INSERT INTO tail_a (id) VALUES ($1) RETURNING id",
		} {
			if err := database.Defer(ctx, tx, text, 6); err == nil {
				t.Errorf("deferred %q", text)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A checked write is given the rows it affected, joined or alone, and may refuse:
	// the flush fails with its error and the transaction rolls back.
	errRefused := errors.New("refused")
	var seen []int64
	record := func(n int64) error { seen = append(seen, n); return nil }
	err = db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		tctx, tail := database.WithTail(ctx, tx)
		_ = database.DeferChecked(tctx, tx, "UPDATE tail_a SET note = $1 WHERE id <= $2", record, "seen", 2)
		_ = database.DeferChecked(tctx, tx, "UPDATE tail_b SET n = n WHERE id = $1", record, 404)
		_ = database.DeferChecked(tctx, tx, "UPDATE tail_a SET note = $1 WHERE id = $2", func(n int64) error {
			if n == 0 {
				return errRefused
			}
			return nil
		}, "gone", 404)
		return tail.Flush(tctx)
	})
	if !errors.Is(err, errRefused) || fmt.Sprint(seen) != "[2 0]" {
		t.Fatalf("checked writes: %v, counts %v", err, seen)
	}
	if n := count(db.Bun, "tail_a WHERE note = 'seen'"); n != 0 {
		t.Errorf("a refused tail's writes stayed (%d rows)", n)
	}
	seen = nil
	if err := database.DeferChecked(ctx, db.Bun, "UPDATE tail_b SET n = n WHERE id <= $1", record, 3); err != nil || fmt.Sprint(seen) != "[3]" {
		t.Errorf("a checked write run at once: %v, counts %v", err, seen)
	}

	// A text whose parameters are not its arguments' is refused, never misnumbered.
	err = db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		ctx, tail := database.WithTail(ctx, tx)
		_ = database.Defer(ctx, tx, "INSERT INTO tail_a (id, note) VALUES ($1, $2)", 5, "x")
		_ = database.Defer(ctx, tx, "INSERT INTO tail_b (id, n) VALUES ($1, $3)", 5, 1)
		return tail.Flush(ctx)
	})
	if err == nil || !strings.Contains(err.Error(), "$3") {
		t.Fatalf("misnumbered write: %v", err)
	}
	var one sql.NullInt64
	if err := db.SQL.QueryRowContext(ctx, "SELECT max(id) FROM tail_a").Scan(&one); err != nil || one.Int64 != 2 {
		t.Errorf("tail_a after the refused flush: max id %v %v", one, err)
	}
}
