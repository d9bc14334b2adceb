package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/samlsp/samltest"
)

func TestCLIUserOrgAndSSOConfigure(t *testing.T) {
	db, url := dbtest.NewWithURL(t)
	env := map[string]string{"DATABASE_URL": url, "GATEHOUSE_BASE_URL": "https://sso.example.com", "GATEHOUSE_LOG_LEVEL": "error"}
	getenv := func(k string) string { return env[k] }
	var out, errOut strings.Builder
	runOK := func(args ...string) string {
		t.Helper()
		out.Reset()
		if err := run(args, getenv, &out, &errOut); err != nil {
			t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String()
	}
	runOK("migrate")
	runOK("user", "create", "--email", "ada@example.com", "--name", "Ada", "--password", "long enough pw", "--superuser")
	if err := run([]string{"user", "create", "--email", "bad", "--name", "X", "--password", "long enough pw"}, getenv, &out, &errOut); err == nil {
		t.Fatal("bad email accepted")
	}
	runOK("org", "create", "--slug", "acme", "--name", "Acme", "--owner", "ada@example.com")

	idp := samltest.New(t, "https://idp.example")
	file := filepath.Join(t.TempDir(), "idp.xml")
	if err := os.WriteFile(file, idp.Metadata(), 0o600); err != nil {
		t.Fatal(err)
	}
	got := runOK("sso", "configure", "--org", "acme", "--provider", "okta", "--metadata-file", file,
		"--map", "identifier=NameID,email=mail", "--activate")
	for _, want := range []string{"Okta provider for acme: active", "SP entity ID: https://sso.example.com/saml/metadata/acme/", "Login URL: https://sso.example.com/auth/login/acme/"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	ctx := context.Background()
	org, err := models.OrgBySlug(ctx, db.Bun, "acme")
	if err != nil {
		t.Fatal(err)
	}
	p, err := models.ProviderOf(ctx, db.Bun, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Active() || p.Config.EntityID != idp.EntityID || p.Config.Mapping.Identifier != "NameID" || p.Config.Mapping.Email != "mail" ||
		p.Config.Mapping.FirstName != "firstName" || len(p.Config.Certs) != 1 {
		t.Fatalf("provider %+v", p)
	}
	if p.AllowUnsignedLogout || p.ClockSkewMinutes != 5 || p.MaxAssertionMinutes != 480 {
		t.Fatalf("defaults: unsigned logout %v, skew %d, lifetime %d", p.AllowUnsignedLogout, p.ClockSkewMinutes, p.MaxAssertionMinutes)
	}
	if !strings.Contains(got, "Unsigned IdP logout requests: refused; clock skew 5 min; maximum assertion lifetime 480 min") {
		t.Errorf("output lacks the policy:\n%s", got)
	}
	// Allow unsigned logout requests and a longer lifetime, then turn unsigned off again.
	got = runOK("sso", "configure", "--org", "acme", "--provider", "okta", "--metadata-file", file, "--allow-unsigned-logout=true", "--max-assertion-minutes", "720")
	if p, _ = models.ProviderOf(ctx, db.Bun, org.ID); !p.AllowUnsignedLogout || p.MaxAssertionMinutes != 720 || !strings.Contains(got, "Unsigned IdP logout requests: allowed") {
		t.Fatalf("after --allow-unsigned-logout=true: %v %d\n%s", p.AllowUnsignedLogout, p.MaxAssertionMinutes, got)
	}
	runOK("sso", "configure", "--org", "acme", "--provider", "okta", "--metadata-file", file, "--allow-unsigned-logout=false")
	if p, _ = models.ProviderOf(ctx, db.Bun, org.ID); p.AllowUnsignedLogout || p.MaxAssertionMinutes != 720 {
		t.Fatalf("after --allow-unsigned-logout=false: %v %d", p.AllowUnsignedLogout, p.MaxAssertionMinutes)
	}
	var n int
	if err := db.Bun.NewRaw(`SELECT count(*) FROM audit_events WHERE details->>'setting' = 'allow_unsigned_logout'`).Scan(ctx, &n); err != nil || n != 2 {
		t.Fatalf("unsigned-logout changes audited: %d", n)
	}
	if err := run([]string{"sso", "configure", "--org", "acme", "--provider", "okta", "--metadata-file", file, "--clock-skew-minutes", "60"}, getenv, &out, &errOut); err == nil {
		t.Fatal("a clock skew of 60 minutes accepted")
	}
	if err := run([]string{"sso", "configure", "--org", "acme"}, getenv, &out, &errOut); err == nil {
		t.Fatal("configure without a registration accepted")
	}
}

// Without --map the preset's mapping applies (issue 13 item 7): for the default generic
// SAML2 provider, which has none, the NameID.
func TestCLISSOConfigureWithoutMap(t *testing.T) {
	db, url := dbtest.NewWithURL(t)
	env := map[string]string{"DATABASE_URL": url, "GATEHOUSE_BASE_URL": "https://sso.example.com", "GATEHOUSE_LOG_LEVEL": "error"}
	getenv := func(k string) string { return env[k] }
	var out, errOut strings.Builder
	for _, args := range [][]string{
		{"migrate"},
		{"user", "create", "--email", "ada@example.com", "--name", "Ada", "--password", "long enough pw"},
		{"org", "create", "--slug", "acme", "--name", "Acme", "--owner", "ada@example.com"},
		{"org", "create", "--slug", "okco", "--name", "Okco", "--owner", "ada@example.com"},
	} {
		if err := run(args, getenv, &out, &errOut); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	idp := samltest.New(t, "https://idp.example")
	file := filepath.Join(t.TempDir(), "idp.xml")
	if err := os.WriteFile(file, idp.Metadata(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		slug   string
		args   []string
		wantID string
		wantEM string
	}{
		{"acme", nil, "NameID", "NameID"},
		{"okco", []string{"--provider", "okta"}, "identifier", "email"},
	} {
		args := append([]string{"sso", "configure", "--org", tc.slug, "--metadata-file", file}, tc.args...)
		if err := run(args, getenv, &out, &errOut); err != nil {
			t.Fatalf("%v without --map: %v", args, err)
		}
		ctx := context.Background()
		org, err := models.OrgBySlug(ctx, db.Bun, tc.slug)
		if err != nil {
			t.Fatal(err)
		}
		p, err := models.ProviderOf(ctx, db.Bun, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.Config.Mapping.Identifier != tc.wantID || p.Config.Mapping.Email != tc.wantEM {
			t.Errorf("%s mapping %+v", tc.slug, p.Config.Mapping)
		}
	}
}
