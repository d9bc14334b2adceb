package samlsp

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// LogoutRequest is a validated IdP-initiated logout request (SPEC §3.6).
type LogoutRequest struct {
	ID           string
	NameID       string
	SessionIndex string
	Signed       bool
}

// maxInflated bounds a deflated Redirect-binding message.
const maxInflated = 256 << 10

var redirectSigAlgs = map[string]crypto.Hash{
	dsig.RSASHA256SignatureMethod: crypto.SHA256, dsig.RSASHA384SignatureMethod: crypto.SHA384, dsig.RSASHA512SignatureMethod: crypto.SHA512,
	dsig.ECDSASHA256SignatureMethod: crypto.SHA256, dsig.ECDSASHA384SignatureMethod: crypto.SHA384, dsig.ECDSASHA512SignatureMethod: crypto.SHA512,
}

// rawParam returns the value of name in a raw query exactly as sent (still encoded).
func rawParam(rawQuery, name string) (string, bool) {
	for _, part := range strings.Split(rawQuery, "&") {
		if k, v, ok := strings.Cut(part, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// ParseLogoutRequestRedirect validates a LogoutRequest sent with the HTTP-Redirect
// binding. The signature covers the query octets as received:
// SAMLRequest=…&RelayState=…&SigAlg=… (SAML Bindings §3.4.4.1).
func ParseLogoutRequestRedirect(s Settings, rawQuery string, allowUnsigned bool) (req *LogoutRequest, err error) {
	defer func() {
		if r := recover(); r != nil {
			req, err = nil, refuse(ReasonMalformed, "parser panic: %v", r)
		}
	}()
	encReq, ok := rawParam(rawQuery, "SAMLRequest")
	if !ok {
		return nil, refuse(ReasonMalformed, "no SAMLRequest")
	}
	value, err := url.QueryUnescape(encReq)
	if err != nil {
		return nil, refuse(ReasonMalformed, "SAMLRequest is not URL-encoded")
	}
	compressed, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return nil, refuse(ReasonMalformed, "SAMLRequest is not base64")
	}
	doc, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(compressed)), maxInflated+1))
	if err != nil || len(doc) > maxInflated {
		return nil, refuse(ReasonMalformed, "SAMLRequest does not inflate")
	}
	signed := false
	if encSig, ok := rawParam(rawQuery, "Signature"); ok {
		encAlg, _ := rawParam(rawQuery, "SigAlg")
		signedPart := "SAMLRequest=" + encReq
		if rs, ok := rawParam(rawQuery, "RelayState"); ok {
			signedPart += "&RelayState=" + rs
		}
		signedPart += "&SigAlg=" + encAlg
		alg, _ := url.QueryUnescape(encAlg)
		sigB64, _ := url.QueryUnescape(encSig)
		sig, err := base64.StdEncoding.DecodeString(sigB64)
		if err != nil {
			return nil, refuse(ReasonSignature, "Signature is not base64")
		}
		if err := verifyRedirect(s, alg, []byte(signedPart), sig); err != nil {
			return nil, err
		}
		signed = true
	}
	if !signed && !allowUnsigned {
		return nil, refuse(ReasonSignature, "unsigned LogoutRequest")
	}
	return parseLogoutRequest(s, doc, signed)
}

func verifyRedirect(s Settings, alg string, signed, sig []byte) error {
	hash, ok := redirectSigAlgs[alg]
	if !ok {
		return refuse(ReasonSignature, "SigAlg %q is not accepted", alg)
	}
	h := hash.New()
	h.Write(signed)
	digest := h.Sum(nil)
	certs, err := s.IdP.Certificates()
	if err != nil {
		return refuse(ReasonInternal, "%v", err)
	}
	for _, c := range certs {
		switch pub := c.PublicKey.(type) {
		case *rsa.PublicKey:
			if rsa.VerifyPKCS1v15(pub, hash, digest, sig) == nil {
				return nil
			}
		case *ecdsa.PublicKey:
			if ecdsa.VerifyASN1(pub, digest, sig) {
				return nil
			}
		}
	}
	return refuse(ReasonSignature, "the query signature does not verify with the configured certificates")
}

// ParseLogoutRequestPost validates a LogoutRequest sent with the HTTP-POST binding
// (an enveloped XML signature).
func ParseLogoutRequestPost(s Settings, encoded string, allowUnsigned bool) (req *LogoutRequest, err error) {
	defer func() {
		if r := recover(); r != nil {
			req, err = nil, refuse(ReasonMalformed, "parser panic: %v", r)
		}
	}()
	doc, err := DecodeResponse(encoded)
	if err != nil {
		return nil, err
	}
	if err := PreScanLogoutRequest(doc); err != nil {
		return nil, refuse(ReasonMalformed, "%v", err)
	}
	tree := etree.NewDocument()
	if err := tree.ReadFromBytes(doc); err != nil || tree.Root() == nil {
		return nil, refuse(ReasonMalformed, "unreadable LogoutRequest")
	}
	signed := len(children(tree.Root(), nsDSig, "Signature")) > 0
	if signed {
		certs, err := s.IdP.Certificates()
		if err != nil {
			return nil, refuse(ReasonInternal, "%v", err)
		}
		ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: certs})
		ctx.IdAttribute = "ID"
		if saml.Clock != nil {
			ctx.Clock = saml.Clock
		}
		if err := (strictVerifier{certs: certs}).VerifySignature(ctx, tree.Root()); err != nil {
			return nil, refuse(ReasonSignature, "%v", err)
		}
	} else if !allowUnsigned {
		return nil, refuse(ReasonSignature, "unsigned LogoutRequest")
	}
	return parseLogoutRequest(s, doc, signed)
}

func parseLogoutRequest(s Settings, doc []byte, signed bool) (*LogoutRequest, error) {
	if err := PreScanLogoutRequest(doc); err != nil {
		return nil, refuse(ReasonMalformed, "%v", err)
	}
	var lr saml.LogoutRequest
	if err := xml.Unmarshal(doc, &lr); err != nil {
		return nil, refuse(ReasonMalformed, "LogoutRequest: %v", err)
	}
	if lr.Issuer == nil || lr.Issuer.Value != s.IdP.EntityID {
		return nil, refuse(ReasonInvalid, "LogoutRequest Issuer is not the IdP")
	}
	if lr.Destination != "" && lr.Destination != s.SP.SLSURL {
		return nil, refuse(ReasonConditions, "LogoutRequest Destination %q is not %q", lr.Destination, s.SP.SLSURL)
	}
	now := Now()
	if lr.NotOnOrAfter != nil && !lr.NotOnOrAfter.IsZero() && now.After(lr.NotOnOrAfter.Add(s.Skew())) {
		return nil, refuse(ReasonConditions, "LogoutRequest expired")
	}
	if lr.IssueInstant.Add(MaxIssueAge).Before(now) || lr.IssueInstant.After(now.Add(s.Skew())) {
		return nil, refuse(ReasonConditions, "LogoutRequest IssueInstant out of range")
	}
	if lr.NameID == nil || strings.TrimSpace(lr.NameID.Value) == "" || lr.ID == "" {
		return nil, refuse(ReasonInvalid, "LogoutRequest without NameID or ID")
	}
	out := &LogoutRequest{ID: lr.ID, NameID: strings.TrimSpace(lr.NameID.Value), Signed: signed}
	if lr.SessionIndex != nil {
		out.SessionIndex = strings.TrimSpace(lr.SessionIndex.Value)
	}
	return out, nil
}

// LogoutResponse is the LogoutResponse (success) to the IdP's SLO endpoint for
// request requestID, by the binding the IdP published there. With the org's SP key
// it is signed as that binding says: Redirect — SigAlg and Signature query parameters,
// never inside the message; POST (an IdP that publishes only HTTP-POST) — an enveloped
// XML signature in the form's SAMLResponse.
func LogoutResponse(s Settings, requestID, relayState string) (*Outbound, error) {
	if s.IdP.SLOURL == "" {
		return nil, fmt.Errorf("the IdP has no SLO URL")
	}
	resp := saml.LogoutResponse{ID: fmt.Sprintf("id-%x", randomBytes(20)), InResponseTo: requestID, Version: "2.0",
		IssueInstant: Now().UTC(), Destination: s.IdP.SLOURL,
		Issuer: &saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: s.SP.EntityID},
		Status: saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusSuccess}}}
	if s.IdP.SLOBinding == BindingPOST {
		form, err := postForm(s, "SAMLResponse", resp.Element(), relayState)
		if err != nil {
			return nil, err
		}
		return &Outbound{Binding: BindingPOST, URL: s.IdP.SLOURL, Form: form}, nil
	}
	q, err := redirectQuery(s, "SAMLResponse", resp.Element(), relayState)
	if err != nil {
		return nil, err
	}
	return &Outbound{Binding: BindingRedirect, URL: withQuery(s.IdP.SLOURL, q)}, nil
}
