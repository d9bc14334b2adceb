package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"gatehouse/models"
)

func userCommand(ctx context.Context, cfg *config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return &usageError{"usage: gatehouse user create --email EMAIL --name NAME --password PASSWORD [--superuser]"}
	}
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	email := fs.String("email", "", "email address (required)")
	name := fs.String("name", "", "display name (required)")
	password := fs.String("password", "", "password, at least 8 characters (required)")
	superuser := fs.Bool("superuser", false, "instance administrator")
	if err := fs.Parse(args[1:]); err != nil {
		return &usageError{err.Error()}
	}
	return withDB(ctx, cfg, log, func(a *app) error {
		u, err := models.CreateUser(ctx, a.db.Bun, models.NewUser{Email: *email, Name: *name, Password: *password, Superuser: *superuser, Verified: true})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created user %d <%s>\n", u.ID, u.Email)
		return nil
	})
}

func orgCommand(ctx context.Context, cfg *config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return &usageError{"usage: gatehouse org create --slug SLUG --name NAME --owner EMAIL"}
	}
	fs := flag.NewFlagSet("org create", flag.ContinueOnError)
	slug := fs.String("slug", "", "URL slug (required)")
	name := fs.String("name", "", "display name (required)")
	owner := fs.String("owner", "", "email of an existing user who becomes the owner (required)")
	if err := fs.Parse(args[1:]); err != nil {
		return &usageError{err.Error()}
	}
	if *owner == "" {
		return &usageError{"--owner is required"}
	}
	return withDB(ctx, cfg, log, func(a *app) error {
		u, err := models.UserByEmail(ctx, a.db.Bun, *owner)
		if err != nil {
			return fmt.Errorf("owner %s: %w", *owner, err)
		}
		org, err := models.CreateOrganization(ctx, a.db.Bun, models.Actor{UserID: u.ID, Label: "cli (" + u.Email + ")"},
			models.NewOrganization{Name: *name, Slug: *slug})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created organization %s (id %d), owner %s\n", org.Slug, org.ID, u.Email)
		return nil
	})
}
