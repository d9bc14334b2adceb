package main

import (
	"strings"
	"testing"

	"gatehouse/models/dbtest"
	"gatehouse/models/dnscheck/dnstest"
)

// gatehouse domain add|verify|list|remove against a real DNS server on loopback
// (GATEHOUSE_DNS_RESOLVER).
func TestCLIDomain(t *testing.T) {
	_, url := dbtest.NewWithURL(t)
	dns := dnstest.New(t)
	env := map[string]string{"DATABASE_URL": url, "GATEHOUSE_BASE_URL": "https://sso.example.com", "GATEHOUSE_LOG_LEVEL": "error",
		"GATEHOUSE_DNS_RESOLVER": dns.Addr}
	getenv := func(k string) string { return env[k] }
	var out, errOut strings.Builder
	run1 := func(args ...string) (string, error) {
		out.Reset()
		err := run(args, getenv, &out, &errOut)
		return out.String(), err
	}
	runOK := func(args ...string) string {
		t.Helper()
		s, err := run1(args...)
		if err != nil {
			t.Fatalf("gatehouse %s: %v", strings.Join(args, " "), err)
		}
		return s
	}
	runOK("user", "create", "--email", "ada@example.com", "--name", "Ada", "--password", "long enough pw")
	runOK("org", "create", "--slug", "acme", "--name", "Acme", "--owner", "ada@example.com")

	got := runOK("domain", "add", "--org", "acme", "--domain", "Acme.Test")
	i := strings.Index(got, `_gatehouse-verification.acme.test TXT "gatehouse-verification=`)
	if i < 0 {
		t.Fatalf("add prints no record:\n%s", got)
	}
	value := strings.TrimSuffix(strings.Fields(got[i:])[2], `"`)
	value = strings.TrimPrefix(value, `"`)
	if _, err := run1("domain", "verify", "--org", "acme", "--domain", "acme.test"); err == nil || !strings.Contains(err.Error(), "did not find") {
		t.Fatalf("verify before publishing: %v", err)
	}
	dns.SetTXT("_gatehouse-verification.acme.test", value)
	if got := runOK("domain", "verify", "--org", "acme", "--domain", "acme.test"); got != "acme.test\tverified\n" {
		t.Fatalf("verify: %q", got)
	}
	if got := runOK("domain", "list", "--org", "acme"); !strings.HasPrefix(got, "acme.test\tverified\t_gatehouse-verification.acme.test TXT") {
		t.Fatalf("list: %q", got)
	}
	if _, err := run1("domain", "add", "--org", "acme", "--domain", "gmail.com"); err == nil || !strings.Contains(err.Error(), "public email service") {
		t.Fatalf("public domain: %v", err)
	}
	if got := runOK("domain", "remove", "--org", "acme", "--domain", "acme.test"); got != "acme.test\tremoved\n" {
		t.Fatalf("remove: %q", got)
	}
	if got := runOK("domain", "list", "--org", "acme"); got != "" {
		t.Fatalf("list after remove: %q", got)
	}
	for _, args := range [][]string{{"domain"}, {"domain", "add", "--org", "acme"}, {"domain", "frob", "--org", "acme"}, {"domain", "list"}} {
		if _, err := run1(args...); err == nil {
			t.Errorf("gatehouse %s accepted", strings.Join(args, " "))
		}
	}
	env["GATEHOUSE_DNS_RESOLVER"] = "host:"
	if _, err := run1("domain", "list", "--org", "acme"); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_DNS_RESOLVER") {
		t.Fatalf("bad resolver: %v", err)
	}
}
