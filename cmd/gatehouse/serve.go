package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"gatehouse/handlers"
	"gatehouse/models"
	"gatehouse/models/fetch"
	"gatehouse/views/emails"
)

// serve runs the web server and the job workers until ctx ends (SIGINT/SIGTERM), then
// drains requests and jobs before stopping the embedded database.
func serve(ctx context.Context, cfg *config, log *slog.Logger) error {
	log.Info("memory", "limit_bytes", models.ApplyMemoryLimit(), "gogc", models.ApplyGCPercent())
	return withDB(ctx, cfg, log, func(a *app) error {
		sender, err := a.sender()
		if err != nil {
			return err
		}
		resolver, err := a.cfg.resolver()
		if err != nil {
			return err
		}
		// The handler first: it adds the ACS cache's query hook to the database handle,
		// which must happen before anything (the jobs) runs statements on it.
		h, err := a.handler()
		if err != nil {
			return err
		}
		jobs, err := models.NewJobs(a.db.Pool, a.db.Bun, emails.Renderer{BaseURL: cfg.BaseURL.String()}.Render, sender,
			fetch.New(a.cfg.AllowPrivateMetadata), resolver)
		if err != nil {
			return err
		}
		if err := jobs.Start(ctx); err != nil {
			return fmt.Errorf("start jobs: %w", err)
		}
		web := handlers.NewApp(h)
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return fmt.Errorf("GATEHOUSE_ADDR %s: %w", cfg.Addr, err)
		}
		log.Info("serving", "addr", ln.Addr().String(), "base_url", cfg.BaseURL.String(), "smtp", cfg.SMTPURL != "")
		// One line for the person at the terminal (the logs on stderr are JSON).
		fmt.Fprintf(os.Stdout, "Gatehouse is running: open %s/ (Ctrl-C stops it)\n", strings.TrimSuffix(cfg.BaseURL.String(), "/"))
		errc := make(chan error, 1)
		go func() { errc <- web.Listener(ln) }()

		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
		return shutdown(web, jobs, cfg.ShutdownTimeout, log)
	})
}

// shutdown drains HTTP requests and stops the job workers at the same time, within
// timeout in all (GATEHOUSE_SHUTDOWN_TIMEOUT, default 25 s, under Kubernetes' 30 s
// grace period before SIGKILL). Jobs get a soft stop first; in the last seconds the
// ones still running are cancelled, so River records them as failed-and-retryable
// instead of leaving them `running` for the rescuer.
func shutdown(web *fiber.App, jobs *river.Client[pgx.Tx], timeout time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	httpDone := make(chan error, 1)
	go func() { httpDone <- web.ShutdownWithContext(ctx) }()

	softCtx, softCancel := context.WithTimeout(ctx, timeout*3/4)
	defer softCancel()
	if err := jobs.Stop(softCtx); err != nil {
		log.Warn("jobs still running at the soft stop deadline: cancelling them", "error", err.Error())
		if err := jobs.StopAndCancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("stopping jobs", "error", err.Error())
		}
	}
	return <-httpDone
}
