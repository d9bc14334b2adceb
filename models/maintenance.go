package models

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"gatehouse/models/sessionstore"
)

// MaintenanceArgs is the periodic job that deletes rows nobody can use any more:
// long-expired sessions, spent reset links, stale rate-limit windows.
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
	return nil
}
