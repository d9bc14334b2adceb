package samlsp

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
)

// Size limits of the ACS (SECURITY.md §1, §2).
const (
	MaxEncodedResponse = 512 << 10
	MaxDecodedResponse = 384 << 10
)

// Assertion is what Gatehouse uses of a validated assertion.
type Assertion struct {
	ID           string
	Issuer       string
	NameID       string
	NameIDFormat string
	// NameQualifier, SPNameQualifier and SPProvidedID are sent back at logout exactly
	// as the IdP sent them.
	NameQualifier, SPNameQualifier, SPProvidedID string
	SessionIndex                                 string
	IssueInstant                                 time.Time
	NotOnOrAfter                                 time.Time
	InResponseTo                                 string
	// Attributes by Name; FriendlyName aliases are added when they do not clash.
	Attributes map[string][]string
}

// AttributeNames lists the attribute keys, sorted (for error messages).
func (a *Assertion) AttributeNames() []string {
	names := make([]string, 0, len(a.Attributes))
	for k := range a.Attributes {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ValidationError is a refused response: Reason is a short code for the sign-in log,
// Detail the private explanation (never shown to the person signing in).
type ValidationError struct {
	Reason string
	Detail string
}

func (e *ValidationError) Error() string { return e.Reason + ": " + e.Detail }

// Reason codes recorded in the sign-in log.
const (
	ReasonMalformed  = "malformed"
	ReasonSignature  = "signature"
	ReasonInvalid    = "invalid_response"
	ReasonConditions = "conditions"
	ReasonRequest    = "request_mismatch"
	ReasonInternal   = "internal"
)

func refuse(reason, format string, args ...any) error {
	return &ValidationError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// DecodeResponse base64-decodes a SAMLResponse form value within the size limits.
func DecodeResponse(encoded string) ([]byte, error) {
	if len(encoded) > MaxEncodedResponse {
		return nil, refuse(ReasonMalformed, "SAMLResponse larger than %d bytes", MaxEncodedResponse)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(encoded), ""))
	if err != nil {
		return nil, refuse(ReasonMalformed, "SAMLResponse is not base64")
	}
	if len(raw) > MaxDecodedResponse {
		return nil, refuse(ReasonMalformed, "decoded SAMLResponse larger than %d bytes", MaxDecodedResponse)
	}
	return raw, nil
}

// ValidateResponse checks a decoded SAML Response for the org's settings at Now().
// requestID is the AuthnRequest ID the response must answer; "" admits an unsolicited
// (IdP-initiated) response, which must then carry no InResponseTo. It runs the
// single-parse path (verified.go): the pre-scan builds the one tree, signatures are
// verified on it, fields read from it, then one post-verification policy
// (checkVerified). Panics inside the XML libraries are contained and reported as
// malformed. It is ParseResponse then Validate.
func ValidateResponse(s Settings, raw []byte, requestID string) (*Assertion, error) {
	r, err := ParseResponse(raw)
	if err != nil {
		return nil, err
	}
	return r.Validate(s, requestID)
}

// Response is a SAML Response that passed the pre-scan, as its one tree: nothing in it
// is verified until Validate. The ACS reads InResponseTo from it to find the request
// the response answers, then validates the same tree, so a response is parsed once.
type Response struct {
	root *etree.Element
}

// ParseResponse pre-scans raw (limits, shape, no DTD) and builds its tree; a refusal
// is a *ValidationError (ReasonMalformed).
func ParseResponse(raw []byte) (r *Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, refuse(ReasonMalformed, "parser panic: %v", p)
		}
	}()
	root, err := preScanResponse(raw, true)
	if err != nil {
		return nil, refuse(ReasonMalformed, "%v", err)
	}
	return &Response{root: root}, nil
}

// InResponseTo is the request the response says it answers — the Response's
// InResponseTo, else its assertion's bearer confirmation's — read without verifying
// anything: it only selects which stored request to validate against (Validate checks
// it, signed, against that request's ID).
func (r *Response) InResponseTo() string {
	if v := r.root.SelectAttrValue("InResponseTo", ""); v != "" {
		return v
	}
	as := first(children(r.root, nsAssertion, "Assertion"))
	if as == nil {
		return ""
	}
	for _, subj := range children(as, nsAssertion, "Subject") {
		for _, sc := range children(subj, nsAssertion, "SubjectConfirmation") {
			for _, d := range children(sc, nsAssertion, "SubjectConfirmationData") {
				if v := d.SelectAttrValue("InResponseTo", ""); v != "" {
					return v
				}
			}
		}
	}
	return ""
}

// Validate verifies the response and applies the policy for s at Now() (see
// ValidateResponse). Call it once per Response.
func (r *Response) Validate(s Settings, requestID string) (a *Assertion, err error) {
	defer func() {
		if p := recover(); p != nil {
			a, err = nil, refuse(ReasonMalformed, "parser panic: %v", p)
		}
	}()
	now := Now()
	v, err := parseVerified(s, r.root)
	if err != nil {
		return nil, err
	}
	if s.RequireEncrypted && !v.Encrypted {
		return nil, refuse(ReasonInvalid, "the assertion is not encrypted, and this organization requires encrypted assertions")
	}
	return checkVerified(v, s, requestID, now)
}

// checkAssertion is the policy applied to a verified assertion (SECURITY.md §3, §5):
// subject, audience, recipient, bearer confirmation, time window with the org's clock
// skew, and the org's longest lifetime. It does not rely on crewjam's own checks (so
// another verification path can call it): every rule is applied here, at now.
func checkAssertion(as *saml.Assertion, s Settings, requestID string, now time.Time) (*Assertion, error) {
	skew := s.Skew()
	if as.Subject == nil || as.Subject.NameID == nil || strings.TrimSpace(as.Subject.NameID.Value) == "" {
		return nil, refuse(ReasonInvalid, "the assertion has no Subject NameID")
	}
	if as.Conditions == nil {
		return nil, refuse(ReasonInvalid, "the assertion has no Conditions")
	}
	if strings.TrimSpace(as.ID) == "" {
		return nil, refuse(ReasonInvalid, "the assertion has no ID")
	}
	if len(as.Conditions.AudienceRestrictions) == 0 {
		return nil, refuse(ReasonConditions, "no AudienceRestriction")
	}
	for _, ar := range as.Conditions.AudienceRestrictions {
		if ar.Audience.Value != s.SP.EntityID {
			return nil, refuse(ReasonConditions, "audience %q is not %q", ar.Audience.Value, s.SP.EntityID)
		}
	}
	bearer := false
	var confirmedUntil time.Time
	for _, sc := range as.Subject.SubjectConfirmations {
		d := sc.SubjectConfirmationData
		if sc.Method != "urn:oasis:names:tc:SAML:2.0:cm:bearer" || d == nil {
			continue
		}
		if d.Recipient == "" || d.NotOnOrAfter.IsZero() {
			continue
		}
		if !s.SP.IsACSURL(d.Recipient) {
			return nil, refuse(ReasonConditions, "SubjectConfirmation Recipient %q is not %q", d.Recipient, s.SP.ACSURL)
		}
		if requestID == "" && d.InResponseTo != "" {
			return nil, refuse(ReasonRequest, "unsolicited response answers request %q we did not issue", d.InResponseTo)
		}
		if requestID != "" && d.InResponseTo != "" && d.InResponseTo != requestID {
			return nil, refuse(ReasonRequest, "SubjectConfirmation InResponseTo %q is not %q", d.InResponseTo, requestID)
		}
		if !now.Before(d.NotOnOrAfter.Add(skew)) {
			return nil, refuse(ReasonConditions, "SubjectConfirmation expired at %s (allowed clock skew %s)", d.NotOnOrAfter.UTC().Format(time.RFC3339), skew)
		}
		bearer = true
		if d.NotOnOrAfter.After(confirmedUntil) {
			confirmedUntil = d.NotOnOrAfter
		}
	}
	if !bearer {
		return nil, refuse(ReasonInvalid, "no bearer SubjectConfirmation with Recipient and NotOnOrAfter")
	}
	if as.IssueInstant.After(now.Add(skew)) {
		return nil, refuse(ReasonConditions, "IssueInstant %s is in the future (allowed clock skew %s)", as.IssueInstant.UTC().Format(time.RFC3339), skew)
	}
	if nb := as.Conditions.NotBefore; !nb.IsZero() && now.Before(nb.Add(-skew)) {
		return nil, refuse(ReasonConditions, "assertion not yet valid: NotBefore %s (allowed clock skew %s)", nb.UTC().Format(time.RFC3339), skew)
	}
	if na := as.Conditions.NotOnOrAfter; !na.IsZero() && !now.Before(na.Add(skew)) {
		return nil, refuse(ReasonConditions, "assertion expired at %s (allowed clock skew %s)", na.UTC().Format(time.RFC3339), skew)
	}
	end := as.Conditions.NotOnOrAfter
	if end.IsZero() || (!confirmedUntil.IsZero() && confirmedUntil.Before(end)) {
		end = confirmedUntil
	}
	if life := end.Sub(as.IssueInstant); life > s.MaxLife()+skew {
		return nil, refuse(ReasonConditions, "assertion lifetime %s exceeds this organization's maximum of %s (Auth settings: maximum assertion lifetime)", life, s.MaxLife())
	}
	out := &Assertion{
		ID: as.ID, Issuer: as.Issuer.Value, NameID: strings.TrimSpace(as.Subject.NameID.Value),
		NameIDFormat: as.Subject.NameID.Format, NameQualifier: as.Subject.NameID.NameQualifier,
		SPNameQualifier: as.Subject.NameID.SPNameQualifier, SPProvidedID: as.Subject.NameID.SPProvidedID,
		IssueInstant: as.IssueInstant, NotOnOrAfter: end,
		InResponseTo: requestID, Attributes: map[string][]string{},
	}
	for _, st := range as.AuthnStatements {
		if st.SessionIndex != "" {
			out.SessionIndex = st.SessionIndex
			break
		}
	}
	friendly := map[string][]string{}
	for _, st := range as.AttributeStatements {
		for _, attr := range st.Attributes {
			var values []string
			for _, v := range attr.Values {
				values = append(values, strings.TrimSpace(v.Value))
			}
			out.Attributes[attr.Name] = append(out.Attributes[attr.Name], values...)
			if attr.FriendlyName != "" {
				friendly[attr.FriendlyName] = append(friendly[attr.FriendlyName], values...)
			}
		}
	}
	for k, v := range friendly {
		if _, clash := out.Attributes[k]; !clash {
			out.Attributes[k] = v
		}
	}
	return out, nil
}
