package samlsp_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// TestTimePolicy: the assertion lifetime and the clock skew are the org's settings,
// with defaults that admit ADFS's, Entra's and Keycloak's ordinary token lifetimes and
// Sentry's 5 minutes of skew. Not parallel: it freezes the clock.
func TestTimePolicy(t *testing.T) {
	idp := samltest.New(t, "https://idp.example")
	now := time.Now().UTC().Truncate(time.Second) // the test IdP's certificate is valid from now
	defer samlsp.FreezeClock(now)()
	for _, tc := range []struct {
		name     string
		idpClock time.Duration // the IdP's clock minus ours when it issued the response
		lifetime time.Duration // the IdP's token lifetime (0: crewjam's 10 minutes)
		at       time.Duration // when we validate, after now
		skew     time.Duration // the org's setting (0: default)
		maxLife  time.Duration // the org's setting (0: default)
		ok       bool
		detail   string // part of the refusal's detail
	}{
		{name: "ADFS default TokenLifetime 1 h", lifetime: time.Hour, ok: true},
		{name: "Entra lifetime policy 2 h", lifetime: 2 * time.Hour, ok: true},
		{name: "ADFS TokenLifetime 8 h (the default maximum)", lifetime: 8 * time.Hour, ok: true},
		{name: "Keycloak lifespan 10 h over the default maximum", lifetime: 10 * time.Hour, detail: "exceeds this organization's maximum of 8h0m0s"},
		{name: "10 h allowed by the org", lifetime: 10 * time.Hour, maxLife: 12 * time.Hour, ok: true},
		{name: "2 h over an org maximum of 1 h", lifetime: 2 * time.Hour, maxLife: time.Hour, detail: "maximum of 1h0m0s"},
		{name: "IdP clock 4 min ahead, default skew 5 min", idpClock: 4 * time.Minute, ok: true},
		{name: "IdP clock 4 min ahead, org skew 3 min", idpClock: 4 * time.Minute, skew: 3 * time.Minute, detail: "in the future"},
		{name: "IdP clock 7 min ahead, default skew", idpClock: 7 * time.Minute, detail: "in the future"},
		{name: "IdP clock 7 min ahead, org skew 10 min", idpClock: 7 * time.Minute, skew: 10 * time.Minute, ok: true},
		{name: "posted 4 min after a 5 min assertion expired, default skew", lifetime: 5 * time.Minute, at: 9 * time.Minute, ok: true},
		{name: "posted 4 min after a 5 min assertion expired, org skew 3 min", lifetime: 5 * time.Minute, at: 9 * time.Minute, skew: 3 * time.Minute, detail: "expired"},
		{name: "posted 6 min after a 2 min assertion expired, default skew", lifetime: 2 * time.Minute, at: 8 * time.Minute, detail: "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := settingsFor(idp)
			s.ClockSkew, s.MaxAssertionLife = tc.skew, tc.maxLife
			raw := idp.Response(t, s.SP, alice, samltest.Options{Now: now.Add(tc.idpClock), Lifetime: tc.lifetime})
			restore := samlsp.FreezeClock(now.Add(tc.at))
			a, err := samlsp.ValidateResponse(s, raw, "")
			restore()
			if tc.ok {
				if err != nil || a.NameID != alice.NameID {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ve *samlsp.ValidationError
			if !errors.As(err, &ve) || ve.Reason != samlsp.ReasonConditions || !strings.Contains(ve.Detail, tc.detail) {
				t.Fatalf("got %v, want a conditions refusal containing %q", err, tc.detail)
			}
		})
	}
}

// TestSettingsBounds: out-of-range settings are clamped, zero is the default.
func TestSettingsBounds(t *testing.T) {
	for _, tc := range []struct {
		skew, life         time.Duration
		wantSkew, wantLife time.Duration
	}{
		{0, 0, samlsp.DefaultClockSkew, samlsp.DefaultMaxAssertionLife},
		{time.Hour, 100 * time.Hour, samlsp.MaxClockSkew, samlsp.MaxAssertionLife},
		{time.Minute, time.Second, time.Minute, samlsp.MinAssertionLife},
	} {
		s := samlsp.Settings{ClockSkew: tc.skew, MaxAssertionLife: tc.life}
		if s.Skew() != tc.wantSkew || s.MaxLife() != tc.wantLife {
			t.Errorf("%v/%v: got %v/%v, want %v/%v", tc.skew, tc.life, s.Skew(), s.MaxLife(), tc.wantSkew, tc.wantLife)
		}
	}
	if samlsp.DefaultClockSkew != 5*time.Minute {
		t.Errorf("default skew %v, want Sentry's 5 minutes", samlsp.DefaultClockSkew)
	}
}

// TestACSURLSlashes: an IdP given the ACS URL without its trailing slash (SPEC §3.1
// accepts that path) signs in; any other URL is still refused.
func TestACSURLSlashes(t *testing.T) {
	idp := samltest.New(t, "https://idp.example")
	s := settingsFor(idp)
	slashless := strings.TrimSuffix(s.SP.ACSURL, "/")
	other := samlsp.NewSP("https://gatehouse.example", "acm").ACSURL
	for _, tc := range []struct {
		name, recipient, destination string
		ok                           bool
	}{
		{"as published", s.SP.ACSURL, s.SP.ACSURL, true},
		{"both without the slash", slashless, slashless, true},
		{"Recipient without, Destination with", slashless, s.SP.ACSURL, true},
		{"Recipient with, Destination without", s.SP.ACSURL, slashless, true},
		{"another org's ACS", other, other, false},
		{"another org's ACS without the slash", strings.TrimSuffix(other, "/"), strings.TrimSuffix(other, "/"), false},
		{"two slashes", s.SP.ACSURL + "/", s.SP.ACSURL + "/", false},
		{"http instead of https", strings.Replace(slashless, "https:", "http:", 1), strings.Replace(slashless, "https:", "http:", 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := idp.Response(t, s.SP, alice, samltest.Options{Recipient: tc.recipient, Destination: tc.destination})
			_, err := samlsp.ValidateResponse(s, raw, "")
			if tc.ok != (err == nil) {
				t.Fatalf("ok=%v, err=%v", tc.ok, err)
			}
			var ve *samlsp.ValidationError
			if !tc.ok && (!errors.As(err, &ve) || ve.Reason != samlsp.ReasonConditions) {
				t.Fatalf("refused for %v, want conditions", err)
			}
		})
	}
}

// TestSPMetadataValidity: the SP metadata never says it expired (crewjam writes
// validUntil="0001-01-01T00:00:00Z" when unset, which SimpleSAMLphp and Shibboleth
// refuse); it says how long it may be cached.
func TestSPMetadataValidity(t *testing.T) {
	md, err := samlsp.Metadata(samlsp.NewSP("https://gatehouse.example", "acme"))
	if err != nil {
		t.Fatal(err)
	}
	var ed struct {
		ValidUntil    *string `xml:"validUntil,attr"`
		CacheDuration string  `xml:"cacheDuration,attr"`
		EntityID      string  `xml:"entityID,attr"`
	}
	if err := xml.Unmarshal(md, &ed); err != nil {
		t.Fatal(err)
	}
	if ed.ValidUntil != nil {
		t.Errorf("validUntil=%q published", *ed.ValidUntil)
	}
	if ed.CacheDuration != "PT24H" {
		t.Errorf("cacheDuration=%q, want PT24H", ed.CacheDuration)
	}
	if ed.EntityID != "https://gatehouse.example/saml/metadata/acme/" || !strings.HasPrefix(string(md), "<?xml") {
		t.Errorf("metadata:\n%s", md)
	}
	// Our own metadata parser (the same rules an IdP applies) reads it as current.
	if bytes.Contains(md, []byte("0001-01-01")) {
		t.Errorf("a year-1 date remains:\n%s", md)
	}
}
