package oauthtest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"gatehouse/models/oauth/oauthtest"
)

type githubClient struct {
	g    *oauthtest.GitHub
	conf *oauth2.Config
}

func newGitHubClient(t *testing.T) *githubClient {
	t.Helper()
	g := oauthtest.NewGitHub(t, "Iv1.0123456789abcdef", "secret-0123")
	return &githubClient{g: g, conf: &oauth2.Config{
		ClientID:     g.ClientID,
		ClientSecret: g.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: g.URL + "/login/oauth/authorize", TokenURL: g.URL + "/login/oauth/access_token"},
		RedirectURL:  appCallback,
		Scopes:       []string{"read:org", "user:email"},
	}}
}

func (c *githubClient) authorize(t *testing.T, state string, opts ...oauth2.AuthCodeOption) url.Values {
	t.Helper()
	loc, err := oauthtest.Authorize(c.conf.AuthCodeURL(state, opts...))
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != appCallback {
		t.Fatalf("redirected to %q", loc)
	}
	return loc.Query()
}

func (c *githubClient) signIn(t *testing.T) *oauth2.Token {
	t.Helper()
	v := oauth2.GenerateVerifier()
	q := c.authorize(t, "st-1", oauth2.S256ChallengeOption(v))
	if q.Get("state") != "st-1" || q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	tok, err := c.conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return tok
}

// get calls the API with the token the way an app does (oauth2.Config.Client).
func (c *githubClient) get(t *testing.T, tok *oauth2.Token, path string, into any) int {
	t.Helper()
	resp, err := c.conf.Client(context.Background(), tok).Get(c.g.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: content type %q", path, ct)
	}
	if into != nil {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return resp.StatusCode
}

type ghUser struct {
	ID    int64   `json:"id"`
	Login string  `json:"login"`
	Name  *string `json:"name"`
	Email *string `json:"email"`
}

type ghEmail struct {
	Email      string  `json:"email"`
	Primary    bool    `json:"primary"`
	Verified   bool    `json:"verified"`
	Visibility *string `json:"visibility"`
}

type ghMembership struct {
	State        string `json:"state"`
	Role         string `json:"role"`
	Organization struct {
		Login string `json:"login"`
	} `json:"organization"`
}

var octo = oauthtest.GitHubUser{
	ID: 583231, Login: "octocat", Name: "The Octocat",
	Emails: []oauthtest.GitHubEmail{
		{Email: "octo@personal.test", Verified: true},
		{Email: "octocat@example.com", Primary: true, Verified: true},
		{Email: "old@example.com"},
	},
	Orgs: map[string]string{"Acme": "active", "invited-org": "pending"},
}

func TestGitHubSignIn(t *testing.T) {
	c := newGitHubClient(t)
	c.g.SetNextUser(octo)
	tok := c.signIn(t)
	if tok.Type() != "Bearer" || !strings.HasPrefix(tok.AccessToken, "gho_") {
		t.Errorf("token %q type %q", tok.AccessToken, tok.Type())
	}
	if got := tok.Extra("scope"); got != "read:org,user:email" {
		t.Errorf("granted scope %q", got)
	}

	var u ghUser
	if code := c.get(t, tok, "/user", &u); code != 200 || u.ID != 583231 || u.Login != "octocat" ||
		u.Name == nil || *u.Name != "The Octocat" || u.Email == nil || *u.Email != "octocat@example.com" {
		t.Errorf("/user %d %+v", code, u)
	}

	var emails []ghEmail
	if code := c.get(t, tok, "/user/emails", &emails); code != 200 || len(emails) != 3 {
		t.Fatalf("/user/emails %d %+v", code, emails)
	}
	if e := emails[1]; e.Email != "octocat@example.com" || !e.Primary || !e.Verified || e.Visibility == nil {
		t.Errorf("primary email %+v", e)
	}
	if e := emails[2]; e.Verified || e.Primary || e.Visibility != nil {
		t.Errorf("unverified email %+v", e)
	}

	var m ghMembership
	if code := c.get(t, tok, "/user/memberships/orgs/acme", &m); code != 200 || m.State != "active" || m.Role != "member" || m.Organization.Login != "Acme" {
		t.Errorf("active membership %d %+v", code, m)
	}
	m = ghMembership{}
	if code := c.get(t, tok, "/user/memberships/orgs/invited-org", &m); code != 200 || m.State != "pending" {
		t.Errorf("pending membership %d %+v", code, m)
	}
	var msg struct{ Message string }
	if code := c.get(t, tok, "/user/memberships/orgs/other", &msg); code != 404 || msg.Message != "Not Found" {
		t.Errorf("non-member %d %+v", code, msg)
	}

	reqs := c.g.AuthRequests()
	if len(reqs) != 1 || reqs[0].Get("code_challenge_method") != "S256" || reqs[0].Get("scope") != "read:org user:email" {
		t.Errorf("auth requests %v", reqs)
	}
}

func TestGitHubUnverifiedPrimaryAndDefaults(t *testing.T) {
	c := newGitHubClient(t)
	c.g.SetNextUser(oauthtest.GitHubUser{Emails: []oauthtest.GitHubEmail{{Email: "zed@example.com", Primary: true}}})
	tok := c.signIn(t)
	var u ghUser
	c.get(t, tok, "/user", &u)
	if u.Login != "zed" || u.ID == 0 || u.Email != nil || u.Name != nil {
		t.Errorf("/user %+v", u)
	}
}

func TestGitHubTokenEndpointFormats(t *testing.T) {
	c := newGitHubClient(t)
	c.g.SetNextUser(octo)
	for _, accept := range []string{"application/json", ""} {
		code := c.authorize(t, "st").Get("code") // no PKCE: GitHub makes it optional
		form := url.Values{"client_id": {c.g.ClientID}, "client_secret": {c.g.ClientSecret}, "code": {code}, "redirect_uri": {appCallback}}
		req, _ := http.NewRequest("POST", c.g.URL+"/login/oauth/access_token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		if accept == "application/json" {
			_ = json.NewDecoder(resp.Body).Decode(&body)
		} else {
			b, _ := io.ReadAll(resp.Body)
			vals, _ := url.ParseQuery(string(b))
			body = map[string]string{"access_token": vals.Get("access_token"), "token_type": vals.Get("token_type"), "scope": vals.Get("scope")}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
				t.Errorf("form response content type %q", ct)
			}
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || body["access_token"] == "" || body["token_type"] != "bearer" || body["scope"] != "read:org,user:email" {
			t.Errorf("Accept %q: %d %v", accept, resp.StatusCode, body)
		}
	}
}

func TestGitHubTokenRequestErrors(t *testing.T) {
	c := newGitHubClient(t)
	c.g.SetNextUser(octo)
	ctx := context.Background()

	// Replayed code: refused, and the token of the first exchange is revoked.
	v := oauth2.GenerateVerifier()
	code := c.authorize(t, "st", oauth2.S256ChallengeOption(v)).Get("code")
	tok, err := c.conf.Exchange(ctx, code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.conf.Exchange(ctx, code, oauth2.VerifierOption(v))
	wantRetrieveError(t, err, "bad_verification_code")
	if status := c.get(t, tok, "/user", nil); status != http.StatusUnauthorized {
		t.Errorf("token after replay: %d", status)
	}

	// Wrong or missing PKCE verifier; the code survives failed attempts.
	v = oauth2.GenerateVerifier()
	code = c.authorize(t, "st", oauth2.S256ChallengeOption(v)).Get("code")
	_, err = c.conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	wantRetrieveError(t, err, "bad_verification_code")
	_, err = c.conf.Exchange(ctx, code)
	wantRetrieveError(t, err, "bad_verification_code")

	wrongSecret := *c.conf
	wrongSecret.ClientSecret = "nope"
	_, err = wrongSecret.Exchange(ctx, code, oauth2.VerifierOption(v))
	wantRetrieveError(t, err, "incorrect_client_credentials")

	wrongRedirect := *c.conf
	wrongRedirect.RedirectURL = "http://app.test/elsewhere"
	_, err = wrongRedirect.Exchange(ctx, code, oauth2.VerifierOption(v))
	wantRetrieveError(t, err, "redirect_uri_mismatch")

	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		conf := *c.conf
		conf.Endpoint.AuthStyle = style
		v := oauth2.GenerateVerifier()
		if _, err := conf.Exchange(ctx, c.authorize(t, "st", oauth2.S256ChallengeOption(v)).Get("code"), oauth2.VerifierOption(v)); err != nil {
			t.Errorf("auth style %v: %v", style, err)
		}
	}
	if _, err := c.conf.Exchange(ctx, code, oauth2.VerifierOption(v)); err != nil {
		t.Errorf("right verifier after failures: %v", err)
	}

	// A verifier for a code obtained without a challenge.
	code = c.authorize(t, "st").Get("code")
	_, err = c.conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	wantRetrieveError(t, err, "bad_verification_code")
	if _, err := c.conf.Exchange(ctx, code); err != nil {
		t.Errorf("code without PKCE: %v", err)
	}
}

func TestGitHubAPIAuthentication(t *testing.T) {
	c := newGitHubClient(t)
	c.g.SetNextUser(octo)
	tok := c.signIn(t)

	call := func(auth string) (int, string) {
		req, _ := http.NewRequest("GET", c.g.URL+"/user", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct{ Message string }
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m.Message
	}
	if code, msg := call(""); code != 401 || msg != "Requires authentication" {
		t.Errorf("no credentials: %d %q", code, msg)
	}
	if code, msg := call("Bearer gho_invalid"); code != 401 || msg != "Bad credentials" {
		t.Errorf("bad token: %d %q", code, msg)
	}
	if code, _ := call("token " + tok.AccessToken); code != 200 {
		t.Errorf(`"token" scheme: %d`, code)
	}
	if code, _ := call("Bearer " + tok.AccessToken); code != 200 {
		t.Errorf(`"Bearer" scheme: %d`, code)
	}
	c.g.RevokeTokens()
	if code, msg := call("Bearer " + tok.AccessToken); code != 401 || msg != "Bad credentials" {
		t.Errorf("revoked token: %d %q", code, msg)
	}
}

func TestGitHubScopesAreEnforced(t *testing.T) {
	c := newGitHubClient(t)
	c.g.SetNextUser(octo)
	c.conf.Scopes = nil
	tok := c.signIn(t)
	if status := c.get(t, tok, "/user", nil); status != 200 {
		t.Errorf("/user without scopes: %d", status)
	}
	if status := c.get(t, tok, "/user/emails", nil); status != 404 {
		t.Errorf("/user/emails without user:email: %d", status)
	}
	if status := c.get(t, tok, "/user/memberships/orgs/acme", nil); status != 404 {
		t.Errorf("membership without read:org: %d", status)
	}
}

func TestGitHubMembershipIsASnapshot(t *testing.T) {
	c := newGitHubClient(t)
	c.g.SetNextUser(octo)
	before := c.signIn(t)
	left := octo
	left.Orgs = map[string]string{}
	c.g.SetNextUser(left)
	after := c.signIn(t)
	if status := c.get(t, before, "/user/memberships/orgs/Acme", nil); status != 200 {
		t.Errorf("earlier token: %d", status)
	}
	if status := c.get(t, after, "/user/memberships/orgs/Acme", nil); status != 404 {
		t.Errorf("token after leaving the org: %d", status)
	}
}

func TestGitHubAuthorizationRequests(t *testing.T) {
	c := newGitHubClient(t)
	c.g.SetNextUser(oauthtest.GitHubUser{Login: "nope", Deny: true})
	q := c.authorize(t, "st-9", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	if q.Get("error") != "access_denied" || q.Get("state") != "st-9" || q.Has("code") {
		t.Errorf("deny callback %v", q)
	}
	c.g.SetNextUser(octo)
	if q := c.authorize(t, ""); q.Get("error") != "invalid_request" {
		t.Errorf("no state: %v", q)
	}
	v := oauth2.GenerateVerifier()
	plain := c.authorize(t, "st", oauth2.SetAuthURLParam("code_challenge", v), oauth2.SetAuthURLParam("code_challenge_method", "plain"))
	if plain.Get("error") != "invalid_request" {
		t.Errorf("plain PKCE: %v", plain)
	}
	other := *c.conf
	other.ClientID = "unknown"
	if _, err := oauthtest.Authorize(other.AuthCodeURL("st")); err == nil {
		t.Error("unknown client accepted")
	}
	c.g.SetRedirectURIs("http://app.test/registered")
	if _, err := oauthtest.Authorize(c.conf.AuthCodeURL("st")); err == nil {
		t.Error("unregistered redirect_uri accepted")
	}
	// With one registered callback, redirect_uri may be omitted.
	omit := *c.conf
	omit.RedirectURL = ""
	loc, err := oauthtest.Authorize(omit.AuthCodeURL("st"))
	if err != nil || loc.Path != "/registered" || loc.Query().Get("code") == "" {
		t.Errorf("omitted redirect_uri: %v %v", loc, err)
	}
}

func TestGitHubConcurrentSignIns(t *testing.T) {
	c := newGitHubClient(t)
	c.g.SetNextUser(octo)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			v := oauth2.GenerateVerifier()
			loc, err := oauthtest.Authorize(c.conf.AuthCodeURL("st", oauth2.S256ChallengeOption(v)))
			if err != nil {
				t.Error(err)
				return
			}
			tok, err := c.conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(v))
			if err != nil {
				t.Error(err)
				return
			}
			resp, err := c.conf.Client(context.Background(), tok).Get(c.g.URL + "/user/memberships/orgs/acme")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("membership: %d", resp.StatusCode)
			}
		})
		c.g.SetNextUser(octo)
	}
	wg.Wait()
}
