package oauthtest_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/models/oauth/oauthtest"
)

const appCallback = "http://app.test/oauth/callback"

type googleClient struct {
	g        *oauthtest.Google
	provider *oidc.Provider
	conf     *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newGoogleClient(t *testing.T) *googleClient {
	t.Helper()
	g := oauthtest.NewGoogle(t, "client-123.apps.googleusercontent.com", "GOCSPX-secret")
	provider, err := oidc.NewProvider(context.Background(), g.URL)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	return &googleClient{
		g:        g,
		provider: provider,
		conf: &oauth2.Config{
			ClientID:     g.ClientID,
			ClientSecret: g.ClientSecret,
			Endpoint:     provider.Endpoint(),
			RedirectURL:  appCallback,
			Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
		},
		verifier: provider.Verifier(&oidc.Config{ClientID: g.ClientID}),
	}
}

// flow is one sign-in attempt's secrets, as the app keeps them between the redirect
// to the provider and the callback.
type flow struct {
	state, nonce, verifier string
}

func newFlow() flow {
	return flow{state: oauth2.GenerateVerifier()[:22], nonce: oauth2.GenerateVerifier()[:22], verifier: oauth2.GenerateVerifier()}
}

// authorize runs the browser leg and returns the callback's query.
func (c *googleClient) authorize(t *testing.T, f flow) url.Values {
	t.Helper()
	authURL := c.conf.AuthCodeURL(f.state, oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce))
	loc, err := oauthtest.Authorize(authURL)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != appCallback {
		t.Fatalf("redirected to %q, want the callback %q", loc, appCallback)
	}
	return loc.Query()
}

// signIn runs the whole flow and returns the verified ID token.
func (c *googleClient) signIn(t *testing.T) (*oidc.IDToken, *oauth2.Token, flow) {
	t.Helper()
	f := newFlow()
	q := c.authorize(t, f)
	if q.Get("state") != f.state || q.Get("code") == "" {
		t.Fatalf("callback query %v: want state %q and a code", q, f.state)
	}
	tok, err := c.conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(f.verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		t.Fatalf("no id_token in the token response")
	}
	idt, err := c.verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return idt, tok, f
}

// exchangeRaw runs the flow up to the token response and returns the raw ID token.
func (c *googleClient) rawIDToken(t *testing.T) string {
	t.Helper()
	f := newFlow()
	q := c.authorize(t, f)
	tok, err := c.conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(f.verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return tok.Extra("id_token").(string)
}

type googleClaims struct {
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	HD            string `json:"hd"`
	Name          string `json:"name"`
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
	AZP           string `json:"azp"`
}

func wantRetrieveError(t *testing.T, err error, code string) *oauth2.RetrieveError {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T), want *oauth2.RetrieveError %s", err, err, code)
	}
	if re.ErrorCode != code {
		t.Fatalf("error code %q (%v), want %q", re.ErrorCode, re, code)
	}
	return re
}

func TestGoogleSignIn(t *testing.T) {
	c := newGoogleClient(t)
	c.g.SetNextUser(oauthtest.GoogleUser{
		Sub: "110169484474386276334", Email: "ann@example.com", EmailVerified: true, HD: "example.com",
		Name: "Ann Lee", GivenName: "Ann", FamilyName: "Lee",
	})
	idt, tok, f := c.signIn(t)

	if idt.Issuer != c.g.URL || idt.Subject != "110169484474386276334" || idt.Nonce != f.nonce {
		t.Errorf("iss %q sub %q nonce %q; want %q, the sub, %q", idt.Issuer, idt.Subject, idt.Nonce, c.g.URL, f.nonce)
	}
	if len(idt.Audience) != 1 || idt.Audience[0] != c.g.ClientID {
		t.Errorf("aud %v", idt.Audience)
	}
	var cl googleClaims
	if err := idt.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	want := googleClaims{Email: "ann@example.com", EmailVerified: true, HD: "example.com", Name: "Ann Lee",
		GivenName: "Ann", FamilyName: "Lee", AZP: c.g.ClientID}
	if cl != want {
		t.Errorf("claims %+v, want %+v", cl, want)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
		t.Errorf("token type %q expiry %v", tok.TokenType, tok.Expiry)
	}

	info, err := c.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("UserInfo: %v", err)
	}
	if info.Subject != idt.Subject || info.Email != "ann@example.com" || !info.EmailVerified {
		t.Errorf("userinfo %+v", info)
	}

	// The app's request carried PKCE S256 and the nonce.
	reqs := c.g.AuthRequests()
	if len(reqs) != 1 || reqs[0].Get("code_challenge_method") != "S256" || reqs[0].Get("nonce") != f.nonce {
		t.Errorf("auth requests %v", reqs)
	}
}

func TestGoogleDefaultsAndScopes(t *testing.T) {
	c := newGoogleClient(t)
	c.g.SetNextUser(oauthtest.GoogleUser{Email: "bob@gmail.com", EmailVerified: true}) // personal account: no hd
	first, _, _ := c.signIn(t)
	second, _, _ := c.signIn(t) // the user stays signed in
	if len(first.Subject) != 21 || first.Subject != second.Subject {
		t.Errorf("default subs %q %q: want the same 21 digits", first.Subject, second.Subject)
	}
	var cl googleClaims
	_ = first.Claims(&cl)
	if cl.HD != "" || cl.Email != "bob@gmail.com" {
		t.Errorf("claims %+v", cl)
	}

	// Without the email scope there is no email claim, as at Google.
	c.conf.Scopes = []string{oidc.ScopeOpenID}
	idt, _, _ := c.signIn(t)
	cl = googleClaims{}
	_ = idt.Claims(&cl)
	if cl.Email != "" || cl.Name != "" {
		t.Errorf("openid-only claims %+v", cl)
	}
}

func TestGoogleReplayedCode(t *testing.T) {
	c := newGoogleClient(t)
	c.g.SetNextUser(oauthtest.GoogleUser{Email: "ann@example.com", EmailVerified: true})
	f := newFlow()
	q := c.authorize(t, f)
	ctx := context.Background()
	tok, err := c.conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.verifier))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.verifier))
	if re := wantRetrieveError(t, err, "invalid_grant"); re.Response.StatusCode != http.StatusBadRequest {
		t.Errorf("replay status %d", re.Response.StatusCode)
	}
	// The replay revoked the access token of the first exchange.
	if _, err := c.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("access token still valid after the code was replayed")
	}
}

func TestGoogleTokenRequestErrors(t *testing.T) {
	c := newGoogleClient(t)
	c.g.SetNextUser(oauthtest.GoogleUser{Email: "ann@example.com", EmailVerified: true})
	ctx := context.Background()

	f := newFlow()
	code := c.authorize(t, f).Get("code")
	_, err := c.conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	wantRetrieveError(t, err, "invalid_grant")
	_, err = c.conf.Exchange(ctx, code) // no verifier
	wantRetrieveError(t, err, "invalid_grant")

	wrongSecret := *c.conf
	wrongSecret.ClientSecret = "nope"
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		wrongSecret.Endpoint.AuthStyle = style
		_, err = wrongSecret.Exchange(ctx, code, oauth2.VerifierOption(f.verifier))
		if re := wantRetrieveError(t, err, "invalid_client"); re.Response.StatusCode != http.StatusUnauthorized {
			t.Errorf("wrong secret status %d", re.Response.StatusCode)
		}
	}

	wrongRedirect := *c.conf
	wrongRedirect.RedirectURL = "http://app.test/other"
	_, err = wrongRedirect.Exchange(ctx, code, oauth2.VerifierOption(f.verifier))
	wantRetrieveError(t, err, "redirect_uri_mismatch")

	// Failed attempts do not use the code up; both ways of sending credentials work.
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		conf := *c.conf
		conf.Endpoint.AuthStyle = style
		f := newFlow()
		if _, err := conf.Exchange(ctx, c.authorize(t, f).Get("code"), oauth2.VerifierOption(f.verifier)); err != nil {
			t.Errorf("auth style %v: %v", style, err)
		}
	}
	if _, err := c.conf.Exchange(ctx, code, oauth2.VerifierOption(f.verifier)); err != nil {
		t.Errorf("right verifier after failures: %v", err)
	}
	_, err = c.conf.Exchange(ctx, "4/0unknown", oauth2.VerifierOption(f.verifier))
	wantRetrieveError(t, err, "invalid_grant")
}

func TestGoogleIDTokenFaults(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		user  oauthtest.GoogleUser
		check func(t *testing.T, err error)
	}{
		{"expired", oauthtest.GoogleUser{Expired: true}, func(t *testing.T, err error) {
			var te *oidc.TokenExpiredError
			if !errors.As(err, &te) {
				t.Errorf("err %v, want *oidc.TokenExpiredError", err)
			}
		}},
		{"wrong audience", oauthtest.GoogleUser{Audience: "someone-else.apps.googleusercontent.com"}, func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "audience") {
				t.Errorf("err %v, want an audience error", err)
			}
		}},
		{"wrong issuer", oauthtest.GoogleUser{Issuer: "https://accounts.google.com"}, func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "issue") {
				t.Errorf("err %v, want an issuer error", err)
			}
		}},
		{"bad signature", oauthtest.GoogleUser{BadSignature: true}, func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "signature") {
				t.Errorf("err %v, want a signature error", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newGoogleClient(t)
			u := tc.user
			u.Email, u.EmailVerified = "ann@example.com", true
			c.g.SetNextUser(u)
			_, err := c.verifier.Verify(ctx, c.rawIDToken(t))
			tc.check(t, err)
		})
	}
}

func TestGoogleNonce(t *testing.T) {
	c := newGoogleClient(t)
	c.g.SetNextUser(oauthtest.GoogleUser{Email: "ann@example.com", EmailVerified: true, DropNonce: true})
	if idt, _, _ := c.signIn(t); idt.Nonce != "" {
		t.Errorf("DropNonce: nonce %q", idt.Nonce)
	}
	c.g.SetNextUser(oauthtest.GoogleUser{Email: "ann@example.com", EmailVerified: true, Nonce: "forged"})
	if idt, _, f := c.signIn(t); idt.Nonce != "forged" || f.nonce == "forged" {
		t.Errorf("Nonce override: nonce %q", idt.Nonce)
	}
	// Without a nonce in the request, none in the token.
	c.g.SetNextUser(oauthtest.GoogleUser{Email: "ann@example.com", EmailVerified: true})
	v := oauth2.GenerateVerifier()
	loc, err := oauthtest.Authorize(c.conf.AuthCodeURL("st", oauth2.S256ChallengeOption(v)))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := c.verifier.Verify(context.Background(), tok.Extra("id_token").(string))
	if err != nil || idt.Nonce != "" {
		t.Errorf("no nonce requested: %v, nonce %q", err, idt.Nonce)
	}
}

func TestGoogleDeny(t *testing.T) {
	c := newGoogleClient(t)
	c.g.SetNextUser(oauthtest.GoogleUser{Email: "ann@example.com", Deny: true})
	f := newFlow()
	q := c.authorize(t, f)
	if q.Get("error") != "access_denied" || q.Get("state") != f.state || q.Has("code") {
		t.Errorf("deny callback %v", q)
	}
}

func TestGoogleAuthorizationRequestValidation(t *testing.T) {
	c := newGoogleClient(t)
	c.g.SetNextUser(oauthtest.GoogleUser{Email: "ann@example.com", EmailVerified: true})
	v := oauth2.GenerateVerifier()

	// Errors the provider cannot send back: an error page, no redirect.
	other := *c.conf
	other.ClientID = "unknown"
	if _, err := oauthtest.Authorize(other.AuthCodeURL("st", oauth2.S256ChallengeOption(v))); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("unknown client: %v", err)
	}
	noRedirect := *c.conf
	noRedirect.RedirectURL = ""
	if _, err := oauthtest.Authorize(noRedirect.AuthCodeURL("st", oauth2.S256ChallengeOption(v))); err == nil {
		t.Error("missing redirect_uri accepted")
	}
	c.g.SetRedirectURIs("https://app.test/registered")
	if _, err := oauthtest.Authorize(c.conf.AuthCodeURL("st", oauth2.S256ChallengeOption(v))); err == nil || !strings.Contains(err.Error(), "redirect_uri_mismatch") {
		t.Errorf("unregistered redirect_uri: %v", err)
	}
	c.g.SetRedirectURIs()

	// Errors sent back to the redirect URI.
	noOpenID := *c.conf
	noOpenID.Scopes = []string{"email"}
	for name, authURL := range map[string]string{
		"no PKCE":      c.conf.AuthCodeURL("st"),
		"plain PKCE":   c.conf.AuthCodeURL("st", oauth2.SetAuthURLParam("code_challenge", v), oauth2.SetAuthURLParam("code_challenge_method", "plain")),
		"no state":     c.conf.AuthCodeURL("", oauth2.S256ChallengeOption(v)),
		"no openid":    noOpenID.AuthCodeURL("st", oauth2.S256ChallengeOption(v)),
		"bad response": c.conf.AuthCodeURL("st", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("response_type", "token")),
	} {
		loc, err := oauthtest.Authorize(authURL)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if q := loc.Query(); q.Get("error") == "" || q.Has("code") {
			t.Errorf("%s: callback %v, want an error", name, q)
		}
	}

	// No user signed in at the provider.
	fresh := oauthtest.NewGoogle(t, "c", "s")
	conf := oauth2.Config{ClientID: "c", Endpoint: fresh.Endpoint(), RedirectURL: appCallback, Scopes: []string{"openid"}}
	if _, err := oauthtest.Authorize(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(v))); err == nil {
		t.Error("authorization without a user succeeded")
	}
}

func TestGoogleIDTokenHelpers(t *testing.T) {
	c := newGoogleClient(t)
	ctx := context.Background()
	raw := c.g.IDToken(oauthtest.GoogleUser{Sub: "42", Email: "a@example.com", EmailVerified: true, HD: "example.com"}, "n1", "")
	idt, err := c.verifier.Verify(ctx, raw)
	if err != nil || idt.Subject != "42" || idt.Nonce != "n1" {
		t.Fatalf("IDToken: %v %+v", err, idt)
	}
	if _, err := c.verifier.Verify(ctx, c.g.IDToken(oauthtest.GoogleUser{BadSignature: true}, "", "")); err == nil {
		t.Error("forged IDToken verified")
	}
	signed := c.g.SignJWT(map[string]any{"iss": c.g.URL, "aud": c.g.ClientID, "sub": "7", "exp": 4102444800})
	if idt, err := c.verifier.Verify(ctx, signed); err != nil || idt.Subject != "7" {
		t.Errorf("SignJWT: %v", err)
	}
}

func TestGoogleConcurrentSignIns(t *testing.T) {
	c := newGoogleClient(t)
	c.g.SetNextUser(oauthtest.GoogleUser{Email: "ann@example.com", EmailVerified: true})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			f := newFlow()
			authURL := c.conf.AuthCodeURL(f.state, oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce))
			loc, err := oauthtest.Authorize(authURL)
			if err != nil {
				t.Error(err)
				return
			}
			tok, err := c.conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(f.verifier))
			if err != nil {
				t.Error(err)
				return
			}
			idt, err := c.verifier.Verify(context.Background(), tok.Extra("id_token").(string))
			if err != nil || idt.Nonce != f.nonce {
				t.Errorf("verify: %v", err)
			}
		})
		c.g.SetNextUser(oauthtest.GoogleUser{Email: "ann@example.com", EmailVerified: true})
		_ = c.g.AuthRequests()
	}
	wg.Wait()
}

func TestExpiredCodes(t *testing.T) {
	c := newGoogleClient(t)
	c.g.SetNextUser(oauthtest.GoogleUser{Email: "ann@example.com", EmailVerified: true})
	f := newFlow()
	code := c.authorize(t, f).Get("code")
	c.g.ExpireCodes()
	_, err := c.conf.Exchange(context.Background(), code, oauth2.VerifierOption(f.verifier))
	wantRetrieveError(t, err, "invalid_grant")

	gh := newGitHubClient(t)
	gh.g.SetNextUser(octo)
	code = gh.authorize(t, "st").Get("code")
	gh.g.ExpireCodes()
	_, err = gh.conf.Exchange(context.Background(), code)
	wantRetrieveError(t, err, "bad_verification_code")
}
