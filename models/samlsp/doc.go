// Package samlsp is Gatehouse's SAML 2.0 service provider logic, with no database and
// no HTTP: it parses IdP metadata, builds AuthnRequests and SP metadata, and validates
// responses and logout requests under the strict policy of SECURITY.md. It is fed bytes
// and a clock and returns values or errors; callers decide what to store.
//
// Responses are validated by the single-parse path (verified.go: pre-scan that builds
// the one tree, signatures verified on it with cached certificates, fields read from
// it, one post-verification policy). crewjam/saml builds AuthnRequests, SP metadata
// and checks logout requests; its ServiceProvider is built per call from the org's
// settings, and its timing globals (TimeNow, MaxIssueDelay, MaxClockSkew) are set
// once, here. crewjam's own response validation remains only as a test reference
// (reference_test.go, differential_test.go).
package samlsp

import (
	"time"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// Timing limits (SECURITY.md §5). The clock skew and the longest assertion lifetime
// are per-org settings (Settings.ClockSkew, Settings.MaxAssertionLife) within these
// bounds; zero means the default.
const (
	// DefaultClockSkew is Sentry's (python3-saml's) allowance: 5 minutes.
	DefaultClockSkew = 5 * time.Minute
	// MaxClockSkew is the largest skew an org may allow; crewjam's global checks run
	// with it and checkAssertion then applies the org's own.
	MaxClockSkew = 10 * time.Minute
	// DefaultMaxAssertionLife admits ADFS's, Entra's and Keycloak's ordinary token
	// lifetimes (1 to 8 hours). A long-lived assertion is still single use (the replay
	// cache keeps it until it expires) and must answer a request made in the last 10
	// minutes or be posted within MaxIssueAge of its issue, so the lifetime bounds little.
	DefaultMaxAssertionLife = 8 * time.Hour
	MinAssertionLife        = 5 * time.Minute
	MaxAssertionLife        = 24 * time.Hour
	MaxIssueAge             = 10 * time.Minute
)

// Now is the clock of every check, crewjam's and ours. Tests that freeze it (with
// FreezeClock) must not run in parallel.
var Now = time.Now

func init() {
	saml.MaxClockSkew = MaxClockSkew
	saml.MaxIssueDelay = MaxIssueAge
	saml.TimeNow = func() time.Time { return Now() }
}

// FreezeClock sets every clock (ours, crewjam's, goxmldsig's certificate validity) to
// t and returns a function that restores them. For tests.
func FreezeClock(t time.Time) (restore func()) {
	prevNow, prevClock := Now, saml.Clock
	Now = func() time.Time { return t }
	saml.Clock = dsig.NewFakeClockAt(t)
	return func() { Now, saml.Clock = prevNow, prevClock }
}

// SAML namespaces, matched by URI, never by prefix.
const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
	nsMetadata  = "urn:oasis:names:tc:SAML:2.0:metadata"
)
