package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/models/fetch"
	"gatehouse/models/samlsp"
)

const ssoUsage = `usage: gatehouse sso configure --org SLUG --provider KIND
         (--metadata-url URL | --metadata-file FILE | --entity-id ID --sso-url URL --cert-file FILE [--slo-url URL])
         [--map identifier=…,email=…,first_name=…,last_name=…] [--activate]
       Without --map the provider's default mapping is used (NameID where it has none).`

// ssoCommand is `gatehouse sso configure` (SPEC §9): register an org's IdP without
// the browser; --activate skips the owner's round trip, for automation.
func ssoCommand(ctx context.Context, cfg *config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "configure" {
		return &usageError{ssoUsage}
	}
	fs := flag.NewFlagSet("sso configure", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	slug := fs.String("org", "", "organization slug")
	kind := fs.String("provider", "saml2", "saml2, okta, entra, onelogin, auth0 or jumpcloud")
	metaURL := fs.String("metadata-url", "", "IdP metadata URL")
	metaFile := fs.String("metadata-file", "", "IdP metadata XML file")
	entityID := fs.String("entity-id", "", "IdP entity ID")
	ssoURL := fs.String("sso-url", "", "IdP SSO URL")
	sloURL := fs.String("slo-url", "", "IdP SLO URL")
	certFile := fs.String("cert-file", "", "IdP signing certificate (PEM or base64)")
	mapping := fs.String("map", "", "attribute mapping: identifier=…,email=…,first_name=…,last_name=…")
	activate := fs.Bool("activate", false, "activate without the owner's round trip")
	if err := fs.Parse(args[1:]); err != nil {
		return &usageError{err.Error() + "\n" + ssoUsage}
	}
	preset, ok := samlsp.PresetOf(*kind)
	if *slug == "" || !ok {
		return &usageError{ssoUsage}
	}
	// Without --map: the preset's mapping; presets without one (generic SAML2,
	// JumpCloud) take both from the Subject NameID, which every IdP sends.
	defaults := preset.Mapping
	if defaults.Identifier == "" {
		defaults.Identifier = samlsp.NameIDKey
	}
	if defaults.Email == "" {
		defaults.Email = samlsp.NameIDKey
	}
	setup := models.SAMLSetup{Kind: *kind, Mapping: defaults, EntityID: *entityID, SSOURL: *ssoURL, SLOURL: *sloURL}
	switch {
	case *metaURL != "":
		setup.Method, setup.MetadataURL = models.MethodMetadataURL, *metaURL
	case *metaFile != "":
		b, err := os.ReadFile(*metaFile)
		if err != nil {
			return err
		}
		setup.Method, setup.MetadataXML = models.MethodMetadataXML, string(b)
	case *entityID != "" || *ssoURL != "" || *certFile != "":
		b, err := os.ReadFile(*certFile)
		if err != nil {
			return fmt.Errorf("--cert-file: %w", err)
		}
		setup.Method, setup.Certificate = models.MethodFields, string(b)
	default:
		return &usageError{"give --metadata-url, --metadata-file, or --entity-id with --sso-url and --cert-file\n" + ssoUsage}
	}
	if *mapping != "" {
		for _, kv := range strings.Split(*mapping, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return &usageError{"--map wants key=value pairs"}
			}
			switch strings.TrimSpace(k) {
			case "identifier":
				setup.Mapping.Identifier = v
			case "email":
				setup.Mapping.Email = v
			case "first_name":
				setup.Mapping.FirstName = v
			case "last_name":
				setup.Mapping.LastName = v
			default:
				return &usageError{fmt.Sprintf("--map: unknown key %q", k)}
			}
		}
	}
	return withDB(ctx, cfg, log, func(a *app) error {
		org, err := models.OrgBySlug(ctx, a.db.Bun, *slug)
		if err != nil {
			return fmt.Errorf("--org %s: %w", *slug, err)
		}
		provCfg, err := models.ResolveIdP(ctx, fetch.New(cfg.AllowPrivateMetadata), setup, time.Now())
		if err != nil {
			return err
		}
		actor := models.System("cli")
		mailer, err := models.NewMailer(a.db.SQL)
		if err != nil {
			return err
		}
		p, err := models.SaveSAMLProvider(ctx, a.db.Bun, mailer, org.ID, actor, *kind, provCfg)
		if err != nil {
			return err
		}
		if *activate {
			if err := models.ActivateProvider(ctx, a.db.Bun, mailer, org.ID, actor); err != nil {
				return err
			}
			p.Status = models.ProviderActive
		}
		fmt.Fprintf(stdout, "%s provider for %s: %s (IdP %s)\n", p.DisplayName(), org.Slug, p.Status, p.Config.EntityID)
		sp := samlsp.NewSP(cfg.BaseURL.String(), org.Slug)
		fmt.Fprintf(stdout, "SP entity ID: %s\nACS URL: %s\nSLS URL: %s\nLogin URL: %s/auth/login/%s/\n", sp.EntityID, sp.ACSURL, sp.SLSURL, cfg.BaseURL, org.Slug)
		return nil
	})
}
