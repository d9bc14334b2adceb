package database

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/uptrace/bun"
)

// A transaction's tail: the writes that end it, whose answers are at most a row count
// (DeferChecked), sent together as one statement just before the commit instead of
// one round trip each. A returning SSO login ends with three (the identity's last
// sign-in, the sign-in log, the session; SP-initiated, a fourth: the renewed session's
// old row): one round trip for all (issue 12).
//
// The writes become data-modifying WITH clauses of one statement, which PostgreSQL
// runs as one: all or nothing inside the transaction, like the statements they
// replace. Two rules follow from sharing one snapshot, and every Defer caller keeps
// them: nothing later in the transaction reads what a deferred write writes, and no
// two deferred writes touch the same row.

// Tail collects the deferred writes of one transaction (WithTail).
type Tail struct {
	tx      *sql.Tx
	writes  []deferred
	flushed bool // Defer after Flush is refused: nothing would send the write
}

type deferred struct {
	text  string
	args  []any
	check func(rows int64) error // nil: any count
}

type tailKey struct{}

// WithTail returns ctx carrying a new tail for tx: Defer with this ctx and tx holds
// writes until Flush, which the caller runs last in tx before it commits. Without a
// Flush (the transaction rolls back) the deferred writes are never sent.
func WithTail(ctx context.Context, tx bun.Tx) (context.Context, *Tail) {
	t := &Tail{tx: tx.Tx}
	return context.WithValue(ctx, tailKey{}, t), t
}

// Defer runs text with args on db, in PreparedMode: at the flush of ctx's tail when
// db is that tail's transaction, else now. text is one INSERT, UPDATE or DELETE
// without RETURNING or WITH, with parameters $1…$len(args) and no other '$', no
// quotes, semicolons or comments (parameters are renumbered when writes are joined).
func Defer(ctx context.Context, db bun.IDB, text string, args ...any) error {
	return DeferChecked(ctx, db, text, nil, args...)
}

// DeferChecked is Defer with check, which is given the number of rows the write
// affected when it runs (now, or at the flush) and may refuse it: its error is the
// write's (and the flush's, whose transaction then rolls back).
func DeferChecked(ctx context.Context, db bun.IDB, text string, check func(rows int64) error, args ...any) error {
	r, err := SQLOf(db)
	if err != nil {
		return err
	}
	if t, ok := ctx.Value(tailKey{}).(*Tail); ok && r == Runner(t.tx) {
		if t.flushed {
			return fmt.Errorf("deferred write after its transaction's tail was sent: %.40q", text)
		}
		if strings.ContainsAny(text, `'";`) || strings.Contains(text, "--") || strings.Contains(text, "/*") ||
			len(text) >= 4 && strings.EqualFold(text[:4], "WITH") || strings.Contains(strings.ToUpper(text), "RETURNING") {
			return fmt.Errorf("deferred write that cannot be joined: %.40q", text)
		}
		t.writes = append(t.writes, deferred{text: text, args: args, check: check})
		return nil
	}
	res, err := r.ExecContext(ctx, text, append([]any{PreparedMode()}, args...)...)
	if err != nil || check == nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	return check(n)
}

// Flush sends the deferred writes, as one statement, once: a later Defer with the
// tail's context and transaction is an error.
func (t *Tail) Flush(ctx context.Context) error {
	t.flushed = true
	if len(t.writes) == 0 {
		return nil
	}
	writes := t.writes
	t.writes = nil
	counts, err := t.send(ctx, writes)
	if err != nil {
		return fmt.Errorf("transaction tail: %w", err)
	}
	for i, w := range writes {
		if w.check != nil {
			if err := w.check(counts[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// send runs writes as one statement and returns the rows each affected.
func (t *Tail) send(ctx context.Context, writes []deferred) ([]int64, error) {
	if len(writes) == 1 {
		res, err := t.tx.ExecContext(ctx, writes[0].text, append([]any{PreparedMode()}, writes[0].args...)...)
		if err != nil {
			return nil, err
		}
		n, err := res.RowsAffected()
		return []int64{n}, err
	}
	text, args, err := tailStatement(writes)
	if err != nil {
		return nil, err
	}
	counts := make([]int64, len(writes))
	dest := make([]any, len(writes))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := t.tx.QueryRowContext(ctx, text, append([]any{PreparedMode()}, args...)...).Scan(dest...); err != nil {
		return nil, err
	}
	return counts, nil
}

// tailStatement joins writes into one statement: each write a WITH clause (w1, w2,
// …) returning a row per row it affected, each one's parameters renumbered after the
// previous ones', and a main query that counts them. The texts come from a fixed set
// of call sites, so the joined texts are a bounded set too (each is prepared once per
// connection).
func tailStatement(writes []deferred) (string, []any, error) {
	var b, counts strings.Builder
	var args []any
	b.WriteString("WITH ")
	for i, w := range writes {
		name := "w" + strconv.Itoa(i+1)
		if i > 0 {
			b.WriteString(", ")
			counts.WriteString(", ")
		}
		b.WriteString(name + " AS (")
		if err := renumber(&b, w.text, len(args), len(w.args)); err != nil {
			return "", nil, err
		}
		b.WriteString(" RETURNING 1)")
		counts.WriteString("(SELECT count(*) FROM " + name + ")")
		args = append(args, w.args...)
	}
	b.WriteString(" SELECT ")
	b.WriteString(counts.String())
	return b.String(), args, nil
}

// renumber writes text to b with every parameter $k as $(k+offset); k must be 1…n.
func renumber(b *strings.Builder, text string, offset, n int) error {
	for i := 0; i < len(text); i++ {
		if text[i] != '$' {
			b.WriteByte(text[i])
			continue
		}
		j := i + 1
		for j < len(text) && text[j] >= '0' && text[j] <= '9' {
			j++
		}
		k, err := strconv.Atoi(text[i+1 : j])
		if err != nil || k < 1 || k > n {
			return fmt.Errorf("deferred write: %q at %d is not one of its %d parameters", text[i:j], i, n)
		}
		b.WriteString("$" + strconv.Itoa(k+offset))
		i = j - 1
	}
	return nil
}
