package samlsp_test

// ParseMetadata over metadata in each IdP's real shape (testdata/<idp>/metadata.xml),
// with certificates generated at test time and templated in, so that they are valid
// whenever the test runs. Placeholders: {{SIGNING}} and {{SIGNING2}} (signing
// certificates, one base64 line), {{SIGNING_WRAPPED}} (the first, wrapped and indented
// as Okta and Google publish it), {{ENCRYPTION}} (a certificate published only for
// encryption, which must never become a signing certificate) and {{VALID_UNTIL}}.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// metaCerts are the certificates templated into the fixtures.
type metaCerts struct {
	now                           time.Time
	signing, signing2, encryption []byte
	validUntil                    time.Time
}

var (
	metaKeyOnce sync.Once
	metaKey     *rsa.PrivateKey
)

// testCert is a self-signed RSA certificate for cn valid from notBefore to notAfter
// (one key for all of them: only the certificates differ).
func testCert(t *testing.T, cn string, notBefore, notAfter time.Time) []byte {
	t.Helper()
	metaKeyOnce.Do(func() {
		var err error
		if metaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Gatehouse tests"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &metaKey.PublicKey, metaKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func newMetaCerts(t *testing.T) metaCerts {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	until := now.Add(5 * 365 * 24 * time.Hour)
	return metaCerts{
		now:        now,
		signing:    testCert(t, "signing", now.Add(-time.Hour), until),
		signing2:   testCert(t, "signing (next)", now.Add(-time.Hour), until.Add(365*24*time.Hour)),
		encryption: testCert(t, "encryption", now.Add(-time.Hour), until),
		validUntil: until,
	}
}

// wrap renders base64 in 64-column lines indented like Okta's and Google's metadata.
func wrap(b64 string) string {
	var lines []string
	for len(b64) > 64 {
		lines = append(lines, b64[:64])
		b64 = b64[64:]
	}
	lines = append(lines, b64)
	return strings.Join(lines, "\n    ")
}

func b64(der []byte) string { return base64.StdEncoding.EncodeToString(der) }

func (c metaCerts) render(t *testing.T, template string) []byte {
	t.Helper()
	r := strings.NewReplacer(
		"{{SIGNING}}", b64(c.signing),
		"{{SIGNING2}}", b64(c.signing2),
		"{{SIGNING_WRAPPED}}", wrap(b64(c.signing)),
		"{{ENCRYPTION}}", b64(c.encryption),
		"{{VALID_UNTIL}}", c.validUntil.Format("2006-01-02T15:04:05.000Z"),
	)
	out := r.Replace(template)
	if strings.Contains(out, "{{") {
		t.Fatalf("unreplaced placeholder in %.80q", out[strings.Index(out, "{{"):])
	}
	return []byte(out)
}

func readTemplate(t *testing.T, idp string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", idp, "metadata.xml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseMetadataIdPShapes(t *testing.T) {
	c := newMetaCerts(t)
	tests := []struct {
		idp        string
		entityID   string
		ssoURL     string
		sloURL     string
		certs      [][]byte
		validUntil time.Time
	}{
		{idp: "okta",
			entityID: "http://www.okta.com/exk8gatehouse0test697",
			ssoURL:   "https://gatehouse-test.okta.com/app/gatehouse-test_gatehouse_1/exk8gatehouse0test697/sso/saml",
			certs:    [][]byte{c.signing}},
		{idp: "entra", // federation metadata: BOM, ds:Signature, RoleDescriptors
			entityID: "https://sts.windows.net/0c9d4b1e-7a2f-4c3d-8e5f-6a7b8c9d0e1f/",
			ssoURL:   "https://login.microsoftonline.com/0c9d4b1e-7a2f-4c3d-8e5f-6a7b8c9d0e1f/saml2",
			sloURL:   "https://login.microsoftonline.com/0c9d4b1e-7a2f-4c3d-8e5f-6a7b8c9d0e1f/saml2",
			certs:    [][]byte{c.signing}},
		{idp: "onelogin", // POST listed first: the Redirect endpoint is preferred
			entityID: "https://app.onelogin.com/saml/metadata/5f0e3c2a-9b8d-4e7f-a6c5-1d2e3f4a5b6c",
			ssoURL:   "https://gatehouse-test.onelogin.com/trust/saml2/http-redirect/sso/5f0e3c2a-9b8d-4e7f-a6c5-1d2e3f4a5b6c",
			sloURL:   "https://gatehouse-test.onelogin.com/trust/saml2/http-redirect/slo/2718281",
			certs:    [][]byte{c.signing}},
		{idp: "auth0", // two signing certificates (rollover), SLO over Redirect and POST
			entityID: "urn:gatehouse-test.eu.auth0.com",
			ssoURL:   "https://gatehouse-test.eu.auth0.com/samlp/Xq7GatehouseClientId0Test",
			sloURL:   "https://gatehouse-test.eu.auth0.com/samlp/Xq7GatehouseClientId0Test/logout",
			certs:    [][]byte{c.signing, c.signing2}},
		{idp: "jumpcloud", // POST only, certificate text padded with whitespace
			entityID: "gatehouse-jumpcloud",
			ssoURL:   "https://sso.jumpcloud.com/saml2/gatehouse",
			certs:    [][]byte{c.signing}},
		{idp: "google", // Redirect and POST, no SLO, validUntil
			entityID:   "https://accounts.google.com/o/saml2?idpid=C0gatehs1",
			ssoURL:     "https://accounts.google.com/o/saml2/idp?idpid=C0gatehs1",
			certs:      [][]byte{c.signing},
			validUntil: c.validUntil},
		{idp: "adfs", // two signing certificates and an encryption one, plus an SPSSODescriptor
			entityID: "http://adfs.gatehouse-test.example/adfs/services/trust",
			ssoURL:   "https://adfs.gatehouse-test.example/adfs/ls/",
			sloURL:   "https://adfs.gatehouse-test.example/adfs/ls/",
			certs:    [][]byte{c.signing, c.signing2}},
	}
	for _, tt := range tests {
		t.Run(tt.idp, func(t *testing.T) {
			idp, err := samlsp.ParseMetadata(c.render(t, readTemplate(t, tt.idp)), c.now)
			if err != nil {
				t.Fatalf("ParseMetadata: %v", err)
			}
			if idp.EntityID != tt.entityID {
				t.Errorf("EntityID %q, want %q", idp.EntityID, tt.entityID)
			}
			if idp.SSOURL != tt.ssoURL {
				t.Errorf("SSOURL %q, want %q", idp.SSOURL, tt.ssoURL)
			}
			if idp.SLOURL != tt.sloURL {
				t.Errorf("SLOURL %q, want %q", idp.SLOURL, tt.sloURL)
			}
			if len(idp.Certs) != len(tt.certs) {
				t.Fatalf("%d certificates, want %d", len(idp.Certs), len(tt.certs))
			}
			for i := range tt.certs {
				if string(idp.Certs[i]) != string(tt.certs[i]) {
					t.Errorf("certificate %d is not the expected one", i)
				}
			}
			for _, der := range idp.Certs {
				if string(der) == string(c.encryption) {
					t.Error("the encryption certificate was kept as a signing certificate")
				}
			}
			if !tt.validUntil.IsZero() && !idp.ValidUntil.Equal(tt.validUntil) {
				t.Errorf("ValidUntil %v, want %v", idp.ValidUntil, tt.validUntil)
			}
			if err := idp.Check(c.now); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

// The crewjam-generated metadata of the test IdP (signing and encryption
// KeyDescriptors holding the same certificate) parses to the registration samltest
// builds by hand.
func TestParseMetadataOfTestIdP(t *testing.T) {
	idp := samltest.New(t, "https://idp.example")
	got, err := samlsp.ParseMetadata(idp.Metadata(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := idp.Settings(); !reflect.DeepEqual(got.Certs, want.Certs) || got.EntityID != want.EntityID || got.SSOURL != want.SSOURL {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestParseMetadataErrors(t *testing.T) {
	c := newMetaCerts(t)
	okta := readTemplate(t, "okta")
	google := readTemplate(t, "google")
	jumpcloud := readTemplate(t, "jumpcloud")
	expired := testCert(t, "expired", time.Date(2019, 3, 4, 0, 0, 0, 0, time.UTC), time.Date(2020, 3, 4, 12, 0, 0, 0, time.UTC))
	spMeta, err := samlsp.Metadata(samlsp.NewSP("https://gatehouse.example", "acme"))
	if err != nil {
		t.Fatal(err)
	}
	body := func(s string) string { // an EntityDescriptor without its XML declaration
		return s[strings.Index(s, "<md:EntityDescriptor"):]
	}
	entities := func(descriptors ...string) []byte {
		return []byte(`<?xml version="1.0"?><md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" Name="federation">` +
			strings.Join(descriptors, "") + `</md:EntitiesDescriptor>`)
	}
	spBody := string(spMeta[strings.Index(string(spMeta), "<EntityDescriptor"):])

	tests := []struct {
		name   string
		data   []byte
		exact  string // the whole message
		prefix string // or its beginning
	}{
		{name: "no SSO endpoint with a supported binding",
			data: c.render(t, strings.NewReplacer(
				"bindings:HTTP-POST", "bindings:SOAP", "bindings:HTTP-Redirect", "bindings:HTTP-Artifact").Replace(okta)),
			exact: "no SingleSignOnService with HTTP-Redirect or HTTP-POST binding"},
		{name: "no SSO endpoint at all",
			data: c.render(t, strings.ReplaceAll(strings.ReplaceAll(google,
				`<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://accounts.google.com/o/saml2/idp?idpid=C0gatehs1"/>`, ""),
				`<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://accounts.google.com/o/saml2/idp?idpid=C0gatehs1"/>`, "")),
			exact: "no SingleSignOnService with HTTP-Redirect or HTTP-POST binding"},
		{name: "expired certificate",
			data:  c.render(t, strings.ReplaceAll(jumpcloud, "{{SIGNING}}", b64(expired))),
			exact: "the certificate is expired since 2020-03-04"},
		{name: "SP metadata instead of IdP metadata",
			data:  spMeta,
			exact: "the metadata has no IDPSSODescriptor: is it the metadata of the identity provider (not of a service provider)?"},
		{name: "EntitiesDescriptor with two IdPs",
			data:  c.render(t, string(entities(body(okta), body(google)))),
			exact: "the metadata lists 2 identity providers; paste the metadata of exactly one"},
		{name: "EntitiesDescriptor with no IdP",
			data:  entities(spBody),
			exact: "the metadata lists 0 identity providers; paste the metadata of exactly one"},
		{name: "not XML",
			data:  []byte("this is not XML at all"),
			exact: "the metadata is not valid XML: text outside the root element"},
		{name: "JSON",
			data:  []byte(`{"entityID": "https://idp.example"}`),
			exact: "the metadata is not valid XML: text outside the root element"},
		{name: "empty",
			data:  nil,
			exact: "the metadata is not valid XML: empty document"},
		{name: "truncated",
			data:   c.render(t, okta[:len(okta)/2]),
			prefix: "the metadata is not valid XML: not well-formed XML: "},
		{name: "an HTML page",
			data:  []byte(`<html><head><title>Sign in</title></head><body><p>404</p></body></html>`),
			exact: "this is not SAML metadata (the root element is html, not EntityDescriptor)"},
		{name: "an HTML page with a DOCTYPE",
			data:  []byte("<!DOCTYPE html>\n<html><body><p>Sign in</p></body></html>"),
			exact: "the metadata is not valid XML: XML directives (DOCTYPE, ENTITY) are not allowed"},
		{name: "DOCTYPE with entities",
			data: c.render(t, strings.Replace(okta, `<?xml version="1.0" encoding="UTF-8"?>`,
				`<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE md:EntityDescriptor [<!ENTITY e "x"><!ENTITY f "&e;&e;&e;&e;">]>`, 1)),
			exact: "the metadata is not valid XML: XML directives (DOCTYPE, ENTITY) are not allowed"},
		{name: "processing instruction",
			data:  c.render(t, strings.Replace(okta, `<md:IDPSSODescriptor`, `<?evil x?><md:IDPSSODescriptor`, 1)),
			exact: `the metadata is not valid XML: processing instruction "evil" is not allowed`},
		{name: "only an encryption certificate",
			data:  c.render(t, strings.Replace(okta, `<md:KeyDescriptor use="signing">`, `<md:KeyDescriptor use="encryption">`, 1)),
			exact: "the metadata has no signing certificate"},
		{name: "no entityID",
			data:  c.render(t, strings.Replace(okta, `entityID="http://www.okta.com/exk8gatehouse0test697"`, ``, 1)),
			exact: "the metadata has no entityID"},
		{name: "relative SSO URL",
			data: c.render(t, strings.ReplaceAll(jumpcloud, `Location="https://sso.jumpcloud.com/saml2/gatehouse"`, `Location="/saml2/gatehouse"`)),
			// crewjam refuses endpoint URLs without an http(s) scheme while reading.
			prefix: `the metadata could not be read: invalid url scheme ""`},
		{name: "javascript SLO URL",
			data: c.render(t, strings.ReplaceAll(readTemplate(t, "onelogin"),
				"https://gatehouse-test.onelogin.com/trust/saml2/http-redirect/slo/2718281", "javascript:alert(1)")),
			prefix: `the metadata could not be read: invalid url scheme "javascript"`},
		{name: "SSO URL without a host",
			data:  c.render(t, strings.ReplaceAll(jumpcloud, `Location="https://sso.jumpcloud.com/saml2/gatehouse"`, `Location="https:///saml2/gatehouse"`)),
			exact: "the SSO URL must be an absolute http(s) URL"},
		{name: "certificate that is not base64",
			data:   c.render(t, strings.Replace(okta, "{{SIGNING_WRAPPED}}", "not*a*certificate", 1)),
			prefix: "a signing certificate in the metadata cannot be read: not base64"},
		{name: "certificate that is base64 but not a certificate",
			data:   c.render(t, strings.Replace(okta, "{{SIGNING_WRAPPED}}", b64([]byte("hello, world")), 1)),
			prefix: "a signing certificate in the metadata cannot be read: "},
		{name: "larger than MaxMetadataSize",
			data:  c.render(t, strings.Replace(okta, "</md:EntityDescriptor>", strings.Repeat(" ", samlsp.MaxMetadataSize)+"</md:EntityDescriptor>", 1)),
			exact: "the metadata is larger than 1024 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp, err := samlsp.ParseMetadata(tt.data, c.now)
			if err == nil {
				t.Fatalf("accepted: %+v", idp)
			}
			var me *samlsp.MetadataError
			if !errors.As(err, &me) {
				t.Fatalf("not a *MetadataError: %T %v", err, err)
			}
			switch {
			case tt.exact != "" && err.Error() != tt.exact:
				t.Errorf("error %q\nwant    %q", err, tt.exact)
			case tt.prefix != "" && !strings.HasPrefix(err.Error(), tt.prefix):
				t.Errorf("error %q\nwant prefix %q", err, tt.prefix)
			}
		})
	}
}

func TestParseMetadataAccepted(t *testing.T) {
	c := newMetaCerts(t)
	jumpcloud := readTemplate(t, "jumpcloud")
	expired := testCert(t, "expired", time.Date(2019, 3, 4, 0, 0, 0, 0, time.UTC), time.Date(2020, 3, 4, 12, 0, 0, 0, time.UTC))

	// An EntitiesDescriptor holding one IdP (and an SP) is that IdP.
	spMeta, _ := samlsp.Metadata(samlsp.NewSP("https://gatehouse.example", "acme"))
	okta := readTemplate(t, "okta")
	data := c.render(t, `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">`+
		okta[strings.Index(okta, "<md:EntityDescriptor"):]+
		string(spMeta[strings.Index(string(spMeta), "<EntityDescriptor"):])+`</md:EntitiesDescriptor>`)
	idp, err := samlsp.ParseMetadata(data, c.now)
	if err != nil || idp.EntityID != "http://www.okta.com/exk8gatehouse0test697" {
		t.Fatalf("EntitiesDescriptor with one IdP: %+v %v", idp, err)
	}

	// During a rollover an expired certificate next to a valid one is no error; both
	// are kept (signatures are checked against the valid one).
	two := strings.Replace(jumpcloud, `</md:KeyDescriptor>`, `</md:KeyDescriptor><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>`+b64(expired)+`</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`, 1)
	idp, err = samlsp.ParseMetadata(c.render(t, two), c.now)
	if err != nil || len(idp.Certs) != 2 {
		t.Fatalf("rollover with an expired certificate: %+v %v", idp, err)
	}

	// Expiry is judged at the instant given, not at the wall clock.
	old := strings.ReplaceAll(jumpcloud, "{{SIGNING}}", b64(expired))
	if _, err := samlsp.ParseMetadata(c.render(t, old), time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatalf("a certificate valid at now was refused: %v", err)
	}

	// A KeyDescriptor without use is for signing too; the same certificate twice is
	// kept once.
	dup := strings.Replace(okta, `<md:KeyDescriptor use="signing">`, `<md:KeyDescriptor>`, 1)
	dup = strings.Replace(dup, `</md:KeyDescriptor>`, `</md:KeyDescriptor><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{{SIGNING}}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`, 1)
	idp, err = samlsp.ParseMetadata(c.render(t, dup), c.now)
	if err != nil || len(idp.Certs) != 1 {
		t.Fatalf("duplicate certificate: %+v %v", idp, err)
	}
}

// The "fields" registration method (SPEC §3.2): entity ID, SSO URL, SLO URL, PEM or
// bare base64 certificate, checked by IdP.Check.
func TestIdPCheckFields(t *testing.T) {
	now := time.Now()
	valid := testCert(t, "fields", now.Add(-time.Hour), now.Add(time.Hour*24*365))
	expired := testCert(t, "expired", time.Date(2019, 3, 4, 0, 0, 0, 0, time.UTC), time.Date(2020, 3, 4, 12, 0, 0, 0, time.UTC))
	ok := samlsp.IdP{EntityID: "https://idp.example/", SSOURL: "https://idp.example/sso", Certs: [][]byte{valid}}
	if err := ok.Check(now); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*samlsp.IdP)
		want string
	}{
		{"no entity ID", func(i *samlsp.IdP) { i.EntityID = "  " }, "enter the IdP entity ID"},
		{"no SSO URL", func(i *samlsp.IdP) { i.SSOURL = "" }, "the SSO URL must be an absolute http(s) URL"},
		{"ftp SSO URL", func(i *samlsp.IdP) { i.SSOURL = "ftp://idp.example/sso" }, "the SSO URL must be an absolute http(s) URL"},
		{"bad SLO URL", func(i *samlsp.IdP) { i.SLOURL = "idp.example/slo" }, "the SLO URL must be an absolute http(s) URL"},
		{"expired certificate", func(i *samlsp.IdP) { i.Certs = [][]byte{expired} }, "the certificate is expired since 2020-03-04"},
		{"no certificate", func(i *samlsp.IdP) { i.Certs = nil }, "no signing certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := ok
			tt.edit(&i)
			err := i.Check(now)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseCertificates(t *testing.T) {
	now := time.Now()
	one := testCert(t, "one", now.Add(-time.Hour), now.Add(time.Hour*24*365))
	two := testCert(t, "two", now.Add(-time.Hour), now.Add(time.Hour*24*365))
	pemOne := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: one}))
	bare := b64(one)
	var wrapped76 []string
	for s := bare; len(s) > 0; {
		n := min(76, len(s))
		wrapped76 = append(wrapped76, s[:n])
		s = s[n:]
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte("not really a key")}))

	good := []struct {
		name string
		text string
		want [][]byte
	}{
		{"PEM", pemOne, [][]byte{one}},
		{"PEM with surrounding whitespace", "\n\t  " + pemOne + "\n\n  ", [][]byte{one}},
		{"PEM with CRLF line endings", strings.ReplaceAll(pemOne, "\n", "\r\n"), [][]byte{one}},
		{"two PEM blocks", samlsp.EncodePEM([][]byte{one, two}), [][]byte{one, two}},
		{"bare base64", bare, [][]byte{one}},
		{"bare base64 wrapped at 76 columns", strings.Join(wrapped76, "\n"), [][]byte{one}},
		{"bare base64 with CRLF, tabs and spaces", "  " + strings.Join(wrapped76, "\r\n\t ") + " \r\n", [][]byte{one}},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			got, err := samlsp.ParseCertificates(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %d certificates, not the expected ones", len(got))
			}
		})
	}

	bad := []struct {
		name   string
		text   string
		exact  string
		prefix string
	}{
		{name: "empty", text: " \n\t ", exact: "paste the IdP's X.509 signing certificate"},
		{name: "garbage", text: "hello, this is my certificate!", prefix: "the certificate cannot be read: not base64"},
		{name: "base64 but not a certificate", text: b64([]byte("definitely not DER")), prefix: "the certificate cannot be read: "},
		{name: "a private key block", text: keyPEM, exact: "a RSA PRIVATE KEY block is not a certificate"},
		{name: "a certificate after a private key block", text: keyPEM + pemOne, exact: "a RSA PRIVATE KEY block is not a certificate"},
		{name: "PEM armour around garbage", text: "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n", exact: "the PEM text holds no certificate"},
		{name: "PEM block of garbage DER", text: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})), prefix: "the certificate cannot be read: "},
		{name: "truncated base64 certificate", text: bare[:len(bare)/2], prefix: "the certificate cannot be read: "},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			got, err := samlsp.ParseCertificates(tt.text)
			if err == nil {
				t.Fatalf("accepted %d certificates", len(got))
			}
			if tt.exact != "" && err.Error() != tt.exact {
				t.Errorf("error %q, want %q", err, tt.exact)
			}
			if tt.prefix != "" && !strings.HasPrefix(err.Error(), tt.prefix) {
				t.Errorf("error %q, want prefix %q", err, tt.prefix)
			}
		})
	}
}

func TestFingerprintAndPEM(t *testing.T) {
	now := time.Now()
	der := testCert(t, "fp", now.Add(-time.Hour), now.Add(time.Hour))
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var pairs []string
	for i := 0; i < len(h); i += 2 {
		pairs = append(pairs, h[i:i+2])
	}
	if got, want := samlsp.Fingerprint(der), strings.Join(pairs, ":"); got != want {
		t.Fatalf("Fingerprint %s, want %s", got, want)
	}
	back, err := samlsp.ParseCertificates(samlsp.EncodePEM([][]byte{der}))
	if err != nil || len(back) != 1 || string(back[0]) != string(der) {
		t.Fatalf("EncodePEM round trip: %v", err)
	}
}
