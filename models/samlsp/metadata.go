package samlsp

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/crewjam/saml"
)

// IdP is what Gatehouse keeps of an identity provider: from metadata or typed fields.
type IdP struct {
	EntityID string
	SSOURL   string // HTTP-Redirect binding (preferred) or HTTP-POST
	SLOURL   string // optional
	// SSOBinding and SLOBinding are the bindings the IdP published at those URLs
	// (BindingRedirect or BindingPOST); "" (a registration by fields) is Redirect.
	SSOBinding, SLOBinding string
	// Certs are the signing certificates (DER); IdPs publish several during rollover.
	Certs [][]byte
	// ValidUntil and CacheDuration come from metadata, when it says so.
	ValidUntil    time.Time
	CacheDuration time.Duration
}

// SAML bindings Gatehouse sends with.
const (
	BindingRedirect = saml.HTTPRedirectBinding
	BindingPOST     = saml.HTTPPostBinding
)

// Certificates parses Certs.
func (i *IdP) Certificates() ([]*x509.Certificate, error) {
	out := make([]*x509.Certificate, 0, len(i.Certs))
	for _, der := range i.Certs {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("stored certificate: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// Fingerprint is the SHA-256 fingerprint of a DER certificate, as IdP consoles show it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = strings.ToUpper(hex.EncodeToString([]byte{b}))
	}
	return strings.Join(parts, ":")
}

// MaxMetadataSize bounds metadata documents (SECURITY.md, outbound fetch).
const MaxMetadataSize = 1 << 20

// MetadataError is a problem with metadata a person can fix.
type MetadataError struct{ Msg string }

func (e *MetadataError) Error() string { return e.Msg }

func metaErr(format string, args ...any) error {
	return &MetadataError{Msg: fmt.Sprintf(format, args...)}
}

// ParseMetadata reads an IdP's metadata: an EntityDescriptor, or an
// EntitiesDescriptor holding exactly one IdP. Every signing certificate is kept; a
// certificate that is expired at now is refused with the date.
func ParseMetadata(data []byte, now time.Time) (*IdP, error) {
	if len(data) > MaxMetadataSize {
		return nil, metaErr("the metadata is larger than %d KiB", MaxMetadataSize>>10)
	}
	if err := PreScanMetadata(data); err != nil {
		return nil, metaErr("the metadata is not valid XML: %s", strings.TrimPrefix(err.Error(), ErrMalformed.Error()+": "))
	}
	var ed saml.EntityDescriptor
	var root struct{ XMLName xml.Name }
	if err := xml.Unmarshal(data, &root); err != nil {
		return nil, metaErr("the metadata is not valid XML: %v", err)
	}
	switch {
	case root.XMLName.Space == nsMetadata && root.XMLName.Local == "EntityDescriptor":
		if err := xml.Unmarshal(data, &ed); err != nil {
			return nil, metaErr("the metadata could not be read: %v", err)
		}
	case root.XMLName.Space == nsMetadata && root.XMLName.Local == "EntitiesDescriptor":
		var eds saml.EntitiesDescriptor
		if err := xml.Unmarshal(data, &eds); err != nil {
			return nil, metaErr("the metadata could not be read: %v", err)
		}
		var idps []saml.EntityDescriptor
		for _, e := range eds.EntityDescriptors {
			if len(e.IDPSSODescriptors) > 0 {
				idps = append(idps, e)
			}
		}
		if len(idps) != 1 {
			return nil, metaErr("the metadata lists %d identity providers; paste the metadata of exactly one", len(idps))
		}
		ed = idps[0]
	default:
		return nil, metaErr("this is not SAML metadata (the root element is %s, not EntityDescriptor)", root.XMLName.Local)
	}
	if len(ed.IDPSSODescriptors) == 0 {
		return nil, metaErr("the metadata has no IDPSSODescriptor: is it the metadata of the identity provider (not of a service provider)?")
	}
	if strings.TrimSpace(ed.EntityID) == "" {
		return nil, metaErr("the metadata has no entityID")
	}
	idp := &IdP{EntityID: strings.TrimSpace(ed.EntityID), ValidUntil: ed.ValidUntil, CacheDuration: ed.CacheDuration}
	seen := map[string]bool{}
	for _, d := range ed.IDPSSODescriptors {
		for _, s := range d.SingleSignOnServices {
			switch {
			case s.Binding == saml.HTTPRedirectBinding:
				idp.SSOURL, idp.SSOBinding = s.Location, BindingRedirect
			case s.Binding == saml.HTTPPostBinding && (idp.SSOURL == "" || idp.SSOBinding == BindingPOST):
				idp.SSOURL, idp.SSOBinding = s.Location, BindingPOST
			}
		}
		for _, s := range d.SingleLogoutServices {
			switch {
			case s.Binding == saml.HTTPRedirectBinding:
				idp.SLOURL, idp.SLOBinding = s.Location, BindingRedirect
			case s.Binding == saml.HTTPPostBinding && (idp.SLOURL == "" || idp.SLOBinding == BindingPOST):
				idp.SLOURL, idp.SLOBinding = s.Location, BindingPOST
			}
		}
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, xc := range kd.KeyInfo.X509Data.X509Certificates {
				der, err := decodeCertBase64(xc.Data)
				if err != nil {
					return nil, metaErr("a signing certificate in the metadata cannot be read: %v", err)
				}
				if !seen[string(der)] {
					seen[string(der)] = true
					idp.Certs = append(idp.Certs, der)
				}
			}
		}
	}
	if idp.SSOURL == "" {
		return nil, metaErr("no SingleSignOnService with HTTP-Redirect or HTTP-POST binding")
	}
	if len(idp.Certs) == 0 {
		return nil, metaErr("the metadata has no signing certificate")
	}
	if err := idp.Check(now); err != nil {
		return nil, err
	}
	return idp, nil
}

// Check validates an IdP registration: URLs, entity ID and certificates at now.
func (i *IdP) Check(now time.Time) error {
	if strings.TrimSpace(i.EntityID) == "" {
		return metaErr("enter the IdP entity ID")
	}
	if err := checkURL(i.SSOURL, "SSO URL"); err != nil {
		return err
	}
	if i.SLOURL != "" {
		if err := checkURL(i.SLOURL, "SLO URL"); err != nil {
			return err
		}
	}
	certs, err := i.Certificates()
	if err != nil {
		return metaErr("%v", err)
	}
	valid := 0
	var expired *x509.Certificate
	for _, c := range certs {
		if now.After(c.NotAfter) {
			expired = c
			continue
		}
		valid++
	}
	if valid == 0 && expired != nil {
		return metaErr("the certificate is expired since %s", expired.NotAfter.UTC().Format("2006-01-02"))
	}
	if valid == 0 {
		return metaErr("no signing certificate")
	}
	return nil
}

func checkURL(raw, label string) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return metaErr("the %s must be an absolute http(s) URL", label)
	}
	return nil
}

// stripSpace is s without the whitespace base64 text in XML may carry (xs:base64Binary
// allows it; Google Workspace wraps and indents its values): tab, LF, FF, CR and space,
// regexp's \s. Without a regexp: a response's three base64 values were 9% of the ACS's
// CPU through one (issue 12).
func stripSpace(s string) string {
	const space = "\t\n\f\r "
	if !strings.ContainsAny(s, space) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ { // bytes, not runes: other bytes pass as they are
		if strings.IndexByte(space, s[i]) < 0 {
			b = append(b, s[i])
		}
	}
	return string(b)
}

func decodeCertBase64(s string) ([]byte, error) {
	der, err := base64.StdEncoding.DecodeString(stripSpace(s))
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	return der, nil
}

// ParseCertificates reads one or more X.509 certificates given as PEM blocks or as
// bare base64 (what IdP consoles let you copy).
func ParseCertificates(text string) ([][]byte, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, errors.New("paste the IdP's X.509 signing certificate")
	}
	var out [][]byte
	if strings.Contains(text, "-----BEGIN") {
		rest := []byte(text)
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type != "CERTIFICATE" {
				return nil, fmt.Errorf("a %s block is not a certificate", block.Type)
			}
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				return nil, fmt.Errorf("the certificate cannot be read: %v", err)
			}
			out = append(out, block.Bytes)
		}
		if len(out) == 0 {
			return nil, errors.New("the PEM text holds no certificate")
		}
		return out, nil
	}
	der, err := decodeCertBase64(text)
	if err != nil {
		return nil, fmt.Errorf("the certificate cannot be read: %v", err)
	}
	return [][]byte{der}, nil
}

// EncodePEM renders certificates as PEM text.
func EncodePEM(certs [][]byte) string {
	var b strings.Builder
	for _, der := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	return b.String()
}
