// Command gatehouse serves Gatehouse and administers it from the command line.
//
//	gatehouse [serve]                       run the web server (default)
//	gatehouse migrate                       apply database migrations
//	gatehouse user create --email --name --password [--superuser]
//	gatehouse org create --slug --name --owner EMAIL
//	gatehouse sso configure --org SLUG --provider KIND (--metadata-url U | --metadata-file F | --entity-id E --sso-url U --cert-file F) [--map …] [--activate]
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		var usage *usageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

const usage = `usage:
  gatehouse [serve]
  gatehouse migrate
  gatehouse user create --email EMAIL --name NAME --password PASSWORD [--superuser]
  gatehouse org create --slug SLUG --name NAME --owner EMAIL
  gatehouse sso configure --org SLUG --provider KIND (--metadata-url U | --metadata-file F | --entity-id E --sso-url U --cert-file F) [--map …] [--activate]
  gatehouse scim enable --org SLUG
  gatehouse scim token create|revoke --org SLUG [--prefix P]
  gatehouse domain add|verify|list|remove --org SLUG [--domain DOMAIN]`

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	// Libraries that log through the default logger (River's job queue) write JSON too.
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log)
	case "migrate":
		return withDB(ctx, cfg, log, func(*app) error {
			fmt.Fprintln(stdout, "migrations applied")
			return nil
		})
	case "user":
		return userCommand(ctx, cfg, log, args, stdout)
	case "org":
		return orgCommand(ctx, cfg, log, args, stdout)
	case "sso":
		return ssoCommand(ctx, cfg, log, args, stdout)
	case "scim":
		return scimCommand(ctx, cfg, log, args, stdout)
	case "domain":
		return domainCommand(ctx, cfg, log, args, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return &usageError{fmt.Sprintf("unknown command %q\n%s", cmd, usage)}
}
