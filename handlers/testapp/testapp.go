// Package testapp builds the real Gatehouse app on a fresh test database, for handler
// tests (app.Test) and browser tests (a real listener).
package testapp

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/handlers"
	"gatehouse/models"
	"gatehouse/models/database"
	"gatehouse/models/dbtest"
	"gatehouse/models/dnscheck"
	"gatehouse/models/fetch"
	"gatehouse/models/mail"
	"gatehouse/models/oauth"
	"gatehouse/models/sessionstore"
	"gatehouse/views/emails"
)

// App is a running test instance.
type App struct {
	Fiber   *fiber.App
	Handler *handlers.Handler
	DB      *database.DB
	BaseURL string
}

// Options adjust the instance.
type Options struct {
	// Sender delivers email; nil keeps it in the dev outbox (DevMail on).
	Sender mail.Sender
	// BaseURL defaults to http://gatehouse.test.
	BaseURL string
	// Jobs starts River workers (email delivery).
	Jobs bool
	// DB is the database to use instead of a fresh one on the shared test server
	// (fault tests bring a server of their own, dbtest.Private).
	DB *database.DB
	// RequestTimeout bounds each request (the app's default when zero).
	RequestTimeout time.Duration
	// TrustedProxies are believed in X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// Google and GitHub enable those providers (their RedirectURL is set here).
	Google *oauth.Google
	GitHub *oauth.GitHub
	// DNSResolver is the DNS server of domain verification (host:port, e.g. a
	// dnstest.Server's Addr); empty uses the system's resolver.
	DNSResolver string
}

// New builds the app on a fresh database.
func New(t testing.TB, opts Options) *App {
	t.Helper()
	tdb := opts.DB
	if tdb == nil {
		tdb = dbtest.New(t)
	}
	base := opts.BaseURL
	if base == "" {
		base = "http://gatehouse.test"
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	sm := sessionstore.Manager(tdb.Bun)
	sm.Lifetime = 24 * time.Hour
	sm.Cookie.Name = "gatehouse_session"
	mailer, err := models.NewMailer(tdb.SQL)
	if err != nil {
		t.Fatal(err)
	}
	var logOut io.Writer = io.Discard
	if os.Getenv("GATEHOUSE_TEST_LOG") != "" { // debug a test with the server's log
		logOut = os.Stderr
	}
	log := slog.New(slog.NewJSONHandler(logOut, nil))
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	keys, err := models.NewKeyring(secret)
	if err != nil {
		t.Fatal(err)
	}
	resolver, err := dnscheck.New(opts.DNSResolver)
	if err != nil {
		t.Fatal(err)
	}
	h := &handlers.Handler{DB: tdb, Sessions: sm, Mailer: mailer, Log: log, Fetcher: fetch.New(true), Secrets: keys, ACSConfig: models.NewProviderCache(tdb.Bun), Resolver: resolver,
		Config: handlers.Config{BaseURL: u, DevMail: opts.Sender == nil, RequestTimeout: opts.RequestTimeout, TrustedProxies: opts.TrustedProxies}}
	if opts.Google != nil {
		opts.Google.RedirectURL = base + handlers.OAuthCallbackPath
		h.Google = opts.Google
	}
	if opts.GitHub != nil {
		opts.GitHub.RedirectURL = base + handlers.OAuthCallbackPath
		h.GitHub = opts.GitHub
	}
	a := &App{Fiber: handlers.NewApp(h), Handler: h, DB: tdb, BaseURL: base}
	if opts.Jobs {
		sender := opts.Sender
		if sender == nil {
			sender = &mail.Outbox{DB: tdb.Bun}
		}
		jobs, err := models.NewJobs(tdb.Pool, tdb.Bun, emails.Renderer{BaseURL: base}.Render, sender, fetch.New(true), resolver)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		if err := jobs.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stopCtx, c2 := context.WithTimeout(context.Background(), 10*time.Second)
			defer c2()
			_ = jobs.Stop(stopCtx)
			cancel()
		})
	}
	return a
}

// Serve builds the app and serves it on a loopback port; BaseURL is that address.
func Serve(t testing.TB, opts Options) *App {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.BaseURL = "http://" + ln.Addr().String()
	a := New(t, opts)
	go func() { _ = a.Fiber.Listener(ln) }()
	t.Cleanup(func() { _ = a.Fiber.ShutdownWithTimeout(5 * time.Second) })
	return a
}
