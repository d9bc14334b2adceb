package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"gatehouse/models"
)

const scimUsage = `usage: gatehouse scim enable --org SLUG           (enables SCIM and prints a new token)
       gatehouse scim token create --org SLUG
       gatehouse scim token revoke --org SLUG --prefix PREFIX`

// scimCommand administers SCIM from the command line (SPEC §9).
func scimCommand(ctx context.Context, cfg *config, log *slog.Logger, args []string, stdout io.Writer) error {
	var action string
	switch {
	case len(args) >= 1 && args[0] == "enable":
		action, args = "enable", args[1:]
	case len(args) >= 2 && args[0] == "token" && (args[1] == "create" || args[1] == "revoke"):
		action, args = args[1], args[2:]
	default:
		return &usageError{scimUsage}
	}
	fs := flag.NewFlagSet("scim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	slug := fs.String("org", "", "organization slug")
	prefix := fs.String("prefix", "", "prefix of the token to revoke (as the Auth page shows it)")
	if err := fs.Parse(args); err != nil || *slug == "" || (action == "revoke" && *prefix == "") {
		return &usageError{scimUsage}
	}
	return withDB(ctx, cfg, log, func(a *app) error {
		org, err := models.OrgBySlug(ctx, a.db.Bun, *slug)
		if err != nil {
			return fmt.Errorf("--org %s: %w", *slug, err)
		}
		actor := models.System("cli")
		mailer, err := models.NewMailer(a.db.SQL)
		if err != nil {
			return err
		}
		switch action {
		case "enable":
			if err := models.SetSCIMEnabled(ctx, a.db.Bun, org.ID, actor, true); err != nil {
				return err
			}
			fallthrough
		case "create":
			secret, _, err := models.CreateSCIMToken(ctx, a.db.Bun, mailer, org.ID, actor)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "SCIM Base URL: %s/api/0/organizations/%s/scim/v2\nAuth Token: %s\n(the token is shown only once)\n", cfg.BaseURL, org.Slug, secret)
		case "revoke":
			tokens, err := models.ListSCIMTokens(ctx, a.db.Bun, org.ID)
			if err != nil {
				return err
			}
			for _, t := range tokens {
				if strings.HasPrefix(t.Prefix, strings.TrimSuffix(*prefix, "…")) {
					if err := models.RevokeSCIMToken(ctx, a.db.Bun, mailer, org.ID, actor, t.ID); err != nil {
						return err
					}
					fmt.Fprintf(stdout, "revoked %s…\n", t.Prefix)
					return nil
				}
			}
			return errors.New("no active token of this organization has that prefix")
		}
		return nil
	})
}
