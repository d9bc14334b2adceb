package dnscheck_test

import (
	"context"
	"errors"
	"testing"

	"gatehouse/models/dnscheck"
	"gatehouse/models/dnscheck/dnstest"
)

// The resolver asks a real DNS server (in-process, on loopback) and tells a published
// record, a missing one, another value and a broken DNS apart.
func TestCheckAgainstARealDNSServer(t *testing.T) {
	srv := dnstest.New(t)
	r, err := dnscheck.New(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	srv.Publish("acme.test", "tok-1")
	srv.SetTXT(dnscheck.RecordName("other.test"), "v=spf1 -all", "gatehouse-verification=someone-else")
	tests := []struct {
		name, domain, token string
		servfail            bool
		want                dnscheck.Outcome
		wantTemporary       bool
		wantValues          int
	}{
		{name: "published", domain: "acme.test", token: "tok-1", want: dnscheck.Found, wantValues: 1},
		{name: "upper-case domain", domain: "ACME.test", token: "tok-1", want: dnscheck.Found, wantValues: 1},
		{name: "another token", domain: "acme.test", token: "tok-2", want: dnscheck.Missing, wantValues: 1},
		{name: "other values only", domain: "other.test", token: "tok-1", want: dnscheck.Missing, wantValues: 2},
		{name: "no such name", domain: "nothing.test", token: "tok-1", want: dnscheck.Missing},
		{name: "SERVFAIL", domain: "acme.test", token: "tok-1", servfail: true, wantTemporary: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.ServFail(tt.servfail)
			defer srv.ServFail(false)
			got, values, err := r.Check(ctx, tt.domain, tt.token)
			if tt.wantTemporary {
				if !errors.Is(err, dnscheck.ErrTemporary) || got != 0 {
					t.Fatalf("got %v %v, want a temporary error", got, err)
				}
				return
			}
			if err != nil || got != tt.want || len(values) != tt.wantValues {
				t.Fatalf("got %v %q %v, want %v with %d values", got, values, err, tt.want, tt.wantValues)
			}
		})
	}
	if srv.Queries() == 0 {
		t.Fatal("the server answered nothing: the lookups did not go to the configured resolver")
	}
}

// A resolver that does not answer is a temporary error within the timeout, never a
// "missing" verdict.
func TestCheckUnreachableResolverIsTemporary(t *testing.T) {
	r, err := dnscheck.New("127.0.0.1:1") // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := r.Check(context.Background(), "acme.test", "tok")
	if !errors.Is(err, dnscheck.ErrTemporary) || got != 0 {
		t.Fatalf("got %v %v", got, err)
	}
}

func TestNewResolverAddress(t *testing.T) {
	for _, tt := range []struct{ in, want string }{{"", ""}, {"127.0.0.1", "127.0.0.1:53"}, {"10.0.0.1:5353", "10.0.0.1:5353"}, {"::1", "[::1]:53"}} {
		r, err := dnscheck.New(tt.in)
		if err != nil || r.Server() != tt.want {
			t.Errorf("New(%q) = %q, %v; want %q", tt.in, r.Server(), err, tt.want)
		}
	}
	if _, err := dnscheck.New("host:"); err == nil {
		t.Error("New(host:) accepted")
	}
}
