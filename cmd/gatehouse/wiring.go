package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/alexedwards/scs/v2"

	"gatehouse/handlers"
	"gatehouse/models"
	"gatehouse/models/database"
	"gatehouse/models/dnscheck"
	"gatehouse/models/fetch"
	"gatehouse/models/mail"
	"gatehouse/models/oauth"
	"gatehouse/models/pglocal"
	"gatehouse/models/sessionstore"
)

// app is what every sub-command shares: the database (and the local server behind it
// when there is no DATABASE_URL).
type app struct {
	cfg   *config
	log   *slog.Logger
	db    *database.DB
	local *pglocal.Server
}

// withDB opens (and migrates) the database, runs fn, and closes everything.
func withDB(ctx context.Context, cfg *config, log *slog.Logger, fn func(*app) error) error {
	a := &app{cfg: cfg, log: log}
	url := cfg.DatabaseURL
	if url == "" {
		start := time.Now()
		srv, err := pglocal.Start(ctx, cfg.DataDir, pglocal.Options{})
		if err != nil {
			return fmt.Errorf("embedded database: %w", err)
		}
		a.local = srv
		defer srv.Stop()
		url = srv.URL()
		log.Info("embedded PostgreSQL", "data_dir", srv.PGData, "attached", srv.Attached(), "ms", time.Since(start).Milliseconds())
	}
	db, err := database.Open(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := database.Migrate(ctx, db.Pool, db.Bun); err != nil {
		return err
	}
	a.db = db
	return fn(a)
}

// sessions configures scs on the PostgreSQL store.
func (a *app) sessions() *scs.SessionManager {
	sm := sessionstore.Manager(a.db.Bun)
	sm.Lifetime = 14 * 24 * time.Hour
	sm.IdleTimeout = 72 * time.Hour
	sm.Cookie.Name = "gatehouse_session"
	if a.cfg.BaseURL.Scheme == "https" {
		sm.Cookie.Name = "__Host-gatehouse_session"
		sm.Cookie.Secure = true
	}
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = 2 // http.SameSiteLaxMode
	sm.Cookie.Path = "/"
	return sm
}

// sender is SMTP when SMTP_URL is set, else the dev outbox.
func (a *app) sender() (mail.Sender, error) {
	if a.cfg.SMTPURL == "" {
		return &mail.Outbox{DB: a.db.Bun, Log: a.log}, nil
	}
	s, err := mail.NewSMTP(a.cfg.SMTPURL, a.cfg.MailFrom)
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	return s, nil
}

func (a *app) handler() (*handlers.Handler, error) {
	mailer, err := models.NewMailer(a.db.SQL)
	if err != nil {
		return nil, err
	}
	secret, err := a.cfg.secretKey()
	if err != nil {
		return nil, fmt.Errorf("GATEHOUSE_SECRET_KEY: %w", err)
	}
	keys, err := models.NewKeyring(secret)
	if err != nil {
		return nil, fmt.Errorf("GATEHOUSE_SECRET_KEY: %w", err)
	}
	resolver, err := a.cfg.resolver()
	if err != nil {
		return nil, err
	}
	h := &handlers.Handler{DB: a.db, Sessions: a.sessions(), Mailer: mailer, Log: a.log, Fetcher: fetch.New(a.cfg.AllowPrivateMetadata),
		Resolver: resolver, Secrets: keys, ACSConfig: models.NewProviderCache(a.db.Bun), Config: handlers.Config{BaseURL: a.cfg.BaseURL, DevMail: a.cfg.SMTPURL == "",
			RequestTimeout: a.cfg.RequestTimeout, TrustedProxies: a.cfg.TrustedProxies}}
	callback := a.cfg.BaseURL.String() + handlers.OAuthCallbackPath
	if a.cfg.GoogleClientID != "" {
		h.Google = &oauth.Google{ClientID: a.cfg.GoogleClientID, ClientSecret: a.cfg.GoogleClientSecret, RedirectURL: callback, Issuer: a.cfg.GoogleIssuer}
	}
	if a.cfg.GitHubClientID != "" {
		h.GitHub = &oauth.GitHub{ClientID: a.cfg.GitHubClientID, ClientSecret: a.cfg.GitHubClientSecret, RedirectURL: callback,
			BaseURL: a.cfg.GitHubURL, APIURL: a.cfg.GitHubAPIURL}
	}
	return h, nil
}

// resolver is the DNS resolver of verified-domain lookups (GATEHOUSE_DNS_RESOLVER).
func (c *config) resolver() (*dnscheck.Resolver, error) {
	r, err := dnscheck.New(c.DNSResolver)
	if err != nil {
		return nil, fmt.Errorf("GATEHOUSE_DNS_RESOLVER: %w", err)
	}
	return r, nil
}
