package models

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/uptrace/bun"

	"gatehouse/models/dnscheck"
	"gatehouse/models/mail"
)

// RescueStuckJobsAfter is how long a job may stay `running` before it is retried.
const RescueStuckJobsAfter = 5 * time.Minute

// NewJobs returns the River client that works the application's jobs on pool: email
// delivery (rendered by render, delivered by sender), hourly maintenance and the hourly
// check for IdP metadata due for refresh (downloaded through fetcher), and the hourly
// check of verified and pending domains (DNS lookups through resolver). Call Start and, on shutdown, Stop.
func NewJobs(pool *pgxpool.Pool, db bun.IDB, render mail.Renderer, sender mail.Sender, fetcher MetadataGetter, resolver *dnscheck.Resolver) (*river.Client[pgx.Tx], error) {
	workers := river.NewWorkers()
	river.AddWorker(workers, &mail.Worker{Render: render, Sender: sender, DB: db})
	river.AddWorker(workers, &MaintenanceWorker{DB: db})
	river.AddWorker(workers, &MetadataRefreshWorker{DB: db, Fetcher: fetcher})
	bdb, ok := db.(*bun.DB)
	if !ok {
		return nil, fmt.Errorf("jobs need a *bun.DB, got %T", db)
	}
	mailer, err := NewMailer(bdb.DB)
	if err != nil {
		return nil, err
	}
	river.AddWorker(workers, &CertExpiryWorker{DB: db, Mailer: mailer})
	river.AddWorker(workers, &DomainCheckWorker{DB: db, Mailer: mailer, Resolver: resolver})
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger:            riverLogger(),
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:           workers,
		FetchPollInterval: 200 * time.Millisecond,
		// A job still `running` this long after it started was orphaned (a crash, or a
		// database stall that kept River from recording its end): run it again. Longer
		// than every worker's Timeout; email delivery is idempotent per job.
		RescueStuckJobsAfter: RescueStuckJobsAfter,
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
				func() (river.JobArgs, *river.InsertOpts) { return MaintenanceArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
				func() (river.JobArgs, *river.InsertOpts) { return MetadataRefreshArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
				func() (river.JobArgs, *river.InsertOpts) { return CertExpiryArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(DomainPendingEvery),
				func() (river.JobArgs, *river.InsertOpts) { return DomainCheckArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return c, nil
}

// riverLogger logs River's warnings and errors through the default logger (JSON when
// the binary set it so, like every other log line); its chatty info lines stay out.
func riverLogger() *slog.Logger {
	return slog.New(minLevel{Handler: slog.Default().Handler(), min: slog.LevelWarn})
}

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}
