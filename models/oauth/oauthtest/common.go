package oauthtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// CodeLifetime is how long an authorization code can be exchanged (10 minutes at both
// Google and GitHub).
const CodeLifetime = 10 * time.Minute

// signingKeys are generated once per test binary: RSA-2048 key generation is slow and
// nothing depends on servers having distinct keys (their issuers differ).
var signingKeys = sync.OnceValue(func() *keys {
	good, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("oauthtest: generating RSA key: %v", err))
	}
	bad, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("oauthtest: generating RSA key: %v", err))
	}
	pub := jose.JSONWebKey{Key: &good.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		panic(fmt.Sprintf("oauthtest: key thumbprint: %v", err))
	}
	sum := sha1.Sum(tp) // Google's key ids are 40 hex digits
	pub.KeyID = hex.EncodeToString(sum[:])
	return &keys{good: good, bad: bad, kid: pub.KeyID, jwks: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}}}
})

type keys struct {
	good, bad *rsa.PrivateKey // bad is never published: for BadSignature
	kid       string
	jwks      jose.JSONWebKeySet
}

// sign returns the compact RS256 JWS of claims, with the published key id, signed with
// the published key or, when forged, with another key.
func (k *keys) sign(claims any, forged bool) (string, error) {
	priv := k.good
	if forged {
		priv = k.bad
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: k.kid, Algorithm: string(jose.RS256)}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// randomString returns n random bytes, base64url-encoded without padding.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func randomBase62(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = base62[int(b[i])%len(base62)]
	}
	return string(b)
}

// checkPKCE reports why verifier does not match the S256 challenge, or "" when it does.
func checkPKCE(challenge, verifier string) string {
	if verifier == "" {
		return "Missing code verifier."
	}
	if len(verifier) < 43 || len(verifier) > 128 || strings.Trim(verifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") != "" {
		return "Invalid code verifier."
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) != 1 {
		return "Invalid code verifier."
	}
	return ""
}

// validChallenge reports whether c looks like a base64url S256 challenge (RFC 7636 §4.2).
func validChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil
}

// clientCredentials extracts the client id and secret from HTTP Basic (form-decoded, as
// RFC 6749 §2.3.1 and x/oauth2 encode them) or from the form. ok is false when both are
// used at once, which RFC 6749 forbids.
func clientCredentials(r *http.Request) (id, secret string, ok bool) {
	if u, p, basic := r.BasicAuth(); basic {
		if r.PostForm.Get("client_secret") != "" {
			return "", "", false
		}
		id, err1 := url.QueryUnescape(u)
		secret, err2 := url.QueryUnescape(p)
		if err1 != nil || err2 != nil {
			return "", "", false
		}
		return id, secret, true
	}
	return r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), true
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// validRedirectURI reports whether u is an absolute http(s) URL without a fragment and,
// when allowed is not empty, exactly one of allowed.
func validRedirectURI(u string, allowed []string) bool {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.Fragment != "" || strings.Contains(u, "#") {
		return false
	}
	return len(allowed) == 0 || slices.Contains(allowed, u)
}

// redirectWith appends params to the redirect URI's query, keeping its own parameters.
func redirectWith(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	u, _ := url.Parse(redirectURI)
	q := u.Query()
	for k, vs := range params {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errorPage is what both providers show in the browser when they cannot redirect back
// (unknown client, bad redirect_uri): an error page, never a redirect.
func errorPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// bearerToken returns the token of an "Authorization: Bearer|token X" header.
func bearerToken(r *http.Request, schemes ...string) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok {
		return ""
	}
	for _, s := range schemes {
		if strings.EqualFold(scheme, s) {
			return strings.TrimSpace(tok)
		}
	}
	return ""
}

// cloneValues deep-copies v.
func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = slices.Clone(vs)
	}
	return c
}

// stableNumber derives a positive number of the given number of digits from s, so that
// the same email always gets the same default Google sub / GitHub id.
func stableNumber(s string, digits int) string {
	sum := sha256.Sum256([]byte(s))
	var b strings.Builder
	b.WriteByte('1')
	for i := 0; b.Len() < digits; i++ {
		b.WriteByte('0' + sum[i%len(sum)]%10)
	}
	return b.String()
}

// maxFormBytes bounds token request bodies.
const maxFormBytes = 64 << 10

func parsePostForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	return r.ParseForm()
}

// Authorize is the browser's visit to an authorization URL (as built by
// oauth2.Config.AuthCodeURL): it GETs authURL without following redirects and returns
// where the provider sends the browser back — the redirect URI with code and state, or
// with error and state. Any other answer (an error page) is returned as an error.
func Authorize(authURL string) (*url.URL, error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("oauthtest: authorization request: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return resp.Location()
}
