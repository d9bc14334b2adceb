package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

// Require SSO at the door (SPEC §4, SECURITY.md "Require SSO cannot be bypassed by
// password login"): a password — typed on the login page, or chosen through a reset
// link — opens a session only when the account can use it somewhere. An account whose
// every organization requires SSO gets no session at all: the person goes on to the
// IdP (a session without any reachable org would still be a session: the account
// page, new orgs, the sessions list). An account with at least one organization that
// takes passwords (or none at all) gets its session, and each SSO-required org stays
// closed to it until that org's SSO (CheckSSOAccess, on every org request). The owner
// fallback counts as taking passwords: an unlinked owner while no owner has linked.
// Wrong passwords are refused before this rule runs, so its answer reveals nothing to
// someone who does not know the password.

// SSOOnlyOrg is an organization whose single sign-on an account must use instead of
// its password.
type SSOOnlyOrg struct {
	Org      *Organization
	Provider *AuthProvider
	// OwnerFallback: the org still lets unlinked owners in with a password (no owner
	// has linked), but this account is not one of them.
	OwnerFallback bool
}

// PasswordSignIn is what a correct password leads to.
type PasswordSignIn struct {
	User *User
	// SSO, when not empty, means no session: the orgs whose SSO the person must go
	// through instead (SSOInsteadOfPassword).
	SSO []SSOOnlyOrg
}

// SignInWithPassword checks email and password (ErrBadCredentials for a wrong one or
// an unknown address alike) and applies Require SSO before any session exists.
func SignInWithPassword(ctx context.Context, db bun.IDB, email, password string) (*PasswordSignIn, error) {
	u, err := Authenticate(ctx, db, email, password)
	if err != nil {
		return nil, err
	}
	sso, err := SSOInsteadOfPassword(ctx, db, u.ID)
	if err != nil {
		return nil, err
	}
	return &PasswordSignIn{User: u, SSO: sso}, nil
}

// SSOInsteadOfPassword is the rule: the organizations whose SSO the account must use
// when every active membership it has requires SSO (an active provider with Require
// SSO on) and none lets it in by the owner fallback. It returns nil when a password
// may open a session: no membership, or one that takes passwords.
func SSOInsteadOfPassword(ctx context.Context, db bun.IDB, userID int64) ([]SSOOnlyOrg, error) {
	var rows []struct {
		OrgID        int64 `bun:"org_id"`
		Role         Role  `bun:"role"`
		Linked       bool  `bun:"sso_linked"`
		Requires     bool  `bun:"requires"`
		OwnersLinked int   `bun:"owners_linked"`
	}
	err := db.NewRaw(`SELECT m.org_id, m.role, m.sso_linked,
			coalesce(p.status = 'active' AND p.require_sso, false) AS requires,
			(SELECT count(*) FROM members o WHERE o.org_id = m.org_id AND o.role = 'owner' AND o.active AND o.sso_linked) AS owners_linked
		FROM members m LEFT JOIN auth_providers p ON p.org_id = m.org_id
		WHERE m.user_id = ? AND m.active ORDER BY m.org_id`, userID).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("orgs requiring SSO: %w", err)
	}
	var out []SSOOnlyOrg
	for _, r := range rows {
		if !r.Requires || (r.Role == RoleOwner && !r.Linked && r.OwnersLinked == 0) {
			return nil, nil // this org takes the password (or the owner fallback)
		}
		org, err := getOrg(ctx, db, r.OrgID)
		if err != nil {
			return nil, err
		}
		p, err := ProviderOf(ctx, db, r.OrgID)
		if err != nil {
			return nil, err
		}
		out = append(out, SSOOnlyOrg{Org: org, Provider: p, OwnerFallback: r.OwnersLinked == 0})
	}
	return out, nil
}

// OwnerFallbackOpen reports whether org's login page should offer the owner
// fallback (SPEC §4): Require SSO is on and no owner has linked, so an unlinked
// owner's password still opens the org. It is a fact about the org, the same for
// every visitor, so offering it tells nobody who is an owner.
func OwnerFallbackOpen(ctx context.Context, db bun.IDB, p *AuthProvider) (bool, error) {
	if p == nil || !p.Active() || !p.RequireSSO {
		return false, nil
	}
	n, err := OwnersLinked(ctx, db, p.OrgID)
	return n == 0, err
}
