package samlsp

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

func encodeB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Accepted algorithms: RSA or ECDSA with SHA-256 or stronger (SECURITY.md §3).
var (
	signatureMethods = map[string]bool{
		dsig.RSASHA256SignatureMethod: true, dsig.RSASHA384SignatureMethod: true, dsig.RSASHA512SignatureMethod: true,
		dsig.ECDSASHA256SignatureMethod: true, dsig.ECDSASHA384SignatureMethod: true, dsig.ECDSASHA512SignatureMethod: true,
	}
	digestMethods = map[string]bool{
		"http://www.w3.org/2001/04/xmlenc#sha256":       true,
		"http://www.w3.org/2001/04/xmldsig-more#sha384": true,
		"http://www.w3.org/2001/04/xmlenc#sha512":       true,
	}
	transforms = map[string]bool{
		string(dsig.EnvelopedSignatureAltorithmId):      true,
		string(dsig.CanonicalXML10ExclusiveAlgorithmId): true,
	}
)

// ErrSignature wraps every signature refusal.
var ErrSignature = errors.New("signature rejected")

// strictVerifier is crewjam's SignatureVerifier hook: it applies the signature policy
// before letting goxmldsig verify against the configured certificates only.
type strictVerifier struct {
	certs []*x509.Certificate
}

func sigErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSignature, fmt.Sprintf(format, args...))
}

// children returns el's direct children named {space}local.
func children(el *etree.Element, space, local string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == local && c.NamespaceURI() == space {
			out = append(out, c)
		}
	}
	return out
}

// signedInfoPolicy is what the signature policy read from one ds:Signature.
type signedInfoPolicy struct {
	sig, signedInfo *etree.Element
	method          string // SignatureMethod Algorithm
	digestMethod    string
	digestValue     []byte
	prefixList      string   // InclusiveNamespaces of the exc-c14n transform
	keyInfoCerts    [][]byte // DER of every KeyInfo/X509Data/X509Certificate
}

// signaturePolicy applies the strict signature policy (SECURITY.md, ACS §3) to the one
// enveloped ds:Signature of el, before anything is verified: shape, algorithms, exactly
// one Reference to #ID of el itself, enveloped + exc-c14n transforms only. Both
// validation paths (the single-parse path of verified.go and crewjam's hook below, used
// for logout requests) call it, so there is one policy.
func signaturePolicy(el *etree.Element) (*signedInfoPolicy, error) {
	sigs := children(el, nsDSig, "Signature")
	if len(sigs) != 1 {
		return nil, sigErr("%d signatures on %s", len(sigs), el.Tag)
	}
	sig := sigs[0]
	// goxmldsig's validateShape, here for both paths.
	if len(children(sig, nsDSig, "SignedInfo")) != 1 || len(children(sig, nsDSig, "SignatureValue")) != 1 ||
		len(children(sig, nsDSig, "KeyInfo")) > 1 {
		return nil, sigErr("the Signature element is not shaped SignedInfo, SignatureValue, KeyInfo")
	}
	si := children(sig, nsDSig, "SignedInfo")[0]
	p := &signedInfoPolicy{sig: sig, signedInfo: si}
	methods := children(si, nsDSig, "SignatureMethod")
	if len(methods) != 1 || !signatureMethods[methods[0].SelectAttrValue("Algorithm", "")] {
		return nil, sigErr("signature algorithm is not RSA/ECDSA with SHA-256 or stronger")
	}
	p.method = methods[0].SelectAttrValue("Algorithm", "")
	refs := children(si, nsDSig, "Reference")
	id := idOf(el)
	if len(refs) != 1 || id == "" || refs[0].SelectAttrValue("URI", "") != "#"+id {
		return nil, sigErr("the signature must have exactly one Reference to #%s", id)
	}
	digests := children(refs[0], nsDSig, "DigestMethod")
	if len(digests) != 1 || !digestMethods[digests[0].SelectAttrValue("Algorithm", "")] {
		return nil, sigErr("digest algorithm is not SHA-256 or stronger")
	}
	p.digestMethod = digests[0].SelectAttrValue("Algorithm", "")
	enveloped, exclusive := false, false
	tss := children(refs[0], nsDSig, "Transforms")
	if len(tss) > 1 {
		return nil, sigErr("more than one Transforms element")
	}
	for _, ts := range tss {
		for _, t := range ts.ChildElements() {
			if t.Tag != "Transform" || t.NamespaceURI() != nsDSig {
				return nil, sigErr("unexpected element %s in Transforms", t.Tag)
			}
			alg := t.SelectAttrValue("Algorithm", "")
			if !transforms[alg] {
				return nil, sigErr("transform %q is not allowed", alg)
			}
			switch alg {
			case string(dsig.EnvelopedSignatureAltorithmId):
				if enveloped || exclusive {
					return nil, sigErr("transforms must be enveloped-signature then exc-c14n, once each")
				}
				enveloped = true
			case string(dsig.CanonicalXML10ExclusiveAlgorithmId):
				if exclusive {
					return nil, sigErr("transforms must be enveloped-signature then exc-c14n, once each")
				}
				exclusive = true
				for _, in := range children(t, "http://www.w3.org/2001/10/xml-exc-c14n#", "InclusiveNamespaces") {
					p.prefixList = in.SelectAttrValue("PrefixList", "")
				}
			}
		}
	}
	if !enveloped {
		return nil, sigErr("the signature is not enveloped")
	}
	// Without a canonicalization transform goxmldsig digests the element as etree
	// serializes it (its "null" canonicalizer): require exc-c14n, as SECURITY.md says.
	if !exclusive {
		return nil, sigErr("the signature has no exc-c14n transform")
	}
	c14n := children(si, nsDSig, "CanonicalizationMethod")
	if len(c14n) != 1 || c14n[0].SelectAttrValue("Algorithm", "") != string(dsig.CanonicalXML10ExclusiveAlgorithmId) {
		return nil, sigErr("the SignedInfo canonicalization is not exc-c14n")
	}
	dvs := children(refs[0], nsDSig, "DigestValue")
	if len(dvs) != 1 {
		return nil, sigErr("the Reference has no DigestValue")
	}
	dv, err := base64.StdEncoding.DecodeString(stripSpace(textOf(dvs[0])))
	if err != nil || len(dv) < 32 {
		return nil, sigErr("the DigestValue is not a SHA-256 or stronger digest in base64")
	}
	p.digestValue = dv
	// SignatureValue is xs:base64Binary, which allows whitespace (Google Workspace wraps
	// and indents it); goxmldsig decodes it with a strict decoder that accepts only
	// CR/LF. The Signature element is removed by the enveloped transform and
	// SignatureValue is outside SignedInfo, so this changes nothing that is signed.
	for _, sv := range children(sig, nsDSig, "SignatureValue") {
		sv.SetText(stripSpace(textOf(sv)))
	}
	for _, ki := range children(sig, nsDSig, "KeyInfo") {
		for _, xd := range children(ki, nsDSig, "X509Data") {
			for _, xc := range children(xd, nsDSig, "X509Certificate") {
				der, err := base64.StdEncoding.DecodeString(stripSpace(textOf(xc)))
				if err != nil {
					return nil, sigErr("a KeyInfo certificate is not base64")
				}
				p.keyInfoCerts = append(p.keyInfoCerts, der)
			}
		}
	}
	return p, nil
}

// idOf is the element's unprefixed ID attribute.
func idOf(el *etree.Element) string {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == "ID" {
			return a.Value
		}
	}
	return ""
}

// textOf is the element's character data, every text child concatenated (comments are
// gone from a tree the single-parse path reads, and exc-c14n drops them from what is
// signed: concatenating is what the signature covered, never the part before a comment).
func textOf(el *etree.Element) string {
	var b strings.Builder
	for _, t := range el.Child {
		if cd, ok := t.(*etree.CharData); ok {
			b.WriteString(cd.Data)
		}
	}
	return b.String()
}

// VerifySignature is crewjam's hook (logout requests): the shared policy, then
// goxmldsig against the configured certificates only. A KeyInfo certificate chain is
// allowed when one of its certificates is configured; the one that verifies must be.
func (v strictVerifier) VerifySignature(ctx *dsig.ValidationContext, el *etree.Element) error {
	p, err := signaturePolicy(el)
	if err != nil {
		return err
	}
	candidates := v.certs
	if len(p.keyInfoCerts) > 0 {
		candidates = configuredAmong(v.certs, p.keyInfoCerts)
		if len(candidates) == 0 {
			return sigErr("the certificate in the response is not the configured one")
		}
		// goxmldsig uses KeyInfo's first certificate when there is one: drop KeyInfo so
		// that it tries the configured certificate of our choosing.
		for _, ki := range children(p.sig, nsDSig, "KeyInfo") {
			p.sig.RemoveChild(ki)
		}
	}
	var last error
	for _, c := range candidates {
		one := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{c}})
		one.IdAttribute = ctx.IdAttribute
		// goxmldsig refuses a certificate outside its validity window at its clock,
		// which it reads for nothing else. The certificate is configured (pinned), so
		// its dates are no reason to refuse (see verifyEnveloped, models.CertStage):
		// check it at an instant inside its window.
		one.Clock = dsig.NewFakeClockAt(c.NotBefore)
		if _, err := one.Validate(el); err == nil {
			return nil
		} else {
			last = err
		}
	}
	return sigErr("%v", last)
}

// configuredAmong returns the configured certificates that appear in KeyInfo.
func configuredAmong(configured []*x509.Certificate, keyInfo [][]byte) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range configured {
		for _, der := range keyInfo {
			if bytes.Equal(c.Raw, der) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}
