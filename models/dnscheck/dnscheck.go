// Package dnscheck looks up the TXT record that proves an organization owns a domain
// (SPEC "Verified domains"): `_gatehouse-verification.<domain> TXT
// "gatehouse-verification=<token>"`. It has no database and no HTTP; lookups go
// through a configurable resolver (GATEHOUSE_DNS_RESOLVER) or the system's, with
// timeouts.
package dnscheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// RecordPrefix is the label the TXT record is published under.
const RecordPrefix = "_gatehouse-verification."

// ValuePrefix starts the TXT record's value.
const ValuePrefix = "gatehouse-verification="

// RecordName is where the proof for domain is published.
func RecordName(domain string) string { return RecordPrefix + domain }

// RecordValue is the TXT value that proves token.
func RecordValue(token string) string { return ValuePrefix + token }

// Timeouts of one lookup: the whole lookup (retries included) and one connection.
const (
	LookupTimeout = 5 * time.Second
	DialTimeout   = 2 * time.Second
)

// Resolver answers TXT lookups.
type Resolver struct {
	server string // host:port; empty = the system's resolver
	r      *net.Resolver
}

// New returns a resolver that asks server ("host" or "host:port", port 53 by
// default); an empty server uses the system's configuration.
func New(server string) (*Resolver, error) {
	server = strings.TrimSpace(server)
	if server == "" {
		return &Resolver{r: &net.Resolver{}}, nil
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(strings.Trim(server, "[]"), "53")
	}
	host, port, err := net.SplitHostPort(server)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("DNS resolver %q: want host or host:port", server)
	}
	d := net.Dialer{Timeout: DialTimeout}
	return &Resolver{server: server, r: &net.Resolver{
		PreferGo: true,
		// Every query goes to the configured server, whatever resolv.conf says.
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, server)
		},
	}}, nil
}

// Server is the configured server ("" for the system's resolver).
func (r *Resolver) Server() string { return r.server }

// Outcome is what a lookup found.
type Outcome int

// Outcomes.
const (
	// Found: the record with the token is published.
	Found Outcome = iota + 1
	// Missing: the DNS answered and the record with the token is not there (no such
	// name, no TXT record, or other values only).
	Missing
)

// ErrTemporary wraps a lookup that got no answer (timeout, SERVFAIL, network): it
// says nothing about the record, so nothing is concluded from it.
var ErrTemporary = errors.New("the DNS lookup did not get an answer")

// Check looks up the proof of token for domain. It returns Found or Missing, with
// the values seen (for the owner: "we found …"), or an error wrapping ErrTemporary.
func (r *Resolver) Check(ctx context.Context, domain, token string) (Outcome, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, LookupTimeout)
	defer cancel()
	// The trailing dot makes the name absolute: no search domains are tried.
	values, err := r.r.LookupTXT(ctx, RecordName(domain)+".")
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return Missing, nil, nil
		}
		return 0, nil, fmt.Errorf("%w: %s", ErrTemporary, lookupError(err))
	}
	want := RecordValue(token)
	for _, v := range values {
		if strings.TrimSpace(v) == want {
			return Found, values, nil
		}
	}
	return Missing, values, nil
}

// lookupError is a lookup failure without internal detail beyond the DNS's words.
func lookupError(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsTimeout {
			return "timed out"
		}
		return de.Err
	}
	return "failed"
}
