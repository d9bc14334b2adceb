// Package samltest is an in-process identity provider for tests: crewjam's
// IdentityProvider signing with RSA-SHA256 under a fresh key, producing the responses
// (and logout requests) that Gatehouse must accept or refuse.
package samltest

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"math/big"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"gatehouse/models/samlsp"
)

// IdP is a test identity provider.
type IdP struct {
	EntityID string
	SSOURL   string
	SLOURL   string
	Key      *rsa.PrivateKey
	Cert     *x509.Certificate
	idp      *saml.IdentityProvider
}

// NewKeyPair returns an RSA-2048 key and a self-signed certificate valid for a year.
func NewKeyPair(t testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "test idp"},
		NotBefore:    time.Now().Add(-24 * time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return key, cert
}

// New returns an IdP whose entity ID is base + "/metadata".
func New(t testing.TB, base string) *IdP {
	t.Helper()
	key, cert := NewKeyPair(t)
	return NewWithKey(base, key, cert)
}

// NewWithKey returns an IdP signing with key/cert.
func NewWithKey(base string, key *rsa.PrivateKey, cert *x509.Certificate) *IdP {
	base = trim(base)
	i := &IdP{EntityID: base + "/metadata", SSOURL: base + "/sso", SLOURL: base + "/slo", Key: key, Cert: cert}
	i.idp = &saml.IdentityProvider{
		Key: key, Signer: key, Certificate: cert,
		MetadataURL:     mustParse(i.EntityID),
		SSOURL:          mustParse(i.SSOURL),
		LogoutURL:       mustParse(i.SLOURL),
		SignatureMethod: dsig.RSASHA256SignatureMethod,
	}
	return i
}

func trim(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

func mustParse(s string) url.URL {
	u, _ := url.Parse(s)
	return *u
}

// Settings is how Gatehouse registers this IdP.
func (i *IdP) Settings() samlsp.IdP {
	return samlsp.IdP{EntityID: i.EntityID, SSOURL: i.SSOURL, SLOURL: i.SLOURL, Certs: [][]byte{i.Cert.Raw}}
}

// Metadata is the IdP's metadata XML.
func (i *IdP) Metadata() []byte {
	b, err := xml.MarshalIndent(i.idp.Metadata(), "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// User is who the IdP says signs in.
type User struct {
	NameID     string
	Attributes map[string][]string
}

// Options shape a response; zero values give a valid one.
type Options struct {
	InResponseTo string    // the AuthnRequest ID; "" for IdP-initiated
	Now          time.Time // defaults to samlsp.Now()
	Audience     string    // defaults to the SP entity ID
	Recipient    string    // defaults to the ACS URL
	Destination  string    // defaults to the ACS URL
	// EncryptFor, when set, encrypts the assertion for this SP certificate.
	EncryptFor *x509.Certificate
	// Lifetime, when set, is how long after Now the assertion is valid (Conditions
	// and SubjectConfirmationData NotOnOrAfter), as an IdP's token lifetime setting.
	Lifetime time.Duration
	// NameIDFormat, when set, replaces the persistent format and crewjam's qualifiers
	// with these (qualifiers sent only when set).
	NameIDFormat, NameQualifier, SPNameQualifier string
	// SignatureMethod, when set, signs with this algorithm (and its digest) instead of
	// RSA-SHA256, e.g. dsig.RSASHA1SignatureMethod as older IdP defaults do.
	SignatureMethod string
}

// Response returns a signed SAML Response (Response and Assertion both signed) as
// XML, for sp.
func (i *IdP) Response(t testing.TB, sp samlsp.SP, u User, o Options) []byte {
	t.Helper()
	doc := i.ResponseDoc(t, sp, u, o)
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ResponseDoc is Response as a document, for tests that tamper with it.
func (i *IdP) ResponseDoc(t testing.TB, sp samlsp.SP, u User, o Options) *etree.Document {
	t.Helper()
	if o.Now.IsZero() {
		o.Now = samlsp.Now()
	}
	if o.Audience == "" {
		o.Audience = sp.EntityID
	}
	if o.SignatureMethod != "" {
		prev := i.idp.SignatureMethod
		i.idp.SignatureMethod = o.SignatureMethod
		defer func() { i.idp.SignatureMethod = prev }()
	}
	if o.Recipient == "" {
		o.Recipient = sp.ACSURL
	}
	if o.Destination == "" {
		o.Destination = sp.ACSURL
	}
	acs := &saml.IndexedEndpoint{Binding: saml.HTTPPostBinding, Location: o.Destination}
	spMeta := &saml.EntityDescriptor{EntityID: o.Audience, SPSSODescriptors: []saml.SPSSODescriptor{{
		AssertionConsumerServices: []saml.IndexedEndpoint{*acs},
	}}}
	if o.EncryptFor != nil {
		kd := saml.KeyDescriptor{Use: "encryption"}
		kd.KeyInfo.X509Data.X509Certificates = []saml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(o.EncryptFor.Raw)}}
		spMeta.SPSSODescriptors[0].KeyDescriptors = []saml.KeyDescriptor{kd}
	}
	req := &saml.IdpAuthnRequest{
		IDP: i.idp, HTTPRequest: httptest.NewRequest("POST", o.Destination, nil),
		Request:                 saml.AuthnRequest{ID: o.InResponseTo},
		ServiceProviderMetadata: spMeta, SPSSODescriptor: &spMeta.SPSSODescriptors[0],
		ACSEndpoint: acs, Now: o.Now,
	}
	session := &saml.Session{ID: "s-" + u.NameID, Index: "idx-" + u.NameID, NameID: u.NameID,
		NameIDFormat: string(saml.PersistentNameIDFormat), CreateTime: o.Now, ExpireTime: o.Now.Add(time.Hour)}
	for name, values := range u.Attributes {
		a := saml.Attribute{Name: name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}
		for _, v := range values {
			a.Values = append(a.Values, saml.AttributeValue{Type: "xs:string", Value: v})
		}
		session.CustomAttributes = append(session.CustomAttributes, a)
	}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, session); err != nil {
		t.Fatal(err)
	}
	// crewjam's maker sets Recipient to the ACS endpoint: allow tests to point it elsewhere.
	for j := range req.Assertion.Subject.SubjectConfirmations {
		req.Assertion.Subject.SubjectConfirmations[j].SubjectConfirmationData.Recipient = o.Recipient
		if o.Lifetime > 0 {
			req.Assertion.Subject.SubjectConfirmations[j].SubjectConfirmationData.NotOnOrAfter = o.Now.Add(o.Lifetime)
		}
	}
	req.Assertion.IssueInstant = o.Now // crewjam's maker takes its global clock
	if o.Lifetime > 0 {
		req.Assertion.Conditions.NotOnOrAfter = o.Now.Add(o.Lifetime)
	}
	if o.NameIDFormat != "" {
		// As the test says: this format, and only the qualifiers it sets.
		n := req.Assertion.Subject.NameID
		n.Format, n.NameQualifier, n.SPNameQualifier = o.NameIDFormat, o.NameQualifier, o.SPNameQualifier
	}
	if err := req.MakeAssertionEl(); err != nil {
		t.Fatal(err)
	}
	if err := req.MakeResponse(); err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.ResponseEl)
	return doc
}

// Sign signs el (enveloped, RSA-SHA256, exclusive c14n) with this IdP's key, replacing
// any signature it has; for tests that build or alter documents.
func (i *IdP) Sign(t testing.TB, el *etree.Element) *etree.Element {
	t.Helper()
	for _, c := range el.ChildElements() {
		if c.Tag == "Signature" {
			el.RemoveChild(c)
		}
	}
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore{PrivateKey: i.Key, Certificate: [][]byte{i.Cert.Raw}})
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		t.Fatal(err)
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// LogoutRequest is an IdP-initiated logout for nameID.
type LogoutRequest struct {
	ID           string
	NameID       string
	SessionIndex string
	Destination  string
	Now          time.Time
}

func (i *IdP) logoutXML(lr LogoutRequest) []byte {
	if lr.Now.IsZero() {
		lr.Now = samlsp.Now()
	}
	if lr.ID == "" {
		lr.ID = fmt.Sprintf("id-logout-%d", lr.Now.UnixNano())
	}
	req := saml.LogoutRequest{ID: lr.ID, Version: "2.0", IssueInstant: lr.Now, Destination: lr.Destination,
		Issuer: &saml.Issuer{Value: i.EntityID}, NameID: &saml.NameID{Value: lr.NameID, Format: string(saml.PersistentNameIDFormat)}}
	if lr.SessionIndex != "" {
		req.SessionIndex = &saml.SessionIndex{Value: lr.SessionIndex}
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.Element())
	b, _ := doc.WriteToBytes()
	return b
}

// LogoutRedirectQuery is the raw query of a Redirect-binding LogoutRequest, signed
// over SAMLRequest, RelayState and SigAlg when sign is true.
func (i *IdP) LogoutRedirectQuery(lr LogoutRequest, relayState string, sign bool) string {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write(i.logoutXML(lr))
	_ = w.Close()
	q := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	if !sign {
		return q
	}
	q += "&SigAlg=" + url.QueryEscape(dsig.RSASHA256SignatureMethod)
	sum := sha256.Sum256([]byte(q))
	sig, err := rsa.SignPKCS1v15(rand.Reader, i.Key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}

// LogoutPostForm is the base64 SAMLRequest of a POST-binding LogoutRequest, signed
// (enveloped) when sign is true.
func (i *IdP) LogoutPostForm(t testing.TB, lr LogoutRequest, sign bool) string {
	t.Helper()
	raw := i.logoutXML(lr)
	if sign {
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(raw); err != nil {
			t.Fatal(err)
		}
		signed := i.Sign(t, doc.Root())
		out := etree.NewDocument()
		out.SetRoot(signed)
		raw, _ = out.WriteToBytes()
	}
	return base64.StdEncoding.EncodeToString(raw)
}
