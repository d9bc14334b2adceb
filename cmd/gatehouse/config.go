package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"gatehouse/handlers"
	"gatehouse/models"
	"gatehouse/models/dnscheck"
)

// config is read from the environment (SPEC §9). Any invalid value stops startup
// with a message naming the variable.
type config struct {
	BaseURL     *url.URL
	Addr        string
	DatabaseURL string
	DataDir     string
	SMTPURL     string
	MailFrom    string
	// AllowPrivateMetadata lets metadata URLs reach private and loopback addresses
	// (on-premises IdPs, tests). Off by default (SECURITY.md).
	AllowPrivateMetadata bool
	// DNSResolver answers the verified-domain TXT lookups (GATEHOUSE_DNS_RESOLVER,
	// host[:port]); empty uses the system's resolver.
	DNSResolver string
	// SecretKey seals secrets kept in the database (GATEHOUSE_SECRET_KEY, hex); when
	// unset it is generated once and kept in the data directory.
	SecretKey []byte
	// OAuth client credentials (SPEC §6); a provider without them is shown disabled.
	GoogleClientID, GoogleClientSecret, GoogleIssuer            string
	GitHubClientID, GitHubClientSecret, GitHubURL, GitHubAPIURL string
	LogLevel                                                    slog.Level
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client
	// (GATEHOUSE_TRUSTED_PROXIES, CIDRs); none by default.
	TrustedProxies []netip.Prefix
	// RequestTimeout bounds each request (GATEHOUSE_REQUEST_TIMEOUT, default 20s).
	RequestTimeout time.Duration
	// ShutdownTimeout bounds the whole graceful shutdown: HTTP drain, then jobs
	// (GATEHOUSE_SHUTDOWN_TIMEOUT, default 25s: under Kubernetes' 30 s grace period).
	ShutdownTimeout time.Duration
}

type configError struct{ name, msg string }

func (e *configError) Error() string { return e.name + ": " + e.msg }

func loadConfig(getenv func(string) string) (*config, error) {
	c := &config{
		Addr:        orDefault(getenv("GATEHOUSE_ADDR"), "localhost:8000"),
		DatabaseURL: getenv("DATABASE_URL"),
		DataDir:     orDefault(getenv("GATEHOUSE_DATA_DIR"), ".data"),
		SMTPURL:     getenv("SMTP_URL"),
	}
	if !strings.Contains(c.Addr, ":") {
		return nil, &configError{"GATEHOUSE_ADDR", fmt.Sprintf("%q is not host:port (e.g. localhost:8000 or :8000)", c.Addr)}
	}
	rawBase := getenv("GATEHOUSE_BASE_URL")
	if rawBase == "" {
		host := c.Addr
		if strings.HasPrefix(host, ":") {
			host = "localhost" + host
		}
		rawBase = "http://" + host
	}
	u, err := url.Parse(rawBase)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, &configError{"GATEHOUSE_BASE_URL", fmt.Sprintf("%q must be an absolute http(s) URL without query, like https://sso.example.com", rawBase)}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	c.BaseURL = u
	if c.DatabaseURL != "" {
		// pgx's own parser: it takes several hosts (postgres://h1:5432,h2:5432/db?
		// target_session_attrs=read-write), which net/url refuses.
		if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
			return nil, &configError{"DATABASE_URL", "must be a postgres:// URL"}
		}
		if _, err := pgconn.ParseConfig(c.DatabaseURL); err != nil {
			return nil, &configError{"DATABASE_URL", "is not a valid postgres:// URL (several hosts: postgres://h1:5432,h2:5432/db?target_session_attrs=read-write)"}
		}
	}
	proxies, err := models.ParseTrustedProxies(getenv("GATEHOUSE_TRUSTED_PROXIES"))
	if err != nil {
		return nil, &configError{"GATEHOUSE_TRUSTED_PROXIES", err.Error()}
	}
	c.TrustedProxies = proxies
	for _, d := range []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{{"GATEHOUSE_REQUEST_TIMEOUT", &c.RequestTimeout, handlers.DefaultRequestTimeout}, {"GATEHOUSE_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout, 25 * time.Second}} {
		*d.dst = d.def
		if v := getenv(d.name); v != "" {
			dur, err := time.ParseDuration(v)
			if err != nil || dur <= 0 {
				return nil, &configError{d.name, fmt.Sprintf("%q is not a duration like 25s", v)}
			}
			*d.dst = dur
		}
	}
	if c.SMTPURL != "" {
		if su, err := url.Parse(c.SMTPURL); err != nil || (su.Scheme != "smtp" && su.Scheme != "smtps") || su.Host == "" {
			return nil, &configError{"SMTP_URL", "must be smtp://[user:password@]host[:port] or smtps://…"}
		}
	}
	switch strings.ToLower(getenv("GATEHOUSE_ALLOW_PRIVATE_METADATA")) {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		c.AllowPrivateMetadata = true
	default:
		return nil, &configError{"GATEHOUSE_ALLOW_PRIVATE_METADATA", "must be true or false"}
	}
	c.DNSResolver = strings.TrimSpace(getenv("GATEHOUSE_DNS_RESOLVER"))
	if _, err := dnscheck.New(c.DNSResolver); err != nil {
		return nil, &configError{"GATEHOUSE_DNS_RESOLVER", "must be host or host:port of a DNS server (empty: the system's resolver)"}
	}
	if k := getenv("GATEHOUSE_SECRET_KEY"); k != "" {
		b, err := hex.DecodeString(k)
		if err != nil || len(b) < 32 {
			return nil, &configError{"GATEHOUSE_SECRET_KEY", "must be at least 32 bytes, hex-encoded (openssl rand -hex 32)"}
		}
		c.SecretKey = b
	}
	c.GoogleClientID, c.GoogleClientSecret = getenv("GATEHOUSE_GOOGLE_CLIENT_ID"), getenv("GATEHOUSE_GOOGLE_CLIENT_SECRET")
	c.GitHubClientID, c.GitHubClientSecret = getenv("GATEHOUSE_GITHUB_CLIENT_ID"), getenv("GATEHOUSE_GITHUB_CLIENT_SECRET")
	if (c.GoogleClientID == "") != (c.GoogleClientSecret == "") {
		return nil, &configError{"GATEHOUSE_GOOGLE_CLIENT_SECRET", "set both GATEHOUSE_GOOGLE_CLIENT_ID and GATEHOUSE_GOOGLE_CLIENT_SECRET, or neither"}
	}
	if (c.GitHubClientID == "") != (c.GitHubClientSecret == "") {
		return nil, &configError{"GATEHOUSE_GITHUB_CLIENT_SECRET", "set both GATEHOUSE_GITHUB_CLIENT_ID and GATEHOUSE_GITHUB_CLIENT_SECRET, or neither"}
	}
	// The providers' addresses can be pointed elsewhere (GitHub Enterprise, tests).
	c.GoogleIssuer = orDefault(getenv("GATEHOUSE_GOOGLE_ISSUER"), "https://accounts.google.com")
	c.GitHubURL = orDefault(getenv("GATEHOUSE_GITHUB_URL"), "https://github.com")
	c.GitHubAPIURL = orDefault(getenv("GATEHOUSE_GITHUB_API_URL"), "https://api.github.com")
	for name, v := range map[string]string{"GATEHOUSE_GOOGLE_ISSUER": c.GoogleIssuer, "GATEHOUSE_GITHUB_URL": c.GitHubURL, "GATEHOUSE_GITHUB_API_URL": c.GitHubAPIURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, &configError{name, "must be an absolute http(s) URL"}
		}
	}
	c.MailFrom = orDefault(getenv("GATEHOUSE_MAIL_FROM"), "Gatehouse <gatehouse@"+u.Hostname()+">")
	switch strings.ToLower(orDefault(getenv("GATEHOUSE_LOG_LEVEL"), "info")) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return nil, &configError{"GATEHOUSE_LOG_LEVEL", "must be debug, info, warn or error"}
	}
	return c, nil
}

// secretKey returns the configured key, or the one kept in the data directory
// (generated the first time).
func (c *config) secretKey() ([]byte, error) {
	if c.SecretKey != nil {
		return c.SecretKey, nil
	}
	path := filepath.Join(c.DataDir, "secret.key")
	if b, err := os.ReadFile(path); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) < 32 {
			return nil, fmt.Errorf("%s is damaged: restore it or set GATEHOUSE_SECRET_KEY", path)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("keep the secret key: %w", err)
	}
	return k, nil
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
