package samlsp

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"

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

func (v strictVerifier) VerifySignature(ctx *dsig.ValidationContext, el *etree.Element) error {
	sigs := children(el, nsDSig, "Signature")
	if len(sigs) != 1 {
		return sigErr("%d signatures on %s", len(sigs), el.Tag)
	}
	sig := sigs[0]
	signedInfo := children(sig, nsDSig, "SignedInfo")
	if len(signedInfo) != 1 {
		return sigErr("no SignedInfo")
	}
	si := signedInfo[0]
	methods := children(si, nsDSig, "SignatureMethod")
	if len(methods) != 1 || !signatureMethods[methods[0].SelectAttrValue("Algorithm", "")] {
		return sigErr("signature algorithm is not RSA/ECDSA with SHA-256 or stronger")
	}
	refs := children(si, nsDSig, "Reference")
	id := el.SelectAttrValue("ID", "")
	if len(refs) != 1 || id == "" || refs[0].SelectAttrValue("URI", "") != "#"+id {
		return sigErr("the signature must have exactly one Reference to #%s", id)
	}
	digests := children(refs[0], nsDSig, "DigestMethod")
	if len(digests) != 1 || !digestMethods[digests[0].SelectAttrValue("Algorithm", "")] {
		return sigErr("digest algorithm is not SHA-256 or stronger")
	}
	enveloped, exclusive := false, false
	for _, ts := range children(refs[0], nsDSig, "Transforms") {
		for _, t := range children(ts, nsDSig, "Transform") {
			alg := t.SelectAttrValue("Algorithm", "")
			if !transforms[alg] {
				return sigErr("transform %q is not allowed", alg)
			}
			switch alg {
			case string(dsig.EnvelopedSignatureAltorithmId):
				enveloped = true
			case string(dsig.CanonicalXML10ExclusiveAlgorithmId):
				exclusive = true
			}
		}
	}
	if !enveloped {
		return sigErr("the signature is not enveloped")
	}
	// Without a canonicalization transform goxmldsig digests the element as etree
	// serializes it (its "null" canonicalizer): require exc-c14n, as SECURITY.md says.
	if !exclusive {
		return sigErr("the signature has no exc-c14n transform")
	}
	// SignatureValue is xs:base64Binary, which allows whitespace (Google Workspace wraps
	// and indents it); goxmldsig decodes it with a strict decoder that accepts only
	// CR/LF. The Signature element is removed by the enveloped transform and
	// SignatureValue is outside SignedInfo, so this changes nothing that is signed.
	for _, sv := range children(sig, nsDSig, "SignatureValue") {
		sv.SetText(spaceRe.ReplaceAllString(sv.Text(), ""))
	}
	// A certificate in KeyInfo, when present, must be one of the configured ones.
	hasKeyInfoCert := false
	for _, ki := range children(sig, nsDSig, "KeyInfo") {
		for _, xd := range children(ki, nsDSig, "X509Data") {
			for _, xc := range children(xd, nsDSig, "X509Certificate") {
				der, err := base64.StdEncoding.DecodeString(spaceRe.ReplaceAllString(xc.Text(), ""))
				if err != nil || !v.known(der) {
					return sigErr("the certificate in the response is not the configured one")
				}
				hasKeyInfoCert = true
			}
		}
	}
	if hasKeyInfoCert {
		if _, err := ctx.Validate(el); err != nil {
			return sigErr("%v", err)
		}
		return nil
	}
	// Without a certificate in KeyInfo, goxmldsig would try only the first configured
	// one: try each (IdPs publish several during a rollover).
	var last error
	for _, c := range v.certs {
		one := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{c}})
		one.IdAttribute = ctx.IdAttribute
		one.Clock = ctx.Clock
		if _, err := one.Validate(el); err == nil {
			return nil
		} else {
			last = err
		}
	}
	return sigErr("%v", last)
}

func (v strictVerifier) known(der []byte) bool {
	for _, c := range v.certs {
		if bytes.Equal(c.Raw, der) {
			return true
		}
	}
	return false
}
