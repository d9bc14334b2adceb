package models

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
)

// newToken returns a random URL-safe token (32 bytes) and its SHA-256 hash, which is
// all that is stored.
func newToken() (token, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is the stored form of a token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ErrAlreadySubmitted is returned, with nothing changed, for a form submission that
// already took effect (the same submit key again).
var ErrAlreadySubmitted = errors.New("this form was already submitted")

// NewSubmitKey is a fresh key for an owner's form that must act once however often it
// is submitted (Generate token, activate, Test Configuration): the page puts it in a
// hidden field, and the operation remembers the key it acted on.
func NewSubmitKey() string {
	k, _ := newToken()
	return k
}

// ValidSubmitKey returns k when it can be a submit key (URL-safe, 16 to 64
// characters), else "" (the submission then simply acts).
func ValidSubmitKey(k string) string {
	if len(k) < 16 || len(k) > 64 {
		return ""
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return ""
		}
	}
	return k
}
