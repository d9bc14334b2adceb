package samlsp

// The reference validators of the differential tests (differential_test.go): the
// crewjam path Gatehouse used before the single-parse path, and russellhaering/gosaml2
// (test-only dependency). Neither is used outside tests.

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/crewjam/saml"
)

// validateCrewjam is crewjam's ParseXMLResponse under the same pre-scan, strict
// signature hook and post-validation policy.
func validateCrewjam(s Settings, raw []byte, requestID string) (a *Assertion, err error) {
	defer func() {
		if r := recover(); r != nil {
			a, err = nil, refuse(ReasonMalformed, "parser panic: %v", r)
		}
	}()
	if err := PreScanResponse(raw); err != nil {
		return nil, refuse(ReasonMalformed, "%v", err)
	}
	sp, _, err := s.serviceProvider()
	if err != nil {
		return nil, refuse(ReasonInternal, "settings: %v", err)
	}
	sp.ValidateAudienceRestriction = func(as *saml.Assertion) error {
		if as.Conditions == nil || len(as.Conditions.AudienceRestrictions) == 0 {
			return errors.New("no AudienceRestriction")
		}
		for _, ar := range as.Conditions.AudienceRestrictions {
			if ar.Audience.Value != s.SP.EntityID {
				return fmt.Errorf("audience %q is not %q", ar.Audience.Value, s.SP.EntityID)
			}
		}
		return nil
	}
	// The ACS URL without its trailing slash is accepted (SPEC §3.1), as the crewjam
	// path did before the single-parse path replaced it.
	acs, _ := url.Parse(s.SP.ACSURL)
	current := acs
	if slashless := strings.TrimSuffix(s.SP.ACSURL, "/"); slashless != s.SP.ACSURL {
		alt, _ := url.Parse(slashless)
		if bytes.Contains(raw, []byte(`Recipient="`+slashless+`"`)) || bytes.Contains(raw, []byte(`Recipient='`+slashless+`'`)) {
			sp.AcsURL, current = *alt, acs
		} else {
			current = alt
		}
	}
	parsed, err := sp.ParseXMLResponse(raw, []string{requestID}, *current)
	if err != nil {
		var ire *saml.InvalidResponseError
		detail := err.Error()
		if errors.As(err, &ire) && ire.PrivateErr != nil {
			detail = ire.PrivateErr.Error()
		}
		return nil, classify(detail)
	}
	return checkAssertion(parsed, s, requestID, Now())
}

// classify turns crewjam's private error text into a reason code.
func classify(detail string) error {
	lower := strings.ToLower(detail)
	switch {
	case strings.Contains(lower, "signature") || strings.Contains(lower, "certificate") || strings.Contains(lower, "digest"):
		return refuse(ReasonSignature, "%s", detail)
	case strings.Contains(lower, "inresponseto") || strings.Contains(lower, "request id"):
		return refuse(ReasonRequest, "%s", detail)
	case strings.Contains(lower, "expired") || strings.Contains(lower, "not yet valid") || strings.Contains(lower, "audience") ||
		strings.Contains(lower, "recipient") || strings.Contains(lower, "destination") || strings.Contains(lower, "issueinstant"):
		return refuse(ReasonConditions, "%s", detail)
	case strings.Contains(lower, "xml"):
		return refuse(ReasonMalformed, "%s", detail)
	}
	return refuse(ReasonInvalid, "%s", detail)
}
