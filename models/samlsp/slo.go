package samlsp

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/url"
	"strings"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// NameRef is how the IdP named the person at sign-in: the NameID exactly as received
// (value, Format and qualifiers as sent, nothing added) and the SessionIndex. The
// session keeps it so that an SP-initiated LogoutRequest names the same IdP session
// (saml-idp answers "Invalid Session Participant" otherwise; ADFS, Shibboleth and
// Okta match on it too).
type NameRef struct {
	Value           string `json:"v"`
	Format          string `json:"f,omitempty"`
	NameQualifier   string `json:"nq,omitempty"`
	SPNameQualifier string `json:"spnq,omitempty"`
	SPProvidedID    string `json:"spid,omitempty"`
	SessionIndex    string `json:"si,omitempty"`
}

// Ref is a's NameRef.
func (a *Assertion) Ref() NameRef {
	return NameRef{Value: a.NameID, Format: a.NameIDFormat, NameQualifier: a.NameQualifier,
		SPNameQualifier: a.SPNameQualifier, SPProvidedID: a.SPProvidedID, SessionIndex: a.SessionIndex}
}

// Encode serializes r for the session store ("" for an empty ref).
func (r NameRef) Encode() string {
	if r.Value == "" {
		return ""
	}
	b, _ := json.Marshal(r)
	return string(b)
}

// DecodeNameRef reads what Encode wrote; a bare string (older sessions) is a NameID.
func DecodeNameRef(s string) NameRef {
	var r NameRef
	if strings.HasPrefix(s, "{") && json.Unmarshal([]byte(s), &r) == nil {
		return r
	}
	return NameRef{Value: s}
}

// Outbound is a message to send the browser to the IdP with: with the Redirect
// binding URL is the whole request; with the POST binding URL is the form's action
// and Form its fields (an auto-submitted form).
type Outbound struct {
	Binding string
	URL     string
	Form    url.Values
}

// SPLogout builds an SP-initiated LogoutRequest for ref to the IdP's SLO endpoint,
// with the binding the IdP published there. With the org's SP key it is signed as
// that binding says: Redirect — SigAlg and Signature query parameters over the
// query octets (SAML Bindings §3.4.4.1); POST — an enveloped XML signature. It
// returns the request's ID, which the IdP's LogoutResponse answers.
func SPLogout(s Settings, ref NameRef, relayState string) (*Outbound, string, error) {
	if s.IdP.SLOURL == "" {
		return nil, "", fmt.Errorf("the IdP has no SLO URL")
	}
	if ref.Value == "" {
		return nil, "", fmt.Errorf("no NameID to log out")
	}
	id := fmt.Sprintf("id-%x", randomBytes(20))
	lr := saml.LogoutRequest{ID: id, Version: "2.0", IssueInstant: Now().UTC(), Destination: s.IdP.SLOURL,
		Issuer: &saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: s.SP.EntityID},
		NameID: &saml.NameID{Value: ref.Value, Format: ref.Format, NameQualifier: ref.NameQualifier,
			SPNameQualifier: ref.SPNameQualifier, SPProvidedID: ref.SPProvidedID}}
	if ref.SessionIndex != "" {
		lr.SessionIndex = &saml.SessionIndex{Value: ref.SessionIndex}
	}
	el := lr.Element()
	if s.IdP.SLOBinding == BindingPOST {
		form, err := postForm(s, "SAMLRequest", el, relayState)
		if err != nil {
			return nil, "", err
		}
		return &Outbound{Binding: BindingPOST, URL: s.IdP.SLOURL, Form: form}, id, nil
	}
	q, err := redirectQuery(s, "SAMLRequest", el, relayState)
	if err != nil {
		return nil, "", err
	}
	return &Outbound{Binding: BindingRedirect, URL: withQuery(s.IdP.SLOURL, q)}, id, nil
}

// postForm is the HTTP-POST binding's form: el, signed (enveloped, RSA-SHA256) with
// the org's SP key when it has one, base64 as param, with RelayState.
func postForm(s Settings, param string, el *etree.Element, relayState string) (url.Values, error) {
	if s.SPKey != nil && s.SP.Cert != nil {
		signed, err := signEnveloped(s, el)
		if err != nil {
			return nil, err
		}
		el = signed
	}
	doc := etree.NewDocument()
	doc.SetRoot(el)
	raw, err := doc.WriteToBytes()
	if err != nil {
		return nil, err
	}
	form := url.Values{param: {base64.StdEncoding.EncodeToString(raw)}}
	if relayState != "" {
		form.Set("RelayState", relayState)
	}
	return form, nil
}

// redirectQuery deflates and encodes el as param, with RelayState, and signs the
// query with the SP key when the org has one (RSA-SHA256).
func redirectQuery(s Settings, param string, el *etree.Element, relayState string) (string, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el)
	raw, err := doc.WriteToBytes()
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	if _, err := w.Write(raw); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	q := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	if s.SPKey == nil || s.SP.Cert == nil {
		return q, nil
	}
	q += "&SigAlg=" + url.QueryEscape(dsig.RSASHA256SignatureMethod)
	sum := sha256.Sum256([]byte(q))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.SPKey, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign the query: %w", err)
	}
	return q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig)), nil
}

func withQuery(base, q string) string {
	if strings.Contains(base, "?") {
		return base + "&" + q
	}
	return base + "?" + q
}

func signEnveloped(s Settings, el *etree.Element) (*etree.Element, error) {
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore{PrivateKey: s.SPKey, Certificate: [][]byte{s.SP.Cert.Raw}})
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, err
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return signed, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// LogoutResult is the IdP's answer to our LogoutRequest.
type LogoutResult struct {
	InResponseTo string
	Success      bool
	Status       string // the status code as sent
	Signed       bool
}

// ParseLogoutResponse reads the IdP's LogoutResponse (Redirect binding: rawQuery;
// POST binding: encoded form value) and verifies it: Issuer is the IdP, Destination
// (when present) our SLS, the signature (when signed) one of the IdP's certificates.
// Unsigned responses are accepted: they can only tell this browser it was signed out.
func ParseLogoutResponse(s Settings, rawQuery, postValue string) (res *LogoutResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, refuse(ReasonMalformed, "parser panic: %v", r)
		}
	}()
	var doc []byte
	signed := false
	if postValue != "" {
		if doc, err = DecodeResponse(postValue); err != nil {
			return nil, err
		}
		tree := etree.NewDocument()
		if err := tree.ReadFromBytes(doc); err != nil || tree.Root() == nil || tree.Root().Tag != "LogoutResponse" {
			return nil, refuse(ReasonMalformed, "unreadable LogoutResponse")
		}
		if len(children(tree.Root(), nsDSig, "Signature")) > 0 {
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
			signed = true
		}
	} else {
		enc, ok := rawParam(rawQuery, "SAMLResponse")
		if !ok {
			return nil, refuse(ReasonMalformed, "no SAMLResponse")
		}
		value, err := url.QueryUnescape(enc)
		if err != nil {
			return nil, refuse(ReasonMalformed, "SAMLResponse is not URL-encoded")
		}
		compressed, err := base64.StdEncoding.DecodeString(value)
		if err != nil {
			return nil, refuse(ReasonMalformed, "SAMLResponse is not base64")
		}
		if doc, err = inflate(compressed); err != nil {
			return nil, refuse(ReasonMalformed, "SAMLResponse does not inflate")
		}
		if encSig, ok := rawParam(rawQuery, "Signature"); ok {
			encAlg, _ := rawParam(rawQuery, "SigAlg")
			part := "SAMLResponse=" + enc
			if rs, ok := rawParam(rawQuery, "RelayState"); ok {
				part += "&RelayState=" + rs
			}
			part += "&SigAlg=" + encAlg
			alg, _ := url.QueryUnescape(encAlg)
			sigB64, _ := url.QueryUnescape(encSig)
			sig, err := base64.StdEncoding.DecodeString(sigB64)
			if err != nil {
				return nil, refuse(ReasonSignature, "Signature is not base64")
			}
			if err := verifyRedirect(s, alg, []byte(part), sig); err != nil {
				return nil, err
			}
			signed = true
		}
	}
	var lr saml.LogoutResponse
	if err := xml.Unmarshal(doc, &lr); err != nil {
		return nil, refuse(ReasonMalformed, "LogoutResponse: %v", err)
	}
	if lr.Issuer == nil || lr.Issuer.Value != s.IdP.EntityID {
		return nil, refuse(ReasonInvalid, "LogoutResponse Issuer is not the IdP")
	}
	if lr.Destination != "" && lr.Destination != s.SP.SLSURL && lr.Destination+"/" != s.SP.SLSURL {
		return nil, refuse(ReasonConditions, "LogoutResponse Destination %q is not %q", lr.Destination, s.SP.SLSURL)
	}
	code := lr.Status.StatusCode.Value
	return &LogoutResult{InResponseTo: lr.InResponseTo, Status: code, Success: code == saml.StatusSuccess, Signed: signed}, nil
}

func inflate(compressed []byte) ([]byte, error) {
	var out bytes.Buffer
	r := flate.NewReader(bytes.NewReader(compressed))
	if _, err := out.ReadFrom(&limitedReader{r: r, n: maxInflated + 1}); err != nil {
		return nil, err
	}
	if out.Len() > maxInflated {
		return nil, fmt.Errorf("too large")
	}
	return out.Bytes(), nil
}

type limitedReader struct {
	r interface{ Read([]byte) (int, error) }
	n int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("too large")
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= n
	return n, err
}
