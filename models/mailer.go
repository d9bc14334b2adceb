package models

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/uptrace/bun"

	"gatehouse/models/mail"
)

// Mailer enqueues emails as River jobs. Inside a transaction the job commits or rolls
// back with the change that caused it.
type Mailer struct {
	client *river.Client[*sql.Tx]
}

// NewMailer returns an insert-only River client over db (the same pgx pool).
func NewMailer(db *sql.DB) (*Mailer, error) {
	c, err := river.NewClient(riverdatabasesql.New(db), &river.Config{Logger: riverLogger()})
	if err != nil {
		return nil, fmt.Errorf("river insert client: %w", err)
	}
	return &Mailer{client: c}, nil
}

func (m *Mailer) enqueue(ctx context.Context, db bun.IDB, args mail.Args) error {
	var err error
	if tx, ok := db.(bun.Tx); ok {
		_, err = m.client.InsertTx(ctx, tx.Tx, args, nil)
	} else {
		_, err = m.client.Insert(ctx, args, nil)
	}
	if err != nil {
		return fmt.Errorf("enqueue %s email: %w", args.Template, err)
	}
	return nil
}
