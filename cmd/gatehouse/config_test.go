package main

import (
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error must name; "" for success
		check   func(t *testing.T, c *config)
	}{
		{name: "defaults", env: nil, check: func(t *testing.T, c *config) {
			if c.BaseURL.String() != "http://localhost:8000" || c.DataDir != ".data" || c.Addr != "localhost:8000" {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "base URL trailing slash trimmed", env: map[string]string{"GATEHOUSE_BASE_URL": "https://sso.example.com/"}, check: func(t *testing.T, c *config) {
			if c.BaseURL.String() != "https://sso.example.com" {
				t.Fatalf("%s", c.BaseURL)
			}
		}},
		{name: "relative base URL", env: map[string]string{"GATEHOUSE_BASE_URL": "sso.example.com"}, wantErr: "GATEHOUSE_BASE_URL"},
		{name: "base URL with query", env: map[string]string{"GATEHOUSE_BASE_URL": "https://x.example?a=1"}, wantErr: "GATEHOUSE_BASE_URL"},
		{name: "bad addr", env: map[string]string{"GATEHOUSE_ADDR": "8000"}, wantErr: "GATEHOUSE_ADDR"},
		{name: "bad database URL", env: map[string]string{"DATABASE_URL": "mysql://x"}, wantErr: "DATABASE_URL"},
		{name: "several database hosts", env: map[string]string{"DATABASE_URL": "postgres://gh@127.0.0.1:5433,127.0.0.1:5434/gatehouse?target_session_attrs=read-write"}, check: func(t *testing.T, c *config) {
			if !strings.Contains(c.DatabaseURL, ",127.0.0.1:5434") {
				t.Fatalf("%q", c.DatabaseURL)
			}
		}},
		{name: "trusted proxies", env: map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/8, fd00::/8 192.0.2.7"}, check: func(t *testing.T, c *config) {
			if len(c.TrustedProxies) != 3 || c.TrustedProxies[2].String() != "192.0.2.7/32" {
				t.Fatalf("%v", c.TrustedProxies)
			}
		}},
		{name: "bad trusted proxy", env: map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/33"}, wantErr: "GATEHOUSE_TRUSTED_PROXIES"},
		{name: "shutdown bounded by default", env: nil, check: func(t *testing.T, c *config) {
			if c.ShutdownTimeout != 25*time.Second || c.RequestTimeout != 20*time.Second {
				t.Fatalf("shutdown %s, request %s", c.ShutdownTimeout, c.RequestTimeout)
			}
		}},
		{name: "bad shutdown timeout", env: map[string]string{"GATEHOUSE_SHUTDOWN_TIMEOUT": "soon"}, wantErr: "GATEHOUSE_SHUTDOWN_TIMEOUT"},
		{name: "bad SMTP URL", env: map[string]string{"SMTP_URL": "http://mail"}, wantErr: "SMTP_URL"},
		{name: "bad log level", env: map[string]string{"GATEHOUSE_LOG_LEVEL": "loud"}, wantErr: "GATEHOUSE_LOG_LEVEL"},
		{name: "Google id without secret", env: map[string]string{"GATEHOUSE_GOOGLE_CLIENT_ID": "x"}, wantErr: "GATEHOUSE_GOOGLE_CLIENT_SECRET"},
		{name: "bad GitHub URL", env: map[string]string{"GATEHOUSE_GITHUB_URL": "github.com"}, wantErr: "GATEHOUSE_GITHUB_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v does not name %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestRunRejectsBadConfigAndUnknownCommand(t *testing.T) {
	var out, errOut strings.Builder
	err := run([]string{"serve"}, func(k string) string {
		if k == "GATEHOUSE_LOG_LEVEL" {
			return "loud"
		}
		return ""
	}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_LOG_LEVEL") {
		t.Fatalf("bad config: %v", err)
	}
	err = run([]string{"frobnicate"}, func(string) string { return "" }, &out, &errOut)
	if _, ok := err.(*usageError); !ok {
		t.Fatalf("unknown command: %v", err)
	}
}
