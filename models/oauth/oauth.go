// Package oauth signs people in with Google Workspace (OpenID Connect) and GitHub
// (OAuth2) for an organization (SPEC §6): authorization URLs with state, PKCE (S256)
// and a nonce, then the code exchange and every check of the answer. It keeps no
// state and touches no database; callers store the state, verifier and nonce.
package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Identity is who the provider says signed in.
type Identity struct {
	ID, Email, FirstName, LastName, Login string
}

// Error is a refusal with a message for the org login page ("Authentication error: …").
type Error struct {
	Reason string // sign-in log code
	Msg    string
}

func (e *Error) Error() string { return e.Reason + ": " + e.Msg }

func refuse(reason, msg string) error { return &Error{Reason: reason, Msg: msg} }

// Messages (Sentry's where it has them).
const (
	MsgInvalidResponse = "The provider did not return a valid user identity."
	MsgNoOrgAccess     = "You do not have access to the required GitHub organization."
	MsgNoPrimaryEmail  = "We were unable to find a primary email address associated with your GitHub account."
	MsgNoVerifiedEmail = "We were unable to find a verified, primary email address associated with your GitHub account."
	MsgSeveralEmails   = "We were unable to find a *single* verified, primary email address associated with your GitHub account."
	MsgEmailUnverified = "Your Google account's email address is not verified."
	MsgDenied          = "The sign-in was cancelled at the provider."
)

func httpClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// Google is the Google Workspace provider of the instance.
type Google struct {
	ClientID, ClientSecret, RedirectURL string
	Issuer                              string // https://accounts.google.com (tests: an in-process server)
	HTTP                                *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
}

// ConsumerDomains are refused as Workspace domains (SPEC §6: no personal accounts).
var ConsumerDomains = map[string]bool{"gmail.com": true, "googlemail.com": true}

func (g *Google) discover(ctx context.Context) (*oidc.Provider, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.provider != nil {
		return g.provider, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, httpClient(g.HTTP)), g.Issuer)
	if err != nil {
		return nil, fmt.Errorf("google discovery: %w", err)
	}
	g.provider = p
	return p, nil
}

func (g *Google) config(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: g.ClientID, ClientSecret: g.ClientSecret, RedirectURL: g.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
}

// AuthURL is where the browser signs in. hd asks Google to offer accounts of that
// domain (one domain only; the ID token is checked against all of them anyway).
func (g *Google) AuthURL(ctx context.Context, state, nonce, verifier string, domains []string) (string, error) {
	p, err := g.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce), oauth2.SetAuthURLParam("prompt", "select_account")}
	if len(domains) == 1 {
		opts = append(opts, oauth2.SetAuthURLParam("hd", domains[0]))
	}
	return g.config(p).AuthCodeURL(state, opts...), nil
}

// Exchange trades the code for an ID token and checks it: signature (JWKS), issuer,
// audience, expiry, nonce, a verified email and the hd claim in domains. The
// identity is Google's sub.
func (g *Google) Exchange(ctx context.Context, code, verifier, nonce string, domains []string) (Identity, error) {
	p, err := g.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	cctx := oidc.ClientContext(ctx, httpClient(g.HTTP))
	tok, err := g.config(p).Exchange(cctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Identity{}, refuse("token_exchange", MsgInvalidResponse)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, refuse("no_id_token", MsgInvalidResponse)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: g.ClientID}).Verify(cctx, raw)
	if err != nil {
		return Identity{}, refuse("id_token", MsgInvalidResponse)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		HD            string `json:"hd"`
		Nonce         string `json:"nonce"`
		GivenName     string `json:"given_name"`
		FamilyName    string `json:"family_name"`
	}
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, refuse("id_token", MsgInvalidResponse)
	}
	if claims.Nonce == "" || claims.Nonce != nonce {
		return Identity{}, refuse("nonce", MsgInvalidResponse)
	}
	if !claims.EmailVerified {
		return Identity{}, refuse("email_unverified", MsgEmailUnverified)
	}
	if !domainAllowed(claims.HD, domains) {
		shown := claims.HD
		if shown == "" {
			shown = "a personal account"
		}
		return Identity{}, refuse("domain", fmt.Sprintf("The domain for your Google account (%s) is not allowed to authenticate with this provider.", shown))
	}
	if idt.Subject == "" || claims.Email == "" {
		return Identity{}, refuse("id_token", MsgInvalidResponse)
	}
	return Identity{ID: idt.Subject, Email: claims.Email, FirstName: claims.GivenName, LastName: claims.FamilyName}, nil
}

func domainAllowed(hd string, domains []string) bool {
	if hd == "" {
		return false
	}
	for _, d := range domains {
		if strings.EqualFold(d, hd) {
			return true
		}
	}
	return false
}

// GitHub is the GitHub provider of the instance.
type GitHub struct {
	ClientID, ClientSecret, RedirectURL string
	BaseURL                             string // https://github.com
	APIURL                              string // https://api.github.com
	HTTP                                *http.Client
}

func (g *GitHub) config() *oauth2.Config {
	base := strings.TrimRight(g.BaseURL, "/")
	return &oauth2.Config{ClientID: g.ClientID, ClientSecret: g.ClientSecret, RedirectURL: g.RedirectURL,
		Endpoint: oauth2.Endpoint{AuthURL: base + "/login/oauth/authorize", TokenURL: base + "/login/oauth/access_token"},
		Scopes:   []string{"read:org", "user:email"}}
}

// AuthURL is where the browser signs in.
func (g *GitHub) AuthURL(state, verifier string) string {
	return g.config().AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
}

// Exchange trades the code for a token and checks, at every login, that the user is
// an active member of org and has exactly one verified primary email. The identity
// is GitHub's numeric user id.
func (g *GitHub) Exchange(ctx context.Context, code, verifier, org string) (Identity, error) {
	cctx := context.WithValue(ctx, oauth2.HTTPClient, httpClient(g.HTTP))
	tok, err := g.config().Exchange(cctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Identity{}, refuse("token_exchange", MsgInvalidResponse)
	}
	client := httpClient(g.HTTP)
	var user struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	if err := g.get(ctx, client, tok.AccessToken, "/user", &user); err != nil || user.ID == 0 {
		return Identity{}, refuse("github_user", MsgInvalidResponse)
	}
	var membership struct {
		State string `json:"state"`
	}
	if err := g.get(ctx, client, tok.AccessToken, "/user/memberships/orgs/"+url.PathEscape(org), &membership); err != nil || membership.State != "active" {
		return Identity{}, refuse("github_org", MsgNoOrgAccess)
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := g.get(ctx, client, tok.AccessToken, "/user/emails", &emails); err != nil {
		return Identity{}, refuse("github_emails", MsgInvalidResponse)
	}
	var primary, verified []string
	for _, e := range emails {
		if e.Primary {
			primary = append(primary, e.Email)
			if e.Verified {
				verified = append(verified, e.Email)
			}
		}
	}
	switch {
	case len(primary) == 0:
		return Identity{}, refuse("github_no_primary_email", MsgNoPrimaryEmail)
	case len(verified) == 0:
		return Identity{}, refuse("github_unverified_email", MsgNoVerifiedEmail)
	case len(verified) > 1:
		return Identity{}, refuse("github_several_emails", MsgSeveralEmails)
	}
	first, last, _ := strings.Cut(strings.TrimSpace(user.Name), " ")
	return Identity{ID: fmt.Sprint(user.ID), Email: verified[0], FirstName: first, LastName: last, Login: user.Login}, nil
}

var errStatus = errors.New("unexpected status")

func (g *GitHub) get(ctx context.Context, client *http.Client, token, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(g.APIURL, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w %d", errStatus, res.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(v)
}
