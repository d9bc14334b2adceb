package models

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gatehouse/models/samlsp"
)

func testKeyring(t *testing.T, fill byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A sealed handoff opens only under its key and purpose, unaltered, before it expires;
// it carries its org and keeps the replay cache entry at least as long as it opens.
func TestSealedHandoff(t *testing.T) {
	ctx := context.Background()
	keys := testKeyring(t, 1)
	h := SAMLHandoff{Issuer: "https://idp.example", AssertionID: "a-1", ReplayUntil: time.Now(),
		Identity: samlsp.Identity{ID: "ada", Email: "ada@example.com"}, NameID: "ada",
		Attributes: map[string][]string{"email": {"ada@example.com"}}, Next: "/organizations/acme/"}
	start := time.Now()
	token, err := HandOffSAML(ctx, nil, keys, 7, h) // nil db: a sealed handoff writes nothing
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, sealedHandoffPrefix) || len(token) > MaxSealedHandoff {
		t.Fatalf("token %q is not a sealed handoff", token)
	}
	if strings.Contains(token, "ada") {
		t.Fatal("the token shows its content")
	}
	org, got, err := openSealedHandoff(keys, token, start.Add(HandoffLifetime-2*time.Second))
	if err != nil || org != 7 || got.Identity.Email != "ada@example.com" || got.AssertionID != "a-1" || got.Next != h.Next {
		t.Fatalf("open: org %d %+v %v", org, got, err)
	}
	if got.ReplayUntil.Before(start.Add(HandoffLifetime)) {
		t.Errorf("replay cache entry ends %v, before the token expires", got.ReplayUntil)
	}

	refused := map[string]func() (int64, SAMLHandoff, error){
		"expired": func() (int64, SAMLHandoff, error) {
			return openSealedHandoff(keys, token, start.Add(HandoffLifetime+time.Second))
		},
		"another key": func() (int64, SAMLHandoff, error) {
			return openSealedHandoff(testKeyring(t, 2), token, start)
		},
		"no key": func() (int64, SAMLHandoff, error) { return openSealedHandoff(nil, token, start) },
		"altered": func() (int64, SAMLHandoff, error) {
			b := []byte(token)
			i := len(sealedHandoffPrefix) + len(b)/2
			b[i] ^= 'A' ^ 'B'
			if b[i] == token[i] {
				b[i] = 'C'
			}
			return openSealedHandoff(keys, string(b), start)
		},
		"truncated": func() (int64, SAMLHandoff, error) { return openSealedHandoff(keys, token[:len(token)-4], start) },
		"another purpose": func() (int64, SAMLHandoff, error) {
			other := sealedHandoffPrefix + keys.SealTransit("something else", []byte(`{"org":7,"exp":9999999999}`))
			return openSealedHandoff(keys, other, start)
		},
	}
	for name, open := range refused {
		if _, _, err := open(); !errors.Is(err, ErrHandoffInvalid) {
			t.Errorf("%s: %v, want ErrHandoffInvalid", name, err)
		}
	}
}
