package models

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"gatehouse/models/sessionstore"
)

// MaintenanceArgs is the periodic job that deletes rows nobody can use any more:
// long-expired sessions, spent reset links, stale rate-limit windows, the SAML replay
// cache and request state past their use.
type MaintenanceArgs struct{}

// Kind implements river.JobArgs.
func (MaintenanceArgs) Kind() string { return "maintenance" }

// MaintenanceWorker runs MaintenanceArgs.
type MaintenanceWorker struct {
	river.WorkerDefaults[MaintenanceArgs]
	DB bun.IDB
}

// Work implements river.Worker.
func (w *MaintenanceWorker) Work(ctx context.Context, _ *river.Job[MaintenanceArgs]) error {
	if _, err := sessionstore.Cleanup(ctx, w.DB); err != nil {
		return fmt.Errorf("clean sessions: %w", err)
	}
	for _, q := range []string{
		"DELETE FROM password_resets WHERE expires_at < now() - interval '1 day'",
		"DELETE FROM rate_limits WHERE window_start < now() - interval '1 day'",
		"DELETE FROM email_verifications WHERE expires_at < now() - interval '1 day'",
		"DELETE FROM sso_handoffs WHERE expires_at < now()",
		"DELETE FROM sso_results WHERE expires_at < now()",
		// River forgets a job long before this; its delivery record can go too.
		"DELETE FROM email_deliveries WHERE sent_at < now() - interval '30 days'",
	} {
		if _, err := w.DB.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("maintenance: %w", err)
		}
	}
	// A row per SSO sign-in each: batched, so an hour of a busy instance's sign-ins
	// is never one statement against the statement timeout.
	for table, expired := range map[string]string{
		// A replay entry outlives its assertion's NotOnOrAfter by a day (and every
		// handoff that carries it): past that, the time checks refuse the assertion.
		"saml_replay": "expires_at < now()",
		// A day's grace, so "this request was already answered" stays explainable.
		"saml_requests": "expires_at < now() - interval '1 day'",
	} {
		if err := purge(ctx, w.DB, table, expired); err != nil {
			return fmt.Errorf("maintenance: %w", err)
		}
	}
	return nil
}

// purgeBatch is how many rows purge deletes per statement.
const purgeBatch = 5000

// purge deletes table's rows where expired holds, purgeBatch at a time.
func purge(ctx context.Context, db bun.IDB, table, expired string) error {
	for {
		res, err := db.ExecContext(ctx, "DELETE FROM "+table+" WHERE ctid = ANY (ARRAY (SELECT ctid FROM "+table+" WHERE "+expired+" LIMIT ?))", purgeBatch)
		if err != nil {
			return fmt.Errorf("purge %s: %w", table, err)
		}
		if n, err := res.RowsAffected(); err != nil || n < purgeBatch {
			return err
		}
	}
}
