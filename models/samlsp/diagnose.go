package samlsp

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// Check is one verdict of Test Configuration (SPEC §3.8).
type Check struct {
	Name   string
	OK     bool
	Warn   bool // passed, but something will go wrong later (Hint says what)
	Detail string
	Hint   string // a plain-language fix, for failures and warnings
}

// Diagnosis is what Test Configuration shows. The received values are read from the
// document as sent, for display only: they are never used to sign anybody in.
type Diagnosis struct {
	Issuer       string
	NameID       string
	NameIDFormat string
	Attributes   []ReceivedAttribute
	Checks       []Check
	Identity     *Identity
	MapError     string
	Valid        bool // the full validation passed
}

// Works reports whether a real sign-in with this response would succeed: the
// response is valid and the attribute mapping yields an identity.
func (d *Diagnosis) Works() bool { return d.Valid && d.Identity != nil }

// ReceivedAttribute is an attribute as the IdP sent it.
type ReceivedAttribute struct {
	Name   string
	Values []string
}

// received holds the unverified values Diagnose compares.
type received struct {
	issuer, nameID, format        string
	audiences                     []string
	recipient, destination, inRTo string
	notBefore, notOnOrAfter       time.Time
	keyInfoCert                   []byte
	sigMethods, digestMethods     []string // of every signature, as sent
	attrs                         []ReceivedAttribute
}

// Diagnose runs every check on a response and explains each failure; it also runs
// the real validation (ValidateResponse) and the mapping, whose verdict is final.
func Diagnose(s Settings, raw []byte, requestID string, m Mapping) *Diagnosis {
	d := &Diagnosis{}
	if err := PreScanResponse(raw); err != nil {
		d.Checks = append(d.Checks, Check{Name: "Well-formed SAML Response", Detail: err.Error(),
			Hint: "The IdP did not send a single signed SAML Response with one assertion. Check that the application is a SAML 2.0 app posting to the ACS URL."})
		return d
	}
	d.Checks = append(d.Checks, Check{Name: "Well-formed SAML Response", OK: true})
	r := readReceived(raw)
	d.Issuer, d.NameID, d.NameIDFormat, d.Attributes = r.issuer, r.nameID, r.format, r.attrs
	now := Now()

	d.Checks = append(d.Checks, Check{Name: "Issuer", OK: r.issuer == s.IdP.EntityID,
		Detail: fmt.Sprintf("received %q, configured %q", r.issuer, s.IdP.EntityID),
		Hint:   "The IdP entity ID (issuer) differs from the registered one: re-register the IdP from its current metadata."})

	a, verr := ValidateResponse(s, raw, requestID)
	var ve *ValidationError
	errors.As(verr, &ve)
	sigCheck := Check{Name: "Signature", OK: ve == nil || ve.Reason != ReasonSignature}
	certs, _ := s.IdP.Certificates()
	weak := weakAlgorithm(r)
	switch {
	case weak != "" && !sigCheck.OK:
		sigCheck.Detail = "signed with " + weak + ", which is refused: SHA-1 signatures can be forged"
		sigCheck.Hint = "The certificate is not the problem: the IdP signs with SHA-1. Set it to SHA-256: " + SHA256Howto
	case r.keyInfoCert != nil && !containsCert(certs, r.keyInfoCert):
		sigCheck.OK = false
		sigCheck.Detail = "signed with a certificate that is not registered"
		sigCheck.Hint = fmt.Sprintf("The certificate in the response is not the configured one: fingerprint %s vs %s. Download the IdP's current signing certificate (or re-register by metadata URL).",
			Fingerprint(r.keyInfoCert), configuredFingerprints(certs))
	case !sigCheck.OK:
		sigCheck.Detail = ve.Detail
		sigCheck.Hint = "The signature does not verify with the registered certificates. Make sure the IdP signs the assertion or the response with RSA-SHA256 and that the registered certificate is its current one."
	case r.keyInfoCert != nil:
		sigCheck.Detail = "verified with certificate " + Fingerprint(r.keyInfoCert)
	default:
		sigCheck.Detail = "verified with a registered certificate"
	}
	d.Checks = append(d.Checks, sigCheck)
	if sigCheck.OK {
		if c, ok := certValidityCheck(certs, r.keyInfoCert, now); ok {
			d.Checks = append(d.Checks, c)
		}
	}

	audOK := len(r.audiences) > 0
	for _, a := range r.audiences {
		audOK = audOK && a == s.SP.EntityID
	}
	d.Checks = append(d.Checks, Check{Name: "Audience", OK: audOK,
		Detail: fmt.Sprintf("received %s, expected %q", quoteAll(r.audiences), s.SP.EntityID),
		Hint:   fmt.Sprintf("Set the application's Entity ID / Audience URI in the IdP to %s (with the trailing slash).", s.SP.EntityID)})
	d.Checks = append(d.Checks, Check{Name: "Recipient", OK: s.SP.IsACSURL(r.recipient),
		Detail: fmt.Sprintf("received %q, expected %q", r.recipient, s.SP.ACSURL),
		Hint:   fmt.Sprintf("Set the ACS URL (Reply URL) in the IdP to %s.", s.SP.ACSURL)})
	d.Checks = append(d.Checks, Check{Name: "Destination", OK: r.destination == "" || s.SP.IsACSURL(r.destination),
		Detail: fmt.Sprintf("received %q", r.destination),
		Hint:   fmt.Sprintf("Set the ACS URL (Reply URL) in the IdP to %s.", s.SP.ACSURL)})
	skew := s.Skew()
	timeOK := !r.notOnOrAfter.IsZero() && now.Before(r.notOnOrAfter.Add(skew)) && (r.notBefore.IsZero() || !now.Before(r.notBefore.Add(-skew)))
	d.Checks = append(d.Checks, Check{Name: "Time window", OK: timeOK,
		Detail: fmt.Sprintf("valid %s to %s; our clock %s; allowed skew %s", fmtT(r.notBefore), fmtT(r.notOnOrAfter), fmtT(now), skew),
		Hint:   "The assertion is outside its validity window here: check the clocks of the IdP and of this server (NTP)."})
	d.Checks = append(d.Checks, Check{Name: "InResponseTo", OK: r.inRTo == requestID,
		Detail: fmt.Sprintf("received %q, expected %q", r.inRTo, requestID),
		Hint:   "The response does not answer this test's request: start the test again from the Auth page."})

	final := Check{Name: "Complete validation", OK: verr == nil}
	if verr != nil {
		final.Detail = verr.Error()
		final.Hint = "See the failed checks above."
	}
	d.Checks = append(d.Checks, final)
	d.Valid = verr == nil
	if !d.Valid {
		return d
	}
	// The mapped identity comes from the verified assertion only.
	mapping := Check{Name: "Attribute mapping", OK: true}
	id, err := MapIdentity(a, m)
	if err != nil {
		d.MapError = err.Error()
		mapping.OK = false
		var me *MapError
		if errors.As(err, &me) && len(me.Missing) > 0 {
			mapping.Detail = "no value for " + strings.Join(me.Missing, " and ") + "; the IdP sent " + keyList(a)
		} else {
			mapping.Detail = err.Error()
		}
		mapping.Hint = err.Error()
	} else {
		d.Identity = &id
		mapping.Detail = fmt.Sprintf("%s %q, %s %q", LabelIdentifier, id.ID, LabelEmail, id.Email)
	}
	d.Checks = append(d.Checks, mapping)
	if a.NameIDFormat == NameIDFormatTransient && (m.Identifier == NameIDKey || (id.ID != "" && id.ID == a.NameID)) {
		d.Checks = append(d.Checks, Check{Name: "NameID format", OK: true, Warn: true,
			Detail: "transient NameID mapped as the " + LabelIdentifier,
			Hint: "A transient NameID changes at every sign-in: each sign-in would be a new person. Make the IdP send a persistent (or emailAddress) NameID, " +
				"or map " + LabelIdentifier + " to a stable attribute."})
	}
	return d
}

// CertExpiryWarning is how long before a configured IdP signing certificate expires
// it is shown as expiring (Auth page, Test Configuration, owners' emails).
const CertExpiryWarning = 30 * 24 * time.Hour

// Certificate expiry stages.
const (
	CertExpiring = "expiring"
	CertExpired  = "expired"
)

// CertStage is where a certificate with this NotAfter stands at now: "" (fine),
// CertExpiring (within CertExpiryWarning) or CertExpired. It is a warning only: a
// configured certificate's dates never refuse a signature (see verifyEnveloped).
func CertStage(notAfter, now time.Time) string {
	switch {
	case !now.Before(notAfter):
		return CertExpired
	case notAfter.Sub(now) <= CertExpiryWarning:
		return CertExpiring
	}
	return ""
}

// certValidityCheck is the warning row for a configured certificate that verified
// (the one in KeyInfo, else every configured one) and is expired, expiring or not yet
// valid; ok is false when there is nothing to warn about.
func certValidityCheck(certs []*x509.Certificate, keyInfo []byte, now time.Time) (Check, bool) {
	used := certs
	if keyInfo != nil {
		used = nil
		for _, c := range certs {
			if bytes.Equal(c.Raw, keyInfo) {
				used = append(used, c)
			}
		}
	}
	const still = "Sign-ins still work (Gatehouse trusts the registered key, not the certificate's dates)"
	hint := "Renew the signing certificate in your identity provider, then update the registration here (or re-register by metadata URL)."
	var details []string
	for _, c := range used {
		fp, day := Fingerprint(c.Raw), c.NotAfter.UTC().Format("2006-01-02")
		switch {
		case now.Before(c.NotBefore):
			details = append(details, fmt.Sprintf("certificate %s is valid only from %s; %s.", fp, c.NotBefore.UTC().Format("2006-01-02"), still))
		case CertStage(c.NotAfter, now) == CertExpired:
			details = append(details, fmt.Sprintf("certificate %s expired on %s; %s, but renew it.", fp, day, still))
		case CertStage(c.NotAfter, now) == CertExpiring:
			details = append(details, fmt.Sprintf("certificate %s expires on %s; sign-ins will keep working after that date, but renew it.", fp, day))
		}
	}
	if len(details) == 0 {
		return Check{}, false
	}
	return Check{Name: "Certificate validity", OK: true, Warn: true, Detail: strings.Join(details, " "), Hint: hint}, true
}

// keyList quotes the attribute keys of a, plus NameID.
func keyList(a *Assertion) string {
	keys := append([]string{NameIDKey}, a.AttributeNames()...)
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = "'" + k + "'"
	}
	return strings.Join(q, ", ")
}

// SHA-1 algorithm identifiers (XML-DSig), refused by the signature policy.
var sha1Algorithms = map[string]string{
	"http://www.w3.org/2000/09/xmldsig#rsa-sha1":        "RSA-SHA1",
	"http://www.w3.org/2000/09/xmldsig#dsa-sha1":        "DSA-SHA1",
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1": "ECDSA-SHA1",
	"http://www.w3.org/2000/09/xmldsig#sha1":            "SHA-1 digest",
}

// SHA256Howto says where each IdP sets SHA-256 (SPEC §3.8 hints).
const SHA256Howto = "Okta: the app's General tab › SAML Settings › Edit › Show Advanced Settings › Signature Algorithm RSA-SHA256 and Digest Algorithm SHA256. " +
	"Microsoft Entra ID: Enterprise applications › the app › Single sign-on › SAML Certificates › Edit › Signing Algorithm SHA-256. " +
	"ADFS: the relying party trust › Properties › Advanced › Secure hash algorithm SHA-256. " +
	"OneLogin: the app's SSO tab › SAML Signature Algorithm SHA-256. " +
	"Auth0: the SAML2 Web App add-on settings \"signatureAlgorithm\": \"rsa-sha256\" and \"digestAlgorithm\": \"sha256\". " +
	"JumpCloud and Google Workspace sign with SHA-256 already. " +
	"Keycloak: the client › Signature and Encryption › Signature algorithm RSA_SHA256. " +
	"SimpleSAMLphp: 'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256'."

// weakAlgorithm names the SHA-1 algorithm the response was signed with ("" if none).
func weakAlgorithm(r received) string {
	var names []string
	for _, alg := range append(append([]string{}, r.sigMethods...), r.digestMethods...) {
		if n, ok := sha1Algorithms[alg]; ok {
			names = append(names, fmt.Sprintf("%s (%s)", n, alg))
		}
	}
	return strings.Join(names, " and ")
}

func fmtT(t time.Time) string {
	if t.IsZero() {
		return "(none)"
	}
	return t.UTC().Format(time.RFC3339)
}

func quoteAll(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func containsCert(certs []*x509.Certificate, der []byte) bool {
	for _, c := range certs {
		if string(c.Raw) == string(der) {
			return true
		}
	}
	return false
}

func configuredFingerprints(certs []*x509.Certificate) string {
	fps := make([]string, len(certs))
	for i, c := range certs {
		fps[i] = Fingerprint(c.Raw)
	}
	return strings.Join(fps, " or ")
}

// readReceived extracts values from the (pre-scanned) document for display.
func readReceived(raw []byte) received {
	var r received
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil || doc.Root() == nil {
		return r
	}
	root := doc.Root()
	r.destination = root.SelectAttrValue("Destination", "")
	r.inRTo = root.SelectAttrValue("InResponseTo", "")
	as := first(children(root, nsAssertion, "Assertion"))
	if as == nil {
		return r
	}
	if iss := first(children(as, nsAssertion, "Issuer")); iss != nil {
		r.issuer = strings.TrimSpace(iss.Text())
	}
	for _, sig := range append(children(root, nsDSig, "Signature"), children(as, nsDSig, "Signature")...) {
		for _, si := range children(sig, nsDSig, "SignedInfo") {
			for _, sm := range children(si, nsDSig, "SignatureMethod") {
				r.sigMethods = append(r.sigMethods, sm.SelectAttrValue("Algorithm", ""))
			}
			for _, ref := range children(si, nsDSig, "Reference") {
				for _, dm := range children(ref, nsDSig, "DigestMethod") {
					r.digestMethods = append(r.digestMethods, dm.SelectAttrValue("Algorithm", ""))
				}
			}
		}
	}
	for _, sig := range children(as, nsDSig, "Signature") {
		r.keyInfoCert = keyInfoCert(sig)
	}
	if r.keyInfoCert == nil {
		for _, sig := range children(root, nsDSig, "Signature") {
			r.keyInfoCert = keyInfoCert(sig)
		}
	}
	if subj := first(children(as, nsAssertion, "Subject")); subj != nil {
		if n := first(children(subj, nsAssertion, "NameID")); n != nil {
			r.nameID, r.format = strings.TrimSpace(n.Text()), n.SelectAttrValue("Format", "")
		}
		for _, sc := range children(subj, nsAssertion, "SubjectConfirmation") {
			if d := first(children(sc, nsAssertion, "SubjectConfirmationData")); d != nil && r.recipient == "" {
				r.recipient = d.SelectAttrValue("Recipient", "")
				if r.inRTo == "" {
					r.inRTo = d.SelectAttrValue("InResponseTo", "")
				}
			}
		}
	}
	if c := first(children(as, nsAssertion, "Conditions")); c != nil {
		r.notBefore, _ = time.Parse(time.RFC3339, c.SelectAttrValue("NotBefore", ""))
		r.notOnOrAfter, _ = time.Parse(time.RFC3339, c.SelectAttrValue("NotOnOrAfter", ""))
		for _, ar := range children(c, nsAssertion, "AudienceRestriction") {
			for _, a := range children(ar, nsAssertion, "Audience") {
				r.audiences = append(r.audiences, strings.TrimSpace(a.Text()))
			}
		}
	}
	for _, st := range children(as, nsAssertion, "AttributeStatement") {
		for _, a := range children(st, nsAssertion, "Attribute") {
			ra := ReceivedAttribute{Name: a.SelectAttrValue("Name", "")}
			for _, v := range children(a, nsAssertion, "AttributeValue") {
				ra.Values = append(ra.Values, strings.TrimSpace(v.Text()))
			}
			r.attrs = append(r.attrs, ra)
		}
	}
	sort.Slice(r.attrs, func(i, j int) bool { return r.attrs[i].Name < r.attrs[j].Name })
	return r
}

func first(els []*etree.Element) *etree.Element {
	if len(els) == 0 {
		return nil
	}
	return els[0]
}

func keyInfoCert(sig *etree.Element) []byte {
	for _, ki := range children(sig, nsDSig, "KeyInfo") {
		for _, xd := range children(ki, nsDSig, "X509Data") {
			for _, xc := range children(xd, nsDSig, "X509Certificate") {
				if der, err := base64.StdEncoding.DecodeString(stripSpace(xc.Text())); err == nil {
					return der
				}
			}
		}
	}
	return nil
}
