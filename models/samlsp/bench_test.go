package samlsp_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// BenchmarkValidateResponse is the validation of one signed response (pre-scan,
// parse, two RSA-SHA256 signature checks, policy), without the database.
func BenchmarkValidateResponse(b *testing.B) {
	idp := samltest.New(b, "https://idp.example")
	s := samlsp.Settings{SP: samlsp.NewSP("https://gatehouse.example", "acme"), IdP: idp.Settings()}
	raw := idp.Response(b, s.SP, samltest.User{NameID: "u1", Attributes: map[string][]string{"email": {"u1@example.com"}}}, samltest.Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := samlsp.ValidateResponse(s, raw, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRSA2048Verify is the floor: one RSA-2048 PKCS#1 v1.5 SHA-256 verification.
func BenchmarkRSA2048Verify(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256([]byte("signed info"))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}
