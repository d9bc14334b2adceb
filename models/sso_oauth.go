package models

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"gatehouse/models/oauth"
)

// OAuth provider kinds (SPEC §6).
const (
	KindGoogle = "google"
	KindGitHub = "github"
)

// IsOAuth reports whether the provider is Google Workspace or GitHub.
func (p *AuthProvider) IsOAuth() bool { return p.Kind == KindGoogle || p.Kind == KindGitHub }

// OAuthState is one authorization request: state, PKCE verifier and nonce.
type OAuthState struct {
	bun.BaseModel `bun:"table:oauth_states"`

	State     string     `bun:"state,pk"`
	OrgID     int64      `bun:"org_id"`
	Kind      string     `bun:"kind"`
	Purpose   string     `bun:"purpose"`
	UserID    *int64     `bun:"user_id"`
	NextPath  string     `bun:"next_path"`
	Nonce     string     `bun:"nonce"`
	Verifier  string     `bun:"verifier"`
	CreatedAt time.Time  `bun:"created_at,nullzero,default:now()"`
	ExpiresAt time.Time  `bun:"expires_at"`
	UsedAt    *time.Time `bun:"used_at"`
}

// NewOAuthState stores a fresh authorization request for org's provider of kind.
func NewOAuthState(ctx context.Context, db bun.IDB, orgID int64, kind, purpose string, userID int64, next string) (*OAuthState, error) {
	state, _ := newToken()
	nonce, _ := newToken()
	verifier, _ := newToken() // 43 URL-safe characters: a valid PKCE verifier
	s := &OAuthState{State: state, OrgID: orgID, Kind: kind, Purpose: purpose, NextPath: next, Nonce: nonce, Verifier: verifier,
		ExpiresAt: time.Now().Add(SAMLRequestLifetime)}
	if userID != 0 {
		s.UserID = &userID
	}
	if _, err := db.NewInsert().Model(s).Exec(ctx); err != nil {
		return nil, fmt.Errorf("store OAuth state: %w", err)
	}
	return s, nil
}

// TakeOAuthState consumes a state we issued: once, within 10 minutes. ErrNotFound
// for anything else (a forged, replayed or expired state).
func TakeOAuthState(ctx context.Context, db bun.IDB, state string) (*OAuthState, error) {
	if state == "" || len(state) > 100 {
		return nil, fmt.Errorf("OAuth state: %w", ErrNotFound)
	}
	s := new(OAuthState)
	err := db.NewUpdate().Model(s).Set("used_at = now()").
		Where("state = ? AND used_at IS NULL AND expires_at > now()", state).Returning("*").Scan(ctx)
	if err != nil {
		return nil, notFound(err, "OAuth state")
	}
	return s, nil
}

var githubOrgRe = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$`)
var domainRe = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// OAuthSetup is the setup form of Google Workspace (domains) or GitHub (organization).
type OAuthSetup struct {
	Kind      string
	Domains   string // Google: one or more Workspace domains, comma or newline separated
	GitHubOrg string
}

// ResolveOAuth validates an OAuth setup form into a provider configuration.
func ResolveOAuth(in OAuthSetup) (*ProviderConfig, error) {
	cfg := &ProviderConfig{}
	switch in.Kind {
	case KindGoogle:
		seen := map[string]bool{}
		for _, d := range strings.FieldsFunc(strings.ToLower(in.Domains), func(r rune) bool { return r == ',' || r == '\n' || r == ' ' || r == '\r' }) {
			d = strings.TrimPrefix(strings.TrimSpace(d), "@")
			switch {
			case !domainRe.MatchString(d):
				return nil, Invalid("domains", fmt.Sprintf("%q is not a domain name, like example.com.", d))
			case oauth.ConsumerDomains[d]:
				return nil, Invalid("domains", fmt.Sprintf("%s is a personal Google domain: enter your Google Workspace domain.", d))
			}
			if !seen[d] {
				seen[d] = true
				cfg.Domains = append(cfg.Domains, d)
			}
		}
		if len(cfg.Domains) == 0 {
			return nil, Invalid("domains", "Enter at least one Google Workspace domain.")
		}
	case KindGitHub:
		org := strings.TrimSpace(in.GitHubOrg)
		if !githubOrgRe.MatchString(org) {
			return nil, Invalid("github_org", "Enter the GitHub organization's login, like acme-inc.")
		}
		cfg.GitHubOrg = org
	default:
		return nil, Invalid("kind", "Choose one of the listed providers.")
	}
	return cfg, nil
}

// SaveOAuthProvider stores cfg as org's Google or GitHub provider: new providers are
// pending until the owner's round trip; an active provider cannot change kind.
func SaveOAuthProvider(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor, kind string, cfg *ProviderConfig) (*AuthProvider, error) {
	return saveProvider(ctx, db, mailer, orgID, actor, kind, cfg)
}
