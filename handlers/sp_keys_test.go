package handlers_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/samlsp/samltest"
)

// TestSignedRequestsAndEncryptedAssertions: an org turns on its own SP key pair.
func TestSignedRequestsAndEncryptedAssertions(t *testing.T) {
	e := newSSOEnv(t, true)
	if res := e.owner.Post("/settings/acme/auth/sp-keys/", url.Values{"sign_requests": {"1"}, "require_encrypted": {"1"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", res.Status, res.Body)
	}
	p, err := models.ProviderOf(t.Context(), e.a.DB.Bun, 1)
	if err != nil || !p.SignRequests || !p.RequireEncrypted || p.SPKeySealed == "" {
		t.Fatalf("provider %+v %v", p, err)
	}
	if strings.Contains(p.SPKeySealed, "PRIVATE KEY") {
		t.Fatal("the SP key is stored in clear")
	}
	cert, err := x509.ParseCertificate(p.SPCert)
	if err != nil {
		t.Fatal(err)
	}
	// The SP metadata publishes the certificate for signing and encryption.
	md := e.a.Client(t).Get("/saml/metadata/acme/")
	if !strings.Contains(md.Body, base64.StdEncoding.EncodeToString(cert.Raw)) || !strings.Contains(md.Body, `use="encryption"`) || !strings.Contains(md.Body, `AuthnRequestsSigned="true"`) {
		t.Fatalf("metadata: %s", md.Body)
	}
	// The AuthnRequest redirect is signed over SAMLRequest, RelayState and SigAlg.
	c := e.a.Client(t)
	start := c.Post("/auth/login/acme/", nil)
	u, _ := url.Parse(start.Location)
	raw := u.RawQuery
	sigAt := strings.Index(raw, "&Signature=")
	if sigAt < 0 || u.Query().Get("SigAlg") != "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" {
		t.Fatalf("unsigned AuthnRequest: %s", start.Location)
	}
	sig, _ := base64.StdEncoding.DecodeString(u.Query().Get("Signature"))
	sum := sha256.Sum256([]byte(raw[:sigAt]))
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("AuthnRequest signature: %v", err)
	}
	// An encrypted assertion is accepted; a plaintext one is refused now.
	relay, id := authnRequest(t, start)
	res := e.post(c, e.idp.Response(t, e.sp, user("enc-1", "enc@example.com"), samltest.Options{InResponseTo: id, EncryptFor: cert}), relay)
	if res.Status != http.StatusSeeOther {
		t.Fatalf("encrypted: %d %s", res.Status, res.Body)
	}
	plain := e.a.Client(t)
	relay, id = authnRequest(t, plain.Post("/auth/login/acme/", nil))
	if res := e.post(plain, e.idp.Response(t, e.sp, user("enc-2", "plain@example.com"), samltest.Options{InResponseTo: id}), relay); res.Status != http.StatusForbidden {
		t.Fatalf("plaintext accepted: %d", res.Status)
	}
	if n := count(t, e.a, "SELECT count(*) FROM sso_signins WHERE reason = 'invalid_response' AND hint LIKE '%not encrypted%'"); n != 1 {
		t.Fatal("refusal not logged")
	}
}
