package database

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/uptrace/bun"
)

// A transaction's tail: the writes that end it and whose answers nobody reads, sent
// together as one statement just before the commit instead of one round trip each.
// A returning SSO login ends with three (the identity's last sign-in, the sign-in log,
// the session): one round trip instead of three (issue 12).
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
	text string
	args []any
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
	r, err := SQLOf(db)
	if err != nil {
		return err
	}
	if t, ok := ctx.Value(tailKey{}).(*Tail); ok && r == Runner(t.tx) {
		if t.flushed {
			return fmt.Errorf("deferred write after its transaction's tail was sent: %.40q", text)
		}
		if strings.ContainsAny(text, `'";`) || strings.Contains(text, "--") || strings.Contains(text, "/*") ||
			len(text) >= 4 && strings.EqualFold(text[:4], "WITH") {
			return fmt.Errorf("deferred write that cannot be joined: %.40q", text)
		}
		t.writes = append(t.writes, deferred{text: text, args: args})
		return nil
	}
	_, err = r.ExecContext(ctx, text, append([]any{PreparedMode()}, args...)...)
	return err
}

// Flush sends the deferred writes, as one statement, once: a later Defer with the
// tail's context and transaction is an error.
func (t *Tail) Flush(ctx context.Context) error {
	t.flushed = true
	if len(t.writes) == 0 {
		return nil
	}
	text, args, err := tailStatement(t.writes)
	t.writes = nil
	if err == nil {
		_, err = t.tx.ExecContext(ctx, text, append([]any{PreparedMode()}, args...)...)
	}
	if err != nil {
		return fmt.Errorf("transaction tail: %w", err)
	}
	return nil
}

// tailStatement joins writes into one statement: every write but the last in a WITH
// clause (w1, w2, …), the last as the main statement, each one's parameters
// renumbered after the previous ones'. The texts come from a fixed set of call
// sites, so the joined texts are a bounded set too (each is prepared once per
// connection).
func tailStatement(writes []deferred) (string, []any, error) {
	if len(writes) == 1 {
		return writes[0].text, writes[0].args, nil
	}
	var b strings.Builder
	var args []any
	for i, w := range writes {
		last := i == len(writes)-1
		switch {
		case i == 0:
			b.WriteString("WITH ")
		case !last:
			b.WriteString(", ")
		}
		if last {
			b.WriteString(" ")
		} else {
			b.WriteString("w" + strconv.Itoa(i+1) + " AS (")
		}
		if err := renumber(&b, w.text, len(args), len(w.args)); err != nil {
			return "", nil, err
		}
		if !last {
			b.WriteString(")")
		}
		args = append(args, w.args...)
	}
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
