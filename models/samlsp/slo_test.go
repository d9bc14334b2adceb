package samlsp_test

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

type sentLogout struct {
	XMLName      xml.Name
	ID           string `xml:"ID,attr"`
	Destination  string `xml:"Destination,attr"`
	InResponseTo string `xml:"InResponseTo,attr"`
	Issuer       string `xml:"Issuer"`
	NameID       struct {
		Value           string  `xml:",chardata"`
		Format          *string `xml:"Format,attr"`
		NameQualifier   *string `xml:"NameQualifier,attr"`
		SPNameQualifier *string `xml:"SPNameQualifier,attr"`
	} `xml:"NameID"`
	SessionIndex string   `xml:"SessionIndex"`
	Signatures   []string `xml:"http://www.w3.org/2000/09/xmldsig# Signature>SignedInfo>SignatureMethod"`
}

func inflateParam(t *testing.T, v string) []byte {
	t.Helper()
	c, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(c)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSPLogout: the LogoutRequest names the IdP session exactly as the IdP named it
// (NameID value, Format and qualifiers as sent, nothing added, SessionIndex), and is
// signed per binding: Redirect in the SigAlg/Signature query parameters, POST inside.
func TestSPLogout(t *testing.T) {
	idp := samltest.New(t, "https://idp.example")
	key, cert := samltest.NewKeyPair(t)
	for _, tc := range []struct {
		name    string
		binding string
		keys    bool
		ref     samlsp.NameRef
	}{
		{"Redirect, unsigned (no SP key), emailAddress without qualifiers", samlsp.BindingRedirect, false,
			samlsp.NameRef{Value: "alice@example.com", Format: fmtEmail, SessionIndex: "_sess-1"}},
		{"Redirect, signed, persistent with the qualifiers the IdP sent", samlsp.BindingRedirect, true,
			samlsp.NameRef{Value: "p-1", Format: fmtPersistent, NameQualifier: "https://idp.example/metadata", SPNameQualifier: "https://gatehouse.example/saml/metadata/acme/", SessionIndex: "_sess-2"}},
		{"POST, signed, no Format sent", samlsp.BindingPOST, true, samlsp.NameRef{Value: "u-1", SessionIndex: "_sess-3"}},
		{"POST, unsigned", samlsp.BindingPOST, false, samlsp.NameRef{Value: "u-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := settingsFor(idp)
			s.IdP.SLOBinding = tc.binding
			if tc.keys {
				s.SPKey, s.SP.Cert = key, cert
			}
			out, id, err := samlsp.SPLogout(s, samlsp.DecodeNameRef(tc.ref.Encode()), "rs-1")
			if err != nil {
				t.Fatal(err)
			}
			var raw []byte
			if tc.binding == samlsp.BindingRedirect {
				if out.Binding != samlsp.BindingRedirect || !strings.HasPrefix(out.URL, idp.SLOURL+"?") {
					t.Fatalf("%+v", out)
				}
				u, _ := url.Parse(out.URL)
				q := u.Query()
				raw = inflateParam(t, q.Get("SAMLRequest"))
				if tc.keys {
					if q.Get("SigAlg") != dsig.RSASHA256SignatureMethod || q.Get("Signature") == "" {
						t.Fatalf("query not signed: %s", u.RawQuery)
					}
					signedPart := u.RawQuery[:strings.Index(u.RawQuery, "&Signature=")]
					sig, _ := base64.StdEncoding.DecodeString(q.Get("Signature"))
					sum := sha256.Sum256([]byte(signedPart))
					if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
						t.Fatalf("query signature: %v", err)
					}
				} else if q.Has("Signature") || q.Has("SigAlg") {
					t.Fatal("signed without a key")
				}
				if q.Get("RelayState") != "rs-1" {
					t.Fatal("RelayState")
				}
			} else {
				if out.Binding != samlsp.BindingPOST || out.URL != idp.SLOURL || out.Form.Get("RelayState") != "rs-1" {
					t.Fatalf("%+v", out)
				}
				raw, _ = base64.StdEncoding.DecodeString(out.Form.Get("SAMLRequest"))
				if tc.keys {
					doc := etree.NewDocument()
					if err := doc.ReadFromBytes(raw); err != nil {
						t.Fatal(err)
					}
					ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
					if _, err := ctx.Validate(doc.Root()); err != nil {
						t.Fatalf("embedded signature: %v", err)
					}
				}
			}
			var lr sentLogout
			if err := xml.Unmarshal(raw, &lr); err != nil {
				t.Fatal(err)
			}
			if lr.XMLName.Local != "LogoutRequest" || lr.ID != id || lr.Destination != idp.SLOURL || lr.Issuer != s.SP.EntityID {
				t.Fatalf("%+v", lr)
			}
			str := func(p *string) string {
				if p == nil {
					return "<absent>"
				}
				return *p
			}
			want := func(v string) string {
				if v == "" {
					return "<absent>"
				}
				return v
			}
			if lr.NameID.Value != tc.ref.Value || str(lr.NameID.Format) != want(tc.ref.Format) || str(lr.NameID.NameQualifier) != want(tc.ref.NameQualifier) ||
				str(lr.NameID.SPNameQualifier) != want(tc.ref.SPNameQualifier) || lr.SessionIndex != tc.ref.SessionIndex {
				t.Fatalf("NameID %q format %s nq %s spnq %s, SessionIndex %q; want %+v", lr.NameID.Value, str(lr.NameID.Format),
					str(lr.NameID.NameQualifier), str(lr.NameID.SPNameQualifier), lr.SessionIndex, tc.ref)
			}
			wantSigs := 0
			if tc.keys && tc.binding == samlsp.BindingPOST {
				wantSigs = 1
			}
			if len(lr.Signatures) != wantSigs {
				t.Fatalf("%d signatures inside the message, want %d", len(lr.Signatures), wantSigs)
			}
		})
	}
}

// TestLogoutResponse: the IdP's answer to our LogoutRequest is verified.
func TestLogoutResponse(t *testing.T) {
	idp := samltest.New(t, "https://idp.example")
	s := settingsFor(idp)
	build := func(issuer, status string) *etree.Element {
		r := saml.LogoutResponse{ID: "id-r1", InResponseTo: "id-req", Version: "2.0", IssueInstant: samlsp.Now(), Destination: s.SP.SLSURL,
			Issuer: &saml.Issuer{Value: issuer}, Status: saml.Status{StatusCode: saml.StatusCode{Value: status}}}
		return r.Element()
	}
	redirect := func(el *etree.Element, signer *rsa.PrivateKey) string {
		doc := etree.NewDocument()
		doc.SetRoot(el)
		raw, _ := doc.WriteToBytes()
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		_, _ = w.Write(raw)
		_ = w.Close()
		q := "SAMLResponse=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
		if signer == nil {
			return q
		}
		q += "&SigAlg=" + url.QueryEscape(dsig.RSASHA256SignatureMethod)
		sum := sha256.Sum256([]byte(q))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, signer, crypto.SHA256, sum[:])
		return q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	other, _ := samltest.NewKeyPair(t)
	for _, tc := range []struct {
		name    string
		query   string
		post    string
		ok      bool
		success bool
	}{
		{"signed success", redirect(build(idp.EntityID, saml.StatusSuccess), idp.Key), "", true, true},
		{"unsigned success", redirect(build(idp.EntityID, saml.StatusSuccess), nil), "", true, true},
		{"partial logout", redirect(build(idp.EntityID, "urn:oasis:names:tc:SAML:2.0:status:Responder"), idp.Key), "", true, false},
		{"signed by another key", redirect(build(idp.EntityID, saml.StatusSuccess), other), "", false, false},
		{"another issuer", redirect(build("https://evil.example", saml.StatusSuccess), nil), "", false, false},
		{"POST, signed", "", func() string {
			d := etree.NewDocument()
			d.SetRoot(idp.Sign(t, build(idp.EntityID, saml.StatusSuccess)))
			b, _ := d.WriteToBytes()
			return base64.StdEncoding.EncodeToString(b)
		}(), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := samlsp.ParseLogoutResponse(s, tc.query, tc.post)
			if tc.ok != (err == nil) {
				t.Fatalf("ok=%v err=%v", tc.ok, err)
			}
			if err == nil && (res.Success != tc.success || res.InResponseTo != "id-req") {
				t.Fatalf("%+v", res)
			}
		})
	}
}

// TestSSOBindingAsPublished: SP-initiated requests go to an endpoint the IdP
// published, with its binding: Redirect when published, else POST (never a Redirect
// request to a POST-only endpoint).
func TestSSOBindingAsPublished(t *testing.T) {
	idp := samltest.New(t, "https://idp.example")
	md := string(idp.Metadata())
	postOnly := regexp.MustCompile(`<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2\.0:bindings:HTTP-Redirect"[^>]*>(</SingleSignOnService>)?`).ReplaceAllString(md, "")
	postOnly = strings.Replace(postOnly, `Location="https://idp.example/sso"`, `Location="https://idp.example/sso-post"`, 1)
	if postOnly == md || !strings.Contains(postOnly, "sso-post") {
		t.Fatalf("could not make a POST-only metadata:\n%s", md)
	}
	for _, tc := range []struct {
		name, md, binding, url string
	}{
		{"Redirect and POST published", md, samlsp.BindingRedirect, "https://idp.example/sso"},
		{"POST only", postOnly, samlsp.BindingPOST, "https://idp.example/sso-post"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := samlsp.ParseMetadata([]byte(tc.md), samlsp.Now())
			if err != nil {
				t.Fatal(err)
			}
			if reg.SSOBinding != tc.binding || reg.SSOURL != tc.url {
				t.Fatalf("registered %s at %s", reg.SSOBinding, reg.SSOURL)
			}
			s := samlsp.Settings{SP: samlsp.NewSP("https://gatehouse.example", "acme"), IdP: *reg}
			out, id, err := samlsp.StartSSO(s, "rs")
			if err != nil || out.Binding != tc.binding {
				t.Fatalf("%+v %v", out, err)
			}
			var raw []byte
			if tc.binding == samlsp.BindingPOST {
				if out.URL != tc.url || out.Form.Get("RelayState") != "rs" {
					t.Fatalf("%+v", out)
				}
				raw, _ = base64.StdEncoding.DecodeString(out.Form.Get("SAMLRequest"))
				if _, _, err := samlsp.AuthnRequest(s, "rs"); err == nil {
					t.Fatal("a Redirect AuthnRequest built for a POST-only IdP")
				}
			} else {
				if !strings.HasPrefix(out.URL, tc.url+"?") {
					t.Fatal(out.URL)
				}
				u, _ := url.Parse(out.URL)
				raw = inflateParam(t, u.Query().Get("SAMLRequest"))
			}
			var req struct {
				ID          string `xml:"ID,attr"`
				Destination string `xml:"Destination,attr"`
			}
			if err := xml.Unmarshal(raw, &req); err != nil || req.ID != id || req.Destination != tc.url {
				t.Fatalf("AuthnRequest %+v %v\n%s", req, err, raw)
			}
		})
	}
}

// TestLogoutResponseBinding: our answer to an IdP's LogoutRequest goes by the binding
// the IdP published at its SLO endpoint: Redirect — a deflated query, signed in the
// SigAlg/Signature parameters; POST (an IdP that publishes only HTTP-POST) — a form
// with the LogoutResponse and an enveloped signature, nothing in a query string.
func TestLogoutResponseBinding(t *testing.T) {
	idp := samltest.New(t, "https://idp.example")
	key, cert := samltest.NewKeyPair(t)
	for _, tc := range []struct {
		name    string
		binding string
		keys    bool
	}{
		{"Redirect, signed", samlsp.BindingRedirect, true},
		{"Redirect, unsigned (no SP key)", samlsp.BindingRedirect, false},
		{"published binding unknown: Redirect", "", false},
		{"POST, signed", samlsp.BindingPOST, true},
		{"POST, unsigned (no SP key)", samlsp.BindingPOST, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := settingsFor(idp)
			s.IdP.SLOBinding = tc.binding
			if tc.keys {
				s.SPKey, s.SP.Cert = key, cert
			}
			out, err := samlsp.LogoutResponse(s, "id-req-1", "rs-1")
			if err != nil {
				t.Fatal(err)
			}
			var raw []byte
			if tc.binding == samlsp.BindingPOST {
				if out.Binding != samlsp.BindingPOST || out.URL != idp.SLOURL || out.Form.Get("RelayState") != "rs-1" || out.Form.Has("SAMLRequest") {
					t.Fatalf("%+v", out)
				}
				raw, _ = base64.StdEncoding.DecodeString(out.Form.Get("SAMLResponse"))
				if tc.keys {
					doc := etree.NewDocument()
					if err := doc.ReadFromBytes(raw); err != nil {
						t.Fatal(err)
					}
					ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
					if _, err := ctx.Validate(doc.Root()); err != nil {
						t.Fatalf("embedded signature: %v", err)
					}
				}
			} else {
				if out.Binding != samlsp.BindingRedirect || !strings.HasPrefix(out.URL, idp.SLOURL+"?") || out.Form != nil {
					t.Fatalf("%+v", out)
				}
				u, _ := url.Parse(out.URL)
				q := u.Query()
				raw = inflateParam(t, q.Get("SAMLResponse"))
				if tc.keys != (q.Get("Signature") != "" && q.Get("SigAlg") == dsig.RSASHA256SignatureMethod) {
					t.Fatalf("query signature present %v, want %v", q.Has("Signature"), tc.keys)
				}
				if tc.keys {
					signedPart := u.RawQuery[:strings.Index(u.RawQuery, "&Signature=")]
					sig, _ := base64.StdEncoding.DecodeString(q.Get("Signature"))
					sum := sha256.Sum256([]byte(signedPart))
					if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
						t.Fatalf("query signature: %v", err)
					}
				}
				if q.Get("RelayState") != "rs-1" {
					t.Fatal("RelayState")
				}
			}
			var lr sentLogout
			if err := xml.Unmarshal(raw, &lr); err != nil {
				t.Fatal(err)
			}
			if lr.XMLName.Local != "LogoutResponse" || lr.InResponseTo != "id-req-1" || lr.Destination != idp.SLOURL || lr.Issuer != s.SP.EntityID {
				t.Fatalf("%+v", lr)
			}
			wantSigs := 0
			if tc.keys && tc.binding == samlsp.BindingPOST {
				wantSigs = 1
			}
			if len(lr.Signatures) != wantSigs {
				t.Fatalf("%d signatures inside the message, want %d", len(lr.Signatures), wantSigs)
			}
		})
	}
}
