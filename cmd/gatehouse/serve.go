package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"gatehouse/handlers"
	"gatehouse/models"
	"gatehouse/models/fetch"
	"gatehouse/views/emails"
)

// serve runs the web server and the job workers until ctx ends (SIGINT/SIGTERM), then
// drains requests and jobs before stopping the embedded database.
func serve(ctx context.Context, cfg *config, log *slog.Logger) error {
	return withDB(ctx, cfg, log, func(a *app) error {
		sender, err := a.sender()
		if err != nil {
			return err
		}
		jobs, err := models.NewJobs(a.db.Pool, a.db.Bun, emails.Renderer{BaseURL: cfg.BaseURL.String()}.Render, sender,
			fetch.New(a.cfg.AllowPrivateMetadata))
		if err != nil {
			return err
		}
		if err := jobs.Start(ctx); err != nil {
			return fmt.Errorf("start jobs: %w", err)
		}
		h, err := a.handler()
		if err != nil {
			return err
		}
		web := handlers.NewApp(h)
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return fmt.Errorf("GATEHOUSE_ADDR %s: %w", cfg.Addr, err)
		}
		log.Info("serving", "addr", ln.Addr().String(), "base_url", cfg.BaseURL.String(), "smtp", cfg.SMTPURL != "")
		errc := make(chan error, 1)
		go func() { errc <- web.Listener(ln) }()

		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		log.Info("shutting down")
		shutdownErr := web.ShutdownWithTimeout(15 * time.Second)
		stopCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := jobs.Stop(stopCtx); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("stopping jobs", "error", err.Error())
		}
		return shutdownErr
	})
}
