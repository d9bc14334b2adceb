package samlsp

// The single-parse validation path.
//
// Design note (SECURITY.md, ACS §2, §3, §8). A SAML response is tokenised once: the
// strict pre-scan (encoding/xml: limits, shape, namespaces) builds the one etree tree
// from the very tokens it checked, and nothing parses the document again. Each
// signature is checked on an element of that tree: the bytes digested are the
// exclusive canonicalisation (goxmldsig's, of a copy of the element with its in-scope
// namespaces) of exactly that element minus its enveloped Signature, and the
// SignedInfo verified with the configured key is the one in that tree. Every value
// Gatehouse uses — Issuer, Subject, Conditions, AuthnStatement, attributes — is then
// read from the very elements that were digested, located by their position (the
// Assertion is the one direct child of the Response, the pre-scan guarantees there is
// no other anywhere; the Signature is a direct child of the element it signs and its
// single Reference names that element's ID), never by an ID lookup or a search.
//
// The signature-wrapping and round-trip attacks that crewjam's xml-roundtrip-validator
// guards against need two views of one document: the verifier digests one element, the
// extractor reads another (XSW), or the verified bytes are serialised and parsed again
// by a second parser that reads them differently (the encoding/xml round-trip bugs,
// comment truncation). Here there is one view: canonicalisation is a function of the
// tree, and extraction reads the same tree, so what was signed is what is read.
// Comments never enter the tree; exc-c14n (the only canonicalisation accepted;
// WithComments is refused) drops them from what is signed anyway, so leaving them out
// changes no digest, and text is read as the concatenation of an element's character
// data, which is what exc-c14n serialises — the value before a comment can never be
// read alone. Directives, entities, processing instructions, non-UTF-8 input,
// undeclared prefixes and duplicate attributes never reach the tree.
//
// An EncryptedAssertion is decrypted (crewjam's xmlenc) and its plaintext is a second
// document by nature: it is pre-scanned (and built) under the same limits, and the
// same rule holds inside it (its signature, if any, is verified on the tree read).
//
// Keys: the org's certificates are parsed once and cached by their DER; a certificate
// in KeyInfo is never trusted, it only selects among configured ones (a chain is
// allowed; the certificate that verifies must be configured).

import (
	"bytes"
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"
)

const nsXMLEnc = "http://www.w3.org/2001/04/xmlenc#"

// verifiedResponse is what the single-parse path read from a Response whose
// signatures verified: the Response's own fields and its one Assertion.
type verifiedResponse struct {
	ID              string
	Destination     string
	InResponseTo    string
	IssueInstant    time.Time
	Issuer          string
	HasIssuer       bool
	Status          string
	Encrypted       bool // the assertion came as an EncryptedAssertion
	Signed          bool // the Response's signature verified
	AssertionSigned bool // the Assertion's own signature verified (checked only when the Response is unsigned)
	Assertion       *saml.Assertion
	// Audiences lists every Audience of each AudienceRestriction (saml.Assertion keeps
	// one per restriction).
	Audiences [][]string
}

var (
	x509Algorithms = map[string]x509.SignatureAlgorithm{
		dsig.RSASHA256SignatureMethod: x509.SHA256WithRSA, dsig.RSASHA384SignatureMethod: x509.SHA384WithRSA,
		dsig.RSASHA512SignatureMethod: x509.SHA512WithRSA, dsig.ECDSASHA256SignatureMethod: x509.ECDSAWithSHA256,
		dsig.ECDSASHA384SignatureMethod: x509.ECDSAWithSHA384, dsig.ECDSASHA512SignatureMethod: x509.ECDSAWithSHA512,
	}
	digestHashes = map[string]crypto.Hash{
		"http://www.w3.org/2001/04/xmlenc#sha256":       crypto.SHA256,
		"http://www.w3.org/2001/04/xmldsig-more#sha384": crypto.SHA384,
		"http://www.w3.org/2001/04/xmlenc#sha512":       crypto.SHA512,
	}
)

// certCache holds parsed IdP certificates by DER, so a login does not re-parse them.
var certCache = struct {
	sync.Mutex
	m map[string]*x509.Certificate
}{m: map[string]*x509.Certificate{}}

const certCacheMax = 4096

// cachedCertificates parses ders, reusing earlier parses.
func cachedCertificates(ders [][]byte) ([]*x509.Certificate, error) {
	out := make([]*x509.Certificate, 0, len(ders))
	certCache.Lock()
	defer certCache.Unlock()
	for _, der := range ders {
		c, ok := certCache.m[string(der)]
		if !ok {
			var err error
			if c, err = x509.ParseCertificate(der); err != nil {
				return nil, fmt.Errorf("stored certificate: %w", err)
			}
			if len(certCache.m) >= certCacheMax {
				clear(certCache.m)
			}
			certCache.m[string(der)] = c
		}
		out = append(out, c)
	}
	return out, nil
}

// verifyEnveloped verifies the enveloped signature of el, if it has one: (false, nil)
// when el is unsigned, (true, nil) when its signature verifies with a configured
// certificate, an error otherwise. el is not changed.
func verifyEnveloped(el *etree.Element, certs []*x509.Certificate) (bool, error) {
	if len(children(el, nsDSig, "Signature")) == 0 {
		return false, nil
	}
	p, err := signaturePolicy(el)
	if err != nil {
		return true, err
	}
	// The SignedInfo, canonicalised with its in-scope namespaces (exc-c14n, no prefix
	// list: as goxmldsig does).
	var si bytes.Buffer
	if err := excC14n(&si, p.signedInfo, "", nil); err != nil {
		return true, sigErr("canonicalization: %v", err)
	}
	signedInfo := si.Bytes()
	sv, err := base64.StdEncoding.DecodeString(textOf(children(p.sig, nsDSig, "SignatureValue")[0]))
	if err != nil {
		return true, sigErr("the SignatureValue is not base64")
	}
	candidates := certs
	if len(p.keyInfoCerts) > 0 {
		candidates = configuredAmong(certs, p.keyInfoCerts)
		if len(candidates) == 0 {
			return true, sigErr("the certificate in the response is not the configured one")
		}
	}
	// A configured certificate's dates are not checked: the key is pinned (compared
	// byte for byte with what the owner registered), so its validity window says
	// nothing about whether this signature is the IdP's. An expired or not yet valid
	// configured certificate is a loud warning (models.CertStage: the Auth page, emails
	// to the owners), never an outage. A KeyInfo certificate that is not configured is
	// never used, whatever its dates.
	last := sigErr("no configured certificate")
	for _, c := range candidates {
		if err := c.CheckSignature(x509Algorithms[p.method], signedInfo, sv); err != nil {
			last = sigErr("the signature does not verify with the configured certificate: %v", err)
			continue
		}
		return true, verifyDigest(el, p)
	}
	return true, last
}

// verifyDigest checks the Reference's digest: el's exclusive canonical form with the
// Reference's InclusiveNamespaces, its Signature left out (enveloped-signature),
// written straight into the hash (c14n.go: goxmldsig's bytes, without its copies). It
// runs after the SignatureValue has verified (W3C XML Signature Best Practices, #1:
// the costly step only once the signature is authenticated), so a response that is
// not signed by a configured key costs one SignedInfo, not the whole document.
func verifyDigest(el *etree.Element, p *signedInfoPolicy) error {
	h := digestHashes[p.digestMethod].New()
	if err := excC14n(h, el, p.prefixList, children(el, nsDSig, "Signature")); err != nil {
		return sigErr("canonicalization: %v", err)
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), p.digestValue) != 1 {
		return sigErr("digest mismatch: the signed element was changed")
	}
	return nil
}

// parseVerified is the single-parse path: one parse of a pre-scanned Response, its
// signatures verified on that tree, the EncryptedAssertion decrypted when there is
// one, and every field read from the verified elements.
func parseVerified(s Settings, root *etree.Element) (*verifiedResponse, error) {
	certs, err := cachedCertificates(s.IdP.Certs)
	if err != nil {
		return nil, refuse(ReasonInternal, "settings: %v", err)
	}
	if len(certs) == 0 {
		return nil, refuse(ReasonInternal, "settings: no IdP certificate")
	}
	if root.Tag != "Response" || root.NamespaceURI() != nsProtocol {
		return nil, refuse(ReasonMalformed, "the root element is not a SAML Response")
	}
	r := &verifiedResponse{
		ID:           idOf(root),
		Destination:  root.SelectAttrValue("Destination", ""),
		InResponseTo: root.SelectAttrValue("InResponseTo", ""),
	}
	if r.IssueInstant, err = relaxedTime(root, "IssueInstant"); err != nil {
		return nil, err
	}
	if r.Signed, err = verifyEnveloped(root, certs); err != nil {
		return nil, refuse(ReasonSignature, "Response: %v", err)
	}
	if iss, err := one(root, nsAssertion, "Issuer"); err != nil {
		return nil, err
	} else if iss != nil {
		r.Issuer, r.HasIssuer = textOf(iss), true
	}
	if st, err := one(root, nsProtocol, "Status"); err != nil {
		return nil, err
	} else if st != nil {
		if code, err := one(st, nsProtocol, "StatusCode"); err != nil {
			return nil, err
		} else if code != nil {
			r.Status = code.SelectAttrValue("Value", "")
		}
	}
	var assertionEl *etree.Element
	for _, c := range root.ChildElements() {
		if c.NamespaceURI() == nsAssertion && (c.Tag == "Assertion" || c.Tag == "EncryptedAssertion") {
			if assertionEl != nil {
				return nil, refuse(ReasonMalformed, "more than one assertion")
			}
			assertionEl = c
		}
	}
	if assertionEl == nil {
		return nil, refuse(ReasonMalformed, "no assertion")
	}
	if assertionEl.Tag == "EncryptedAssertion" {
		r.Encrypted = true
		if assertionEl, err = decryptAssertion(s, assertionEl); err != nil {
			return nil, err
		}
	}
	// A verified Response signature covers the Assertion (its digest is over the whole
	// Response, this Assertion included), so the Assertion's own signature adds
	// nothing and is not checked again — as crewjam does. Without one, the Assertion's
	// signature is required and verified.
	if !r.Signed {
		if r.AssertionSigned, err = verifyEnveloped(assertionEl, certs); err != nil {
			return nil, refuse(ReasonSignature, "Assertion: %v", err)
		}
	}
	if !r.Signed && !r.AssertionSigned {
		return nil, refuse(ReasonSignature, "neither the Response nor the Assertion is signed")
	}
	if r.Assertion, r.Audiences, err = readAssertion(assertionEl); err != nil {
		return nil, err
	}
	return r, nil
}

// decryptAssertion decrypts an EncryptedAssertion with the org's SP key (crewjam's
// xmlenc, as crewjam's ServiceProvider does) and parses the plaintext once, after the
// same pre-scan limits, into a tree rooted at the Assertion.
func decryptAssertion(s Settings, enc *etree.Element) (*etree.Element, error) {
	if s.SPKey == nil {
		return nil, refuse(ReasonInvalid, "the assertion is encrypted and this organization has no SP key")
	}
	data, err := one(enc, nsXMLEnc, "EncryptedData")
	if err != nil || data == nil {
		return nil, refuse(ReasonMalformed, "EncryptedAssertion without one EncryptedData")
	}
	var key any = s.SPKey
	if keyEl := enc.FindElement("./EncryptedKey"); keyEl != nil {
		if key, err = xmlenc.Decrypt(s.SPKey, keyEl); err != nil {
			return nil, refuse(ReasonInvalid, "failed to decrypt the assertion key: %v", err)
		}
	}
	plain, err := xmlenc.Decrypt(key, data)
	if err != nil {
		return nil, refuse(ReasonInvalid, "failed to decrypt EncryptedAssertion: %v", err)
	}
	root, err := preScanAssertion(plain)
	if err != nil {
		return nil, refuse(ReasonMalformed, "decrypted assertion: %v", err)
	}
	return root, nil
}

// preScanAssertion applies the limits to a decrypted assertion (an Assertion root,
// signatures only directly under it, no nested assertion) and returns its tree.
func preScanAssertion(doc []byte) (*etree.Element, error) {
	return scan(doc, true, func(el xml.StartElement, depth int, parent xml.Name) error {
		switch {
		case depth == 1:
			if el.Name.Space != nsAssertion || el.Name.Local != "Assertion" {
				return malformed("the decrypted element is not an Assertion")
			}
		case el.Name.Space == nsAssertion && (el.Name.Local == "Assertion" || el.Name.Local == "EncryptedAssertion"):
			return malformed("an assertion is nested inside %s", parent.Local)
		case el.Name.Space == nsDSig && el.Name.Local == "Signature" && depth != 2:
			return malformed("a signature inside %s", parent.Local)
		}
		return nil
	}, nil)
}

// one returns el's only child {space}local, nil when there is none, and refuses a
// repeated element (encoding/xml would merge or keep the last one; we read none).
func one(el *etree.Element, space, local string) (*etree.Element, error) {
	cs := children(el, space, local)
	switch len(cs) {
	case 0:
		return nil, nil
	case 1:
		return cs[0], nil
	}
	return nil, refuse(ReasonMalformed, "%s has %d %s elements", el.Tag, len(cs), local)
}

// relaxedTime parses a time attribute as crewjam's RelaxedTime does (RFC 3339, with or
// without fraction or zone, rounded to the millisecond); absent is the zero time.
func relaxedTime(el *etree.Element, attr string) (time.Time, error) {
	v := el.SelectAttrValue(attr, "")
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.Round(time.Millisecond), nil
		}
	}
	return time.Time{}, refuse(ReasonMalformed, "%s %s is not a time", el.Tag, attr)
}

// readAssertion reads the fields Gatehouse uses from a verified Assertion element into
// crewjam's struct (what the post-verification policy reads), plus every Audience.
func readAssertion(a *etree.Element) (*saml.Assertion, [][]string, error) {
	out := &saml.Assertion{ID: idOf(a)}
	var err error
	if out.IssueInstant, err = relaxedTime(a, "IssueInstant"); err != nil {
		return nil, nil, err
	}
	if iss, err := one(a, nsAssertion, "Issuer"); err != nil {
		return nil, nil, err
	} else if iss != nil {
		out.Issuer = saml.Issuer{Value: textOf(iss), Format: iss.SelectAttrValue("Format", "")}
	}
	subj, err := one(a, nsAssertion, "Subject")
	if err != nil {
		return nil, nil, err
	}
	if subj != nil {
		out.Subject = &saml.Subject{}
		if n, err := one(subj, nsAssertion, "NameID"); err != nil {
			return nil, nil, err
		} else if n != nil {
			out.Subject.NameID = &saml.NameID{Value: textOf(n), Format: n.SelectAttrValue("Format", ""),
				NameQualifier: n.SelectAttrValue("NameQualifier", ""), SPNameQualifier: n.SelectAttrValue("SPNameQualifier", "")}
		}
		for _, sc := range children(subj, nsAssertion, "SubjectConfirmation") {
			c := saml.SubjectConfirmation{Method: sc.SelectAttrValue("Method", "")}
			d, err := one(sc, nsAssertion, "SubjectConfirmationData")
			if err != nil {
				return nil, nil, err
			}
			if d != nil {
				c.SubjectConfirmationData = &saml.SubjectConfirmationData{
					Recipient: d.SelectAttrValue("Recipient", ""), InResponseTo: d.SelectAttrValue("InResponseTo", ""),
					Address: d.SelectAttrValue("Address", ""),
				}
				if c.SubjectConfirmationData.NotBefore, err = relaxedTime(d, "NotBefore"); err != nil {
					return nil, nil, err
				}
				if c.SubjectConfirmationData.NotOnOrAfter, err = relaxedTime(d, "NotOnOrAfter"); err != nil {
					return nil, nil, err
				}
			}
			out.Subject.SubjectConfirmations = append(out.Subject.SubjectConfirmations, c)
		}
	}
	var audiences [][]string
	cond, err := one(a, nsAssertion, "Conditions")
	if err != nil {
		return nil, nil, err
	}
	if cond != nil {
		out.Conditions = &saml.Conditions{}
		if out.Conditions.NotBefore, err = relaxedTime(cond, "NotBefore"); err != nil {
			return nil, nil, err
		}
		if out.Conditions.NotOnOrAfter, err = relaxedTime(cond, "NotOnOrAfter"); err != nil {
			return nil, nil, err
		}
		for _, ar := range children(cond, nsAssertion, "AudienceRestriction") {
			var list []string
			for _, au := range children(ar, nsAssertion, "Audience") {
				list = append(list, textOf(au))
			}
			audiences = append(audiences, list)
			first := ""
			if len(list) > 0 {
				first = list[0]
			}
			out.Conditions.AudienceRestrictions = append(out.Conditions.AudienceRestrictions,
				saml.AudienceRestriction{Audience: saml.Audience{Value: first}})
		}
	}
	for _, st := range children(a, nsAssertion, "AuthnStatement") {
		as := saml.AuthnStatement{SessionIndex: st.SelectAttrValue("SessionIndex", "")}
		if as.AuthnInstant, err = relaxedTime(st, "AuthnInstant"); err != nil {
			return nil, nil, err
		}
		out.AuthnStatements = append(out.AuthnStatements, as)
	}
	for _, st := range children(a, nsAssertion, "AttributeStatement") {
		var as saml.AttributeStatement
		for _, at := range children(st, nsAssertion, "Attribute") {
			attr := saml.Attribute{Name: at.SelectAttrValue("Name", ""), FriendlyName: at.SelectAttrValue("FriendlyName", ""),
				NameFormat: at.SelectAttrValue("NameFormat", "")}
			vals := children(at, nsAssertion, "AttributeValue")
			attr.Values = make([]saml.AttributeValue, 0, len(vals))
			for _, v := range vals {
				attr.Values = append(attr.Values, saml.AttributeValue{Value: textOf(v)})
			}
			as.Attributes = append(as.Attributes, attr)
		}
		out.AttributeStatements = append(out.AttributeStatements, as)
	}
	return out, audiences, nil
}

// checkVerified is the one post-verification policy of a response read by the
// single-parse path: the Response-level rules crewjam applied (Destination,
// InResponseTo, IssueInstant, Issuer, Status), the assertion rules crewjam applied
// (Issuer, every SubjectConfirmation, Conditions window, audience), then
// checkAssertion (SECURITY.md, ACS §5).
func checkVerified(r *verifiedResponse, s Settings, requestID string, now time.Time) (*Assertion, error) {
	skew := s.Skew()
	if r.Signed || r.Destination != "" {
		if !s.SP.IsACSURL(r.Destination) {
			return nil, refuse(ReasonConditions, "Destination %q is not %q", r.Destination, s.SP.ACSURL)
		}
	}
	if r.InResponseTo != requestID {
		return nil, refuse(ReasonRequest, "Response InResponseTo %q does not match the request ID %q", r.InResponseTo, requestID)
	}
	if r.IssueInstant.Add(MaxIssueAge).Before(now) {
		return nil, refuse(ReasonConditions, "response IssueInstant expired at %s", r.IssueInstant.Add(MaxIssueAge).UTC().Format(time.RFC3339))
	}
	if r.HasIssuer && r.Issuer != s.IdP.EntityID {
		return nil, refuse(ReasonInvalid, "response Issuer %q is not the IdP's entity ID %q", r.Issuer, s.IdP.EntityID)
	}
	if r.Status != saml.StatusSuccess {
		return nil, refuse(ReasonInvalid, "status %q is not Success", r.Status)
	}
	as := r.Assertion
	if as.IssueInstant.Add(MaxIssueAge).Before(now) {
		return nil, refuse(ReasonConditions, "assertion expired: IssueInstant %s", as.IssueInstant.UTC().Format(time.RFC3339))
	}
	if as.Issuer.Value != s.IdP.EntityID {
		return nil, refuse(ReasonInvalid, "assertion issuer %q is not %q", as.Issuer.Value, s.IdP.EntityID)
	}
	if as.Subject == nil {
		return nil, refuse(ReasonInvalid, "the assertion has no Subject")
	}
	for _, sc := range as.Subject.SubjectConfirmations {
		d := sc.SubjectConfirmationData
		if d == nil {
			return nil, refuse(ReasonInvalid, "a SubjectConfirmation has no SubjectConfirmationData")
		}
		if d.InResponseTo != requestID {
			return nil, refuse(ReasonRequest, "SubjectConfirmation InResponseTo %q does not match the request ID %q", d.InResponseTo, requestID)
		}
		if !s.SP.IsACSURL(d.Recipient) {
			return nil, refuse(ReasonConditions, "SubjectConfirmation Recipient %q is not %q", d.Recipient, s.SP.ACSURL)
		}
		if d.NotOnOrAfter.Add(skew).Before(now) {
			return nil, refuse(ReasonConditions, "SubjectConfirmationData expired at %s", d.NotOnOrAfter.UTC().Format(time.RFC3339))
		}
	}
	if as.Conditions == nil {
		return nil, refuse(ReasonInvalid, "the assertion has no Conditions")
	}
	if as.Conditions.NotBefore.Add(-skew).After(now) {
		return nil, refuse(ReasonConditions, "assertion Conditions not yet valid (NotBefore %s)", as.Conditions.NotBefore.UTC().Format(time.RFC3339))
	}
	if as.Conditions.NotOnOrAfter.Add(skew).Before(now) {
		return nil, refuse(ReasonConditions, "assertion Conditions expired (NotOnOrAfter %s)", as.Conditions.NotOnOrAfter.UTC().Format(time.RFC3339))
	}
	if err := checkAudience(r.Audiences, s.SP.EntityID); err != nil {
		return nil, err
	}
	// crewjam's struct keeps one Audience per restriction: give checkAssertion ours
	// where the restriction lists it (the audiences of one restriction are ORed).
	for i, list := range r.Audiences {
		for _, a := range list {
			if a == s.SP.EntityID {
				as.Conditions.AudienceRestrictions[i].Audience.Value = a
			}
		}
	}
	return checkAssertion(as, s, requestID, now)
}

// checkAudience: an AudienceRestriction must exist and every one must list this org's
// entity ID (SAML core §2.5.1.4: the conditions are ANDed, the audiences of one
// restriction ORed).
func checkAudience(restrictions [][]string, entityID string) error {
	if len(restrictions) == 0 {
		return refuse(ReasonConditions, "audience: no AudienceRestriction")
	}
	for _, list := range restrictions {
		ok := false
		for _, a := range list {
			if a == entityID {
				ok = true
			}
		}
		if !ok {
			return refuse(ReasonConditions, "audience %q is not %q", strings.Join(list, " "), entityID)
		}
	}
	return nil
}
