package oauthtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Paths of the Google endpoints, relative to Google.URL.
const (
	GoogleDiscoveryPath = "/.well-known/openid-configuration"
	GoogleAuthPath      = "/o/oauth2/v2/auth"
	GoogleTokenPath     = "/token"
	GoogleJWKSPath      = "/oauth2/v3/certs"
	GoogleUserInfoPath  = "/v1/userinfo"
)

// Google scopes: the short names and the URL forms Google also accepts.
const (
	googleEmailScope   = "https://www.googleapis.com/auth/userinfo.email"
	googleProfileScope = "https://www.googleapis.com/auth/userinfo.profile"
)

// Google is an in-process Google OpenID provider. Its issuer is URL: point go-oidc at it
// with oidc.NewProvider(ctx, g.URL) and x/oauth2 with provider.Endpoint() or g.Endpoint().
type Google struct {
	URL, ClientID, ClientSecret string
	Server                      *httptest.Server

	tb testing.TB

	mu           sync.Mutex
	next         *GoogleUser
	redirectURIs []string
	codes        map[string]*googleCode
	tokens       map[string]googleUserInfo // access token → what /v1/userinfo returns
	authRequests []url.Values
}

// GoogleUser is who signs in at the next authorization requests, and how the ID token
// issued for them is built.
//
// Sub defaults to a 21-digit number derived from Email (stable across sign-ins). HD is
// the Workspace domain: leave it empty for a personal (gmail.com) account. The email and
// email_verified claims are only in the ID token when the "email" scope was requested,
// the name claims only with "profile", as at Google.
type GoogleUser struct {
	Sub, Email, Name, GivenName, FamilyName, HD string
	EmailVerified                               bool

	Deny         bool   // the user refuses consent: redirect with error=access_denied
	Expired      bool   // the ID token's exp is in the past (iat two hours ago, exp one hour ago)
	Audience     string // override aud (wrong audience)
	Issuer       string // override iss
	BadSignature bool   // sign with another key than the JWKS one (same kid)
	DropNonce    bool   // omit the nonce
	Nonce        string // override the nonce (mismatch); ignored when DropNonce
}

type googleCode struct {
	user        GoogleUser
	clientID    string
	redirectURI string
	challenge   string
	nonce       string
	scopes      []string
	expires     time.Time
	redeemed    bool
	accessToken string // issued at redemption; revoked if the code is replayed
}

type googleUserInfo map[string]any

// NewGoogle starts a Google provider for one OAuth client; it is closed when the test ends.
func NewGoogle(t testing.TB, clientID, clientSecret string) *Google {
	t.Helper()
	signingKeys() // generate the keys now, not inside the first request
	g := &Google{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		tb:           t,
		codes:        map[string]*googleCode{},
		tokens:       map[string]googleUserInfo{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+GoogleDiscoveryPath, g.discovery)
	mux.HandleFunc("GET "+GoogleJWKSPath, g.jwks)
	mux.HandleFunc("GET "+GoogleAuthPath, g.authorize)
	mux.HandleFunc("POST "+GoogleTokenPath, g.token)
	mux.HandleFunc(GoogleUserInfoPath, g.userinfo)
	g.Server = httptest.NewServer(mux)
	g.URL = g.Server.URL
	t.Cleanup(g.Server.Close)
	return g
}

// SetNextUser sets who signs in at the following authorization requests (until the next
// call). Without a user, the authorization endpoint answers 400.
func (g *Google) SetNextUser(u GoogleUser) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.next = &u
}

// SetRedirectURIs registers the client's authorized redirect URIs: from then on an
// authorization request must use exactly one of them, as at Google. By default any
// absolute http(s) redirect URI is accepted (test servers have random ports).
func (g *Google) SetRedirectURIs(uris ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.redirectURIs = slices.Clone(uris)
}

// AuthRequests returns the query parameters of every request received by the
// authorization endpoint, oldest first (including rejected ones).
func (g *Google) AuthRequests() []url.Values {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]url.Values, len(g.authRequests))
	for i, v := range g.authRequests {
		out[i] = cloneValues(v)
	}
	return out
}

// Endpoint is the x/oauth2 endpoint of this provider (what go-oidc's
// Provider.Endpoint() also returns). AuthStyle is left to auto-detection: the token
// endpoint accepts both HTTP Basic and form credentials.
func (g *Google) Endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: g.URL + GoogleAuthPath, TokenURL: g.URL + GoogleTokenPath}
}

// IDToken returns an ID token for u, as the token endpoint would issue it for a request
// with the given nonce and the scopes openid, email and profile, with an at_hash of
// accessToken when it is not empty. For tests of ID token verification alone.
func (g *Google) IDToken(u GoogleUser, nonce, accessToken string) string {
	g.tb.Helper()
	tok, err := signingKeys().sign(g.idClaims(u, nonce, []string{"openid", "email", "profile"}, accessToken), u.BadSignature)
	if err != nil {
		g.tb.Fatalf("oauthtest: signing ID token: %v", err)
	}
	return tok
}

// SignJWT signs arbitrary claims with the provider's published key (RS256, kid set), for
// tests that need an ID token no GoogleUser describes.
func (g *Google) SignJWT(claims any) string {
	g.tb.Helper()
	tok, err := signingKeys().sign(claims, false)
	if err != nil {
		g.tb.Fatalf("oauthtest: signing JWT: %v", err)
	}
	return tok
}

// ExpireCodes makes every authorization code issued so far expired, as if
// CodeLifetime had passed.
func (g *Google) ExpireCodes() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.codes {
		c.expires = time.Now().Add(-time.Second)
	}
}

func (g *Google) logf(format string, args ...any) {
	g.tb.Helper()
	g.tb.Logf("oauthtest: google: "+format, args...)
}

func (g *Google) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                g.URL,
		"authorization_endpoint":                g.URL + GoogleAuthPath,
		"token_endpoint":                        g.URL + GoogleTokenPath,
		"userinfo_endpoint":                     g.URL + GoogleUserInfoPath,
		"jwks_uri":                              g.URL + GoogleJWKSPath,
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"claims_supported": []string{"aud", "email", "email_verified", "exp", "family_name", "given_name",
			"hd", "iat", "iss", "name", "nonce", "sub"},
		"code_challenge_methods_supported": []string{"S256"},
		"grant_types_supported":            []string{"authorization_code"},
	})
}

func (g *Google) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Cache-Control", "public, max-age=20000, must-revalidate, no-transform")
	_ = json.NewEncoder(w).Encode(signingKeys().jwks)
}

// authorize is the browser-facing authorization endpoint. Problems with the client or
// the redirect URI are shown as an error page; once the redirect URI is trusted, other
// problems are sent back to it as ?error=…&error_description=…&state=… (RFC 6749 §4.1.2.1).
func (g *Google) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.authRequests = append(g.authRequests, cloneValues(q))

	if q.Get("client_id") != g.ClientID {
		g.logf("authorization request rejected: unknown client_id %q", q.Get("client_id"))
		errorPage(w, http.StatusUnauthorized, "Error 401: invalid_client\nThe OAuth client was not found.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" {
		g.logf("authorization request rejected: missing redirect_uri")
		errorPage(w, http.StatusBadRequest, "Error 400: invalid_request\nMissing required parameter: redirect_uri")
		return
	}
	if !validRedirectURI(redirectURI, g.redirectURIs) {
		g.logf("authorization request rejected: redirect_uri %q not allowed (registered: %q)", redirectURI, g.redirectURIs)
		errorPage(w, http.StatusBadRequest, "Error 400: redirect_uri_mismatch")
		return
	}
	state := q.Get("state")
	fail := func(code, desc string) {
		g.logf("authorization request rejected: %s: %s", code, desc)
		v := url.Values{"error": {code}, "error_description": {desc}}
		if state != "" {
			v.Set("state", state)
		}
		redirectWith(w, r, redirectURI, v)
	}
	if rt := q.Get("response_type"); rt != "code" {
		fail("unsupported_response_type", "Invalid response_type: "+rt+" (only code is supported)")
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	if !slices.Contains(scopes, "openid") {
		fail("invalid_scope", "scope must contain openid")
		return
	}
	if state == "" {
		fail("invalid_request", "oauthtest: state is required")
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if challenge == "" {
		fail("invalid_request", "oauthtest: PKCE is required: missing code_challenge")
		return
	}
	if method != "S256" {
		fail("invalid_request", "oauthtest: code_challenge_method must be S256, got "+strconv.Quote(method))
		return
	}
	if !validChallenge(challenge) {
		fail("invalid_request", "Invalid code_challenge")
		return
	}
	if g.next == nil {
		g.logf("authorization request rejected: no user is signed in: call SetNextUser")
		errorPage(w, http.StatusBadRequest, "oauthtest: no user is signed in at Google: call SetNextUser")
		return
	}
	u := *g.next
	if u.Deny {
		redirectWith(w, r, redirectURI, url.Values{"error": {"access_denied"}, "state": {state}})
		return
	}
	code := "4/0" + randomString(48) // real codes look like "4/0Ab…": the slash must survive URL encoding
	g.codes[code] = &googleCode{
		user:        u,
		clientID:    g.ClientID,
		redirectURI: redirectURI,
		challenge:   challenge,
		nonce:       q.Get("nonce"),
		scopes:      scopes,
		expires:     time.Now().Add(CodeLifetime),
	}
	back := url.Values{
		"code":     {code},
		"state":    {state},
		"scope":    {googleGrantedScopes(scopes)},
		"authuser": {"0"},
		"prompt":   {"consent"},
	}
	if u.HD != "" {
		back.Set("hd", u.HD)
	}
	redirectWith(w, r, redirectURI, back)
}

func (g *Google) tokenError(w http.ResponseWriter, status int, code, desc string) {
	g.logf("token request rejected: %s: %s", code, desc)
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (g *Google) token(w http.ResponseWriter, r *http.Request) {
	if err := parsePostForm(w, r); err != nil {
		g.tokenError(w, http.StatusBadRequest, "invalid_request", "cannot parse form: "+err.Error())
		return
	}
	f := r.PostForm
	id, secret, ok := clientCredentials(r)
	if !ok {
		g.tokenError(w, http.StatusBadRequest, "invalid_request", "client authentication: use HTTP Basic or the form, not both")
		return
	}
	if id != g.ClientID {
		g.tokenError(w, http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
		return
	}
	if !constantTimeEqual(secret, g.ClientSecret) {
		g.tokenError(w, http.StatusUnauthorized, "invalid_client", "Unauthorized")
		return
	}
	if gt := f.Get("grant_type"); gt != "authorization_code" {
		g.tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	code := f.Get("code")
	if code == "" {
		g.tokenError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: code")
		return
	}

	g.mu.Lock()
	c := g.codes[code]
	switch {
	case c == nil:
		g.mu.Unlock()
		g.tokenError(w, http.StatusBadRequest, "invalid_grant", "Malformed auth code.")
		return
	case c.redeemed:
		delete(g.tokens, c.accessToken) // a replayed code revokes what it was exchanged for
		g.mu.Unlock()
		g.tokenError(w, http.StatusBadRequest, "invalid_grant", "Bad Request (oauthtest: code already redeemed)")
		return
	case time.Now().After(c.expires):
		g.mu.Unlock()
		g.tokenError(w, http.StatusBadRequest, "invalid_grant", "Bad Request (oauthtest: code expired)")
		return
	case c.clientID != id:
		g.mu.Unlock()
		g.tokenError(w, http.StatusBadRequest, "invalid_grant", "Bad Request (oauthtest: code issued to another client)")
		return
	}
	if ru := f.Get("redirect_uri"); ru == "" {
		g.mu.Unlock()
		g.tokenError(w, http.StatusBadRequest, "invalid_request", "Missing parameter: redirect_uri")
		return
	} else if ru != c.redirectURI {
		g.mu.Unlock()
		g.tokenError(w, http.StatusBadRequest, "redirect_uri_mismatch", "Bad Request")
		return
	}
	if why := checkPKCE(c.challenge, f.Get("code_verifier")); why != "" {
		g.mu.Unlock()
		g.tokenError(w, http.StatusBadRequest, "invalid_grant", why)
		return
	}
	c.redeemed = true
	c.accessToken = "ya29." + randomString(96)
	u, nonce, scopes, access := c.user, c.nonce, c.scopes, c.accessToken
	g.tokens[access] = g.userInfo(u, scopes)
	g.mu.Unlock()

	idToken, err := signingKeys().sign(g.idClaims(u, nonce, scopes, access), u.BadSignature)
	if err != nil {
		g.tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"expires_in":   3599,
		"scope":        googleGrantedScopes(scopes),
		"token_type":   "Bearer",
		"id_token":     idToken,
	})
}

// idClaims builds the ID token claims Google issues for u.
func (g *Google) idClaims(u GoogleUser, nonce string, scopes []string, accessToken string) map[string]any {
	now := time.Now()
	iat, exp := now, now.Add(time.Hour)
	if u.Expired {
		iat, exp = now.Add(-2*time.Hour), now.Add(-time.Hour)
	}
	iss := g.URL
	if u.Issuer != "" {
		iss = u.Issuer
	}
	aud := g.ClientID
	if u.Audience != "" {
		aud = u.Audience
	}
	c := map[string]any{
		"iss": iss,
		"azp": g.ClientID,
		"aud": aud,
		"sub": googleSub(u),
		"iat": iat.Unix(),
		"exp": exp.Unix(),
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		c["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:16])
	}
	if u.HD != "" {
		c["hd"] = u.HD
	}
	if u.Nonce != "" {
		nonce = u.Nonce
	}
	if nonce != "" && !u.DropNonce {
		c["nonce"] = nonce
	}
	for k, v := range g.userInfo(u, scopes) {
		if k != "sub" && k != "hd" {
			c[k] = v
		}
	}
	return c
}

// userInfo is what Google discloses about u for the granted scopes.
func (g *Google) userInfo(u GoogleUser, scopes []string) googleUserInfo {
	info := googleUserInfo{"sub": googleSub(u)}
	if u.HD != "" {
		info["hd"] = u.HD
	}
	if slices.Contains(scopes, "email") || slices.Contains(scopes, googleEmailScope) {
		info["email"] = u.Email
		info["email_verified"] = u.EmailVerified
	}
	if slices.Contains(scopes, "profile") || slices.Contains(scopes, googleProfileScope) {
		for k, v := range map[string]string{"name": u.Name, "given_name": u.GivenName, "family_name": u.FamilyName} {
			if v != "" {
				info[k] = v
			}
		}
	}
	return info
}

func (g *Google) userinfo(w http.ResponseWriter, r *http.Request) {
	tok := bearerToken(r, "Bearer")
	g.mu.Lock()
	info, ok := g.tokens[tok]
	g.mu.Unlock()
	if !ok {
		g.logf("userinfo request rejected: invalid access token")
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "Invalid Credentials"})
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func googleSub(u GoogleUser) string {
	if u.Sub != "" {
		return u.Sub
	}
	return stableNumber("google:"+strings.ToLower(u.Email), 21)
}

// googleGrantedScopes is the scope string Google returns: openid plus the URL forms.
func googleGrantedScopes(scopes []string) string {
	var out []string
	for _, s := range scopes {
		switch s {
		case "email":
			s = googleEmailScope
		case "profile":
			s = googleProfileScope
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}
