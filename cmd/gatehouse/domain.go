package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"gatehouse/models"
)

const domainUsage = `usage: gatehouse domain add --org SLUG --domain DOMAIN     (prints the TXT record to publish)
       gatehouse domain verify --org SLUG --domain DOMAIN  (looks the record up now)
       gatehouse domain list --org SLUG
       gatehouse domain remove --org SLUG --domain DOMAIN`

// domainCommand administers an org's verified domains (README "Verified domains"),
// through the same models operations as the Auth page.
func domainCommand(ctx context.Context, cfg *config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) < 1 {
		return &usageError{domainUsage}
	}
	action, args := args[0], args[1:]
	fs := flag.NewFlagSet("domain", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	slug := fs.String("org", "", "organization slug")
	name := fs.String("domain", "", "the domain, e.g. example.com")
	if err := fs.Parse(args); err != nil || *slug == "" || fs.NArg() > 0 {
		return &usageError{domainUsage}
	}
	switch action {
	case "add", "verify", "remove":
		if *name == "" {
			return &usageError{domainUsage}
		}
	case "list":
	default:
		return &usageError{domainUsage}
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
		resolver, err := cfg.resolver()
		if err != nil {
			return err
		}
		printRecord := func(d *models.OrgDomain) {
			fmt.Fprintf(stdout, "%s\t%s\nPublish this DNS record, then run: gatehouse domain verify --org %s --domain %s\n  %s TXT \"%s\"\n",
				d.Domain, d.Status(time.Now()), org.Slug, d.Domain, d.RecordName(), d.RecordValue())
		}
		switch action {
		case "add":
			d, err := models.AddDomain(ctx, a.db.Bun, org.ID, actor, *name)
			if err != nil {
				return err
			}
			printRecord(d)
		case "verify":
			d, err := models.DomainOf(ctx, a.db.Bun, org.ID, *name)
			if err != nil {
				return fmt.Errorf("--domain %s: %w", *name, err)
			}
			if d, err = models.VerifyDomain(ctx, a.db.Bun, mailer, resolver, org.ID, actor, d.ID); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s\tverified\n", d.Domain)
		case "list":
			domains, err := models.ListDomains(ctx, a.db.Bun, org.ID)
			if err != nil {
				return err
			}
			for _, d := range domains {
				fmt.Fprintf(stdout, "%s\t%s\t%s TXT \"%s\"\n", d.Domain, d.Status(time.Now()), d.RecordName(), d.RecordValue())
			}
		case "remove":
			d, err := models.DomainOf(ctx, a.db.Bun, org.ID, *name)
			if err != nil {
				return fmt.Errorf("--domain %s: %w", *name, err)
			}
			if err := models.RemoveDomain(ctx, a.db.Bun, mailer, org.ID, actor, d.ID); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s\tremoved\n", d.Domain)
		}
		return nil
	})
}
