package models

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/uptrace/bun"

	"gatehouse/models/samlsp"
)

// Keyring seals secrets kept in the database (the orgs' SP private keys) with
// AES-256-GCM under a key derived from GATEHOUSE_SECRET_KEY, and short-lived values
// that travel through the browser (SealTransit) under another.
type Keyring struct {
	aead    cipher.AEAD
	transit cipher.AEAD
	macKey  []byte
}

// NewKeyring derives the sealing key from secret (at least 32 bytes).
func NewKeyring(secret []byte) (*Keyring, error) {
	if len(secret) < 32 {
		return nil, errors.New("the secret key must have at least 32 bytes")
	}
	sum := sha256.Sum256(append([]byte("gatehouse sp keys v1\x00"), secret...))
	block, err := aes.NewCipher(sum[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	transitKey := sha256.Sum256(append([]byte("gatehouse transit v1\x00"), secret...))
	transitBlock, err := aes.NewCipher(transitKey[:])
	if err != nil {
		return nil, err
	}
	transit, err := cipher.NewGCM(transitBlock)
	if err != nil {
		return nil, err
	}
	mac := sha256.Sum256(append([]byte("gatehouse cookie mac v1\x00"), secret...))
	return &Keyring{aead: aead, transit: transit, macKey: mac[:]}, nil
}

// MAC is HMAC-SHA256 of msg under a key derived from the secret (signed cookies).
func (k *Keyring) MAC(msg []byte) []byte {
	m := hmac.New(sha256.New, k.macKey)
	m.Write(msg)
	return m.Sum(nil)
}

func (k *Keyring) seal(plain []byte) string {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(k.aead.Seal(nonce, nonce, plain, nil))
}

func (k *Keyring) open(sealed string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < k.aead.NonceSize() {
		return nil, errors.New("sealed secret is damaged")
	}
	plain, err := k.aead.Open(nil, b[:k.aead.NonceSize()], b[k.aead.NonceSize():], nil)
	if err != nil {
		return nil, errors.New("sealed secret does not open with this GATEHOUSE_SECRET_KEY")
	}
	return plain, nil
}

// SealTransit encrypts and authenticates plain for a short trip through the browser
// (a URL path segment: unpadded base64url). purpose is bound in: a value sealed for
// one purpose does not open for another. The caller bounds its lifetime and its use.
func (k *Keyring) SealTransit(purpose string, plain []byte) string {
	nonce := make([]byte, k.transit.NonceSize(), k.transit.NonceSize()+len(plain)+k.transit.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(k.transit.Seal(nonce, nonce, plain, []byte(purpose)))
}

// ErrTransitDamaged is returned for a transit value that does not open: damaged,
// forged, sealed for another purpose or under another GATEHOUSE_SECRET_KEY.
var ErrTransitDamaged = errors.New("sealed value does not open")

// OpenTransit opens what SealTransit sealed for purpose.
func (k *Keyring) OpenTransit(purpose, sealed string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < k.transit.NonceSize()+k.transit.Overhead() {
		return nil, ErrTransitDamaged
	}
	plain, err := k.transit.Open(nil, b[:k.transit.NonceSize()], b[k.transit.NonceSize():], []byte(purpose))
	if err != nil {
		return nil, ErrTransitDamaged
	}
	return plain, nil
}

// SPKeyOptions are the org's optional SAML hardening switches (SPEC §3.10).
type SPKeyOptions struct {
	SignRequests     bool
	RequireEncrypted bool
}

// ConfigureSPKeys turns signed AuthnRequests and required encrypted assertions on or
// off for org's SAML provider, generating the org's SP key pair (RSA-2048, a
// self-signed certificate for 10 years) the first time one is needed. The
// certificate is published in the SP metadata; the IdP must be given it again.
func ConfigureSPKeys(ctx context.Context, db bun.IDB, keys *Keyring, orgID int64, actor Actor, in SPKeyOptions, spEntityID string) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		p := new(AuthProvider)
		if err := tx.NewSelect().Model(p).Where("org_id = ?", orgID).For("UPDATE").Scan(ctx); err != nil {
			return notFound(err, "auth provider")
		}
		if !p.IsSAML() {
			return Invalid("sign_requests", "Signed requests and encrypted assertions are SAML features.")
		}
		if (in.SignRequests || in.RequireEncrypted) && p.SPKeySealed == "" {
			sealed, cert, err := newSPKeyPair(keys, spEntityID)
			if err != nil {
				return err
			}
			if _, err := tx.NewUpdate().Model(p).Set("sp_key_sealed = ?", sealed).Set("sp_cert = ?", cert).WherePK().Exec(ctx); err != nil {
				return err
			}
		}
		if _, err := tx.NewUpdate().Model(p).Set("sign_requests = ?", in.SignRequests).Set("require_encrypted = ?", in.RequireEncrypted).
			Set("updated_at = now()").WherePK().Exec(ctx); err != nil {
			return err
		}
		return audit(ctx, tx, orgID, actor, EventSSOSettingsChanged, p.DisplayName(), map[string]any{"setting": "sp_keys",
			"old": fmt.Sprintf("sign=%v encrypt=%v", p.SignRequests, p.RequireEncrypted),
			"new": fmt.Sprintf("sign=%v encrypt=%v", in.SignRequests, in.RequireEncrypted)})
	})
}

func newSPKeyPair(keys *Keyring, cn string) (string, []byte, error) {
	if keys == nil {
		return "", nil, errors.New("no GATEHOUSE_SECRET_KEY keyring to seal the SP key with")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", nil, err
	}
	return keys.seal(pk), der, nil
}

// WithSPKeys adds the org's SP key pair and switches to s (no-op without a key pair).
func WithSPKeys(s samlsp.Settings, p *AuthProvider, keys *Keyring) (samlsp.Settings, error) {
	if p.SPKeySealed == "" || keys == nil {
		return s, nil
	}
	pk, err := keys.open(p.SPKeySealed)
	if err != nil {
		return s, err
	}
	key, err := x509.ParsePKCS8PrivateKey(pk)
	if err != nil {
		return s, fmt.Errorf("SP key: %w", err)
	}
	cert, err := x509.ParseCertificate(p.SPCert)
	if err != nil {
		return s, fmt.Errorf("SP certificate: %w", err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return s, errors.New("SP key is not RSA")
	}
	s.SPKey, s.SP.Cert = rk, cert
	s.SP.SignsRequests, s.RequireEncrypted = p.SignRequests, p.RequireEncrypted
	return s, nil
}
