// Package samlsp is Gatehouse's SAML 2.0 service provider logic, with no database and
// no HTTP: it parses IdP metadata, builds AuthnRequests and SP metadata, and validates
// responses and logout requests under the strict policy of SECURITY.md. It is fed bytes
// and a clock and returns values or errors; callers decide what to store.
//
// One crewjam/saml ServiceProvider is built per call from the org's settings; crewjam's
// timing globals (TimeNow, MaxIssueDelay, MaxClockSkew) are set once, here.
package samlsp

import (
	"time"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// Timing limits (SECURITY.md §5).
const (
	ClockSkew        = 3 * time.Minute
	MaxAssertionLife = time.Hour
	MaxIssueAge      = 10 * time.Minute
)

// Now is the clock of every check, crewjam's and ours. Tests that freeze it (with
// FreezeClock) must not run in parallel.
var Now = time.Now

func init() {
	saml.MaxClockSkew = ClockSkew
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
