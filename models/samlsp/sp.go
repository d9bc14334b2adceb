package samlsp

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// SP is the service provider side of one org: every URL is built from the instance's
// base URL and the org slug, never from a request (SPEC §3.1).
type SP struct {
	EntityID string // = the metadata URL, with its trailing slash (Entra AADSTS650056)
	ACSURL   string
	SLSURL   string
	// Cert is the org's SP certificate, when it has a key pair (SPEC §3.10): published
	// for signing and encryption; SignsRequests says AuthnRequests are signed.
	Cert          *x509.Certificate
	SignsRequests bool
}

// NewSP returns the SP URLs of the org with slug under baseURL.
func NewSP(baseURL, slug string) SP {
	base := strings.TrimRight(baseURL, "/")
	return SP{
		EntityID: base + "/saml/metadata/" + slug + "/",
		ACSURL:   base + "/saml/acs/" + slug + "/",
		SLSURL:   base + "/saml/sls/" + slug + "/",
	}
}

// Settings is everything needed to talk to one org's IdP.
type Settings struct {
	SP  SP
	IdP IdP
	// SPKey is the org's SP private key (signs AuthnRequests, decrypts assertions);
	// RequireEncrypted refuses plaintext assertions.
	SPKey            *rsa.PrivateKey
	RequireEncrypted bool
	// ClockSkew and MaxAssertionLife are the org's time policy (0: the defaults,
	// DefaultClockSkew and DefaultMaxAssertionLife); see Skew and MaxLife.
	ClockSkew        time.Duration
	MaxAssertionLife time.Duration
}

// Skew is the clock skew allowed for this org, within [0, MaxClockSkew].
func (s Settings) Skew() time.Duration {
	switch {
	case s.ClockSkew <= 0:
		return DefaultClockSkew
	case s.ClockSkew > MaxClockSkew:
		return MaxClockSkew
	}
	return s.ClockSkew
}

// MaxLife is the longest assertion lifetime this org accepts, within
// [MinAssertionLife, MaxAssertionLife].
func (s Settings) MaxLife() time.Duration {
	switch {
	case s.MaxAssertionLife <= 0:
		return DefaultMaxAssertionLife
	case s.MaxAssertionLife < MinAssertionLife:
		return MinAssertionLife
	case s.MaxAssertionLife > MaxAssertionLife:
		return MaxAssertionLife
	}
	return s.MaxAssertionLife
}

// IsACSURL reports whether u is this org's ACS URL: exactly, or the same path without
// its trailing slash, which owners type into IdPs and SPEC §3.1 accepts.
func (sp SP) IsACSURL(u string) bool {
	return u != "" && (u == sp.ACSURL || u+"/" == sp.ACSURL)
}

func mustURL(s string) url.URL {
	u, err := url.Parse(s)
	if err != nil || u == nil {
		return url.URL{}
	}
	return *u
}

// serviceProvider builds crewjam's SP for these settings. AllowIDPInitiated stays
// false: unsolicited responses are admitted by the caller passing an empty request id.
func (s Settings) serviceProvider() (*saml.ServiceProvider, []*x509.Certificate, error) {
	certs, err := s.IdP.Certificates()
	if err != nil {
		return nil, nil, err
	}
	ed := &saml.EntityDescriptor{EntityID: s.IdP.EntityID}
	kd := saml.KeyDescriptor{Use: "signing"}
	for _, der := range s.IdP.Certs {
		kd.KeyInfo.X509Data.X509Certificates = append(kd.KeyInfo.X509Data.X509Certificates,
			saml.X509Certificate{Data: encodeB64(der)})
	}
	idpd := saml.IDPSSODescriptor{}
	idpd.KeyDescriptors = []saml.KeyDescriptor{kd}
	idpd.SingleSignOnServices = []saml.Endpoint{{Binding: saml.HTTPRedirectBinding, Location: s.IdP.SSOURL}}
	if s.IdP.SLOURL != "" {
		idpd.SingleLogoutServices = []saml.Endpoint{{Binding: saml.HTTPRedirectBinding, Location: s.IdP.SLOURL}}
	}
	ed.IDPSSODescriptors = []saml.IDPSSODescriptor{idpd}
	sp := &saml.ServiceProvider{
		EntityID:          s.SP.EntityID,
		MetadataURL:       mustURL(s.SP.EntityID),
		AcsURL:            mustURL(s.SP.ACSURL),
		SloURL:            mustURL(s.SP.SLSURL),
		IDPMetadata:       ed,
		AllowIDPInitiated: false,
		AuthnNameIDFormat: saml.UnspecifiedNameIDFormat,
		SignatureVerifier: strictVerifier{certs: certs},
	}
	if s.SPKey != nil && s.SP.Cert != nil {
		sp.Key, sp.Certificate = s.SPKey, s.SP.Cert
		if s.SP.SignsRequests {
			sp.SignatureMethod = dsig.RSASHA256SignatureMethod
		}
	}
	return sp, certs, nil
}

// Metadata renders the SP metadata for sp (ACS over HTTP-POST, SLS over Redirect and
// POST; no artifact binding).
func Metadata(sp SP) ([]byte, error) {
	ed := saml.EntityDescriptor{
		EntityID: sp.EntityID,
		SPSSODescriptors: []saml.SPSSODescriptor{{
			SSODescriptor: saml.SSODescriptor{
				RoleDescriptor: saml.RoleDescriptor{ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol"},
				SingleLogoutServices: []saml.Endpoint{
					{Binding: saml.HTTPRedirectBinding, Location: sp.SLSURL},
					{Binding: saml.HTTPPostBinding, Location: sp.SLSURL},
				},
				// Persistent first: IdPs that pick the SP's first format (SimpleSAMLphp,
				// Shibboleth) then send a stable NameID, never a transient one.
				NameIDFormats: []saml.NameIDFormat{saml.PersistentNameIDFormat, saml.EmailAddressNameIDFormat, saml.UnspecifiedNameIDFormat},
			},
			AuthnRequestsSigned:  boolPtr(sp.SignsRequests),
			WantAssertionsSigned: boolPtr(true),
			AssertionConsumerServices: []saml.IndexedEndpoint{
				{Binding: saml.HTTPPostBinding, Location: sp.ACSURL, Index: 0, IsDefault: boolPtr(true)},
			},
		}},
	}
	if sp.Cert != nil {
		kd := func(use string) saml.KeyDescriptor {
			k := saml.KeyDescriptor{Use: use}
			k.KeyInfo.X509Data.X509Certificates = []saml.X509Certificate{{Data: encodeB64(sp.Cert.Raw)}}
			return k
		}
		enc := kd("encryption")
		enc.EncryptionMethods = []saml.EncryptionMethod{{Algorithm: "http://www.w3.org/2009/xmlenc11#aes256-gcm"},
			{Algorithm: "http://www.w3.org/2001/04/xmlenc#aes256-cbc"}, {Algorithm: "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"}}
		ed.SPSSODescriptors[0].KeyDescriptors = []saml.KeyDescriptor{kd("signing"), enc}
	}
	ed.CacheDuration = SPMetadataCacheDuration
	out, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		return nil, err
	}
	// crewjam always writes validUntil, as "0001-01-01T00:00:00Z" when unset: metadata
	// that expired in year 1, which SimpleSAMLphp and Shibboleth refuse. It is omitted
	// (the metadata is served live and an uploaded copy must not lapse); cacheDuration
	// tells IdPs that fetch it how often to refresh (SAML Metadata §1.3.3).
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(out); err != nil || doc.Root() == nil {
		return nil, fmt.Errorf("SP metadata: %v", err)
	}
	doc.Root().RemoveAttr("validUntil")
	doc.Indent(2)
	body, err := doc.WriteToBytes()
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), body...), nil
}

// SPMetadataCacheDuration is how long IdPs may cache the SP metadata.
const SPMetadataCacheDuration = 24 * time.Hour

func boolPtr(b bool) *bool { return &b }

// AuthnRequest builds the HTTP-Redirect URL that starts SP-initiated SSO and returns
// the request's ID, which the response must answer (InResponseTo). An IdP that
// published only an HTTP-POST SingleSignOnService gets an error: use StartSSO.
func AuthnRequest(s Settings, relayState string) (redirect string, requestID string, err error) {
	out, id, err := StartSSO(s, relayState)
	if err != nil {
		return "", "", err
	}
	if out.Binding != BindingRedirect {
		return "", "", fmt.Errorf("the IdP takes AuthnRequests by HTTP-POST only")
	}
	return out.URL, id, nil
}

// StartSSO builds the AuthnRequest that starts SP-initiated SSO, for the binding the
// IdP published at its SSO URL: HTTP-Redirect (a URL), or HTTP-POST (a form to
// submit) when that is all it published. It returns the request's ID.
func StartSSO(s Settings, relayState string) (*Outbound, string, error) {
	sp, _, err := s.serviceProvider()
	if err != nil {
		return nil, "", err
	}
	if s.IdP.SSOBinding == BindingPOST {
		req, err := sp.MakeAuthenticationRequest(s.IdP.SSOURL, saml.HTTPPostBinding, saml.HTTPPostBinding)
		if err != nil {
			return nil, "", fmt.Errorf("build AuthnRequest: %w", err)
		}
		doc := etree.NewDocument()
		doc.SetRoot(req.Element())
		raw, err := doc.WriteToBytes()
		if err != nil {
			return nil, "", err
		}
		form := url.Values{"SAMLRequest": {encodeB64(raw)}}
		if relayState != "" {
			form.Set("RelayState", relayState)
		}
		return &Outbound{Binding: BindingPOST, URL: s.IdP.SSOURL, Form: form}, req.ID, nil
	}
	req, err := sp.MakeAuthenticationRequest(s.IdP.SSOURL, saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return nil, "", fmt.Errorf("build AuthnRequest: %w", err)
	}
	u, err := req.Redirect(relayState, sp)
	if err != nil {
		return nil, "", fmt.Errorf("encode AuthnRequest: %w", err)
	}
	return &Outbound{Binding: BindingRedirect, URL: u.String()}, req.ID, nil
}
