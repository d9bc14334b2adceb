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
         [--allow-unsigned-logout=true|false] [--clock-skew-minutes N] [--max-assertion-minutes N]
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
	unsignedLogout := fs.String("allow-unsigned-logout", "", "true admits IdP LogoutRequests without a signature (off by default)")
	skew := fs.Int("clock-skew-minutes", 0, "clock skew allowed in SAML time checks (default 5)")
	life := fs.Int("max-assertion-minutes", 0, "longest SAML assertion lifetime accepted (default 480)")
	if err := fs.Parse(args[1:]); err != nil {
		return &usageError{err.Error() + "\n" + ssoUsage}
	}
	preset, ok := samlsp.PresetOf(*kind)
	if *slug == "" || !ok {
		return &usageError{ssoUsage}
	}
	allowUnsigned := false
	switch *unsignedLogout {
	case "", "false":
	case "true":
		allowUnsigned = true
	default:
		return &usageError{"--allow-unsigned-logout wants true or false\n" + ssoUsage}
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
		// The policy settings go through the Auth page's rule (validated, audited).
		settings := models.CurrentAuthSettings(org, p)
		if *unsignedLogout != "" {
			settings.AllowUnsignedLogout = allowUnsigned
		}
		if *skew != 0 {
			settings.ClockSkewMinutes = *skew
		}
		if *life != 0 {
			settings.MaxAssertionMinutes = *life
		}
		if settings != models.CurrentAuthSettings(org, p) {
			if _, err := models.UpdateAuthSettings(ctx, a.db.Bun, org.ID, actor, settings, ""); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "%s provider for %s: %s (IdP %s)\n", p.DisplayName(), org.Slug, p.Status, p.Config.EntityID)
		fmt.Fprintf(stdout, "Unsigned IdP logout requests: %s; clock skew %d min; maximum assertion lifetime %d min\n",
			map[bool]string{true: "allowed", false: "refused"}[settings.AllowUnsignedLogout], settings.ClockSkewMinutes, settings.MaxAssertionMinutes)
		sp := samlsp.NewSP(cfg.BaseURL.String(), org.Slug)
		fmt.Fprintf(stdout, "SP entity ID: %s\nACS URL: %s\nSLS URL: %s\nLogin URL: %s/auth/login/%s/\n", sp.EntityID, sp.ACSURL, sp.SLSURL, cfg.BaseURL, org.Slug)
		return nil
	})
}
