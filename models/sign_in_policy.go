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

// InvitationPath is how an invitation is accepted (SPEC §1: "Where the org requires
// SSO, accepting goes through SSO"; README "Verified domains": under domain capture an
// address at the domain signs in only through the org's SSO).
type InvitationPath int

// Paths of InvitationRoute.
const (
	// AcceptWithAccount: create an account (the link proves the mailbox) or sign in,
	// then accept.
	AcceptWithAccount InvitationPath = iota
	// AcceptWithSSO: through the org's IdP, SP-initiated; the SSO sign-in accepts the
	// invitation for the address it asserts (ensureMembership), with its role. No
	// password account is made.
	AcceptWithSSO
	// AcceptOwnerWithAccount: an owner invitation of an org that requires SSO (or
	// captures the address). An SSO sign-in never accepts an owner invitation (the
	// IdP's word never grants owner): it is accepted with an account, through the
	// emailed link, and the owner then links SSO.
	AcceptOwnerWithAccount
	// AcceptAfterCaptorSSO: another org captures the address's domain: the person
	// signs in through that org's SSO first, then accepts signed in.
	AcceptAfterCaptorSSO
)

// InvitationRoute is the path of one invitation, with the orgs it involves.
type InvitationRoute struct {
	Path     InvitationPath
	Provider *AuthProvider // the inviting org's, for AcceptWithSSO and AcceptOwnerWithAccount
	Captor   *Organization // for AcceptAfterCaptorSSO
	Domain   string        // the captured domain, when capture decides
}

// InvitationRouteOf is the rule for accepting inv, called by the accept page and by
// every acceptance (AcceptInvitation, AcceptInvitationAsNewUser).
func InvitationRouteOf(ctx context.Context, db bun.IDB, inv *InvitationView) (*InvitationRoute, error) {
	r := &InvitationRoute{Path: AcceptWithAccount}
	captor, _, err := SSORoute(ctx, db, inv.Email)
	if err != nil && !IsNotFound(err) {
		return nil, err
	}
	if captor != nil && captor.DomainCapture {
		r.Domain = EmailDomain(inv.Email)
		if captor.ID != inv.Org.ID {
			r.Path, r.Captor = AcceptAfterCaptorSSO, captor
			return r, nil
		}
	}
	p, err := ProviderOf(ctx, db, inv.Org.ID)
	if IsNotFound(err) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	if !p.Active() || (!p.RequireSSO && r.Domain == "") {
		return r, nil
	}
	r.Provider, r.Path = p, AcceptWithSSO
	if inv.Role == RoleOwner {
		r.Path = AcceptOwnerWithAccount
	}
	return r, nil
}

// checkInvitationAcceptance refuses accepting inv outside its path: a new password
// account where SSO or a captor's SSO is the way in, or a signed-in acceptance where
// the invitation goes through the org's IdP.
func checkInvitationAcceptance(ctx context.Context, db bun.IDB, inv *InvitationView, newAccount bool) error {
	r, err := InvitationRouteOf(ctx, db, inv)
	if err != nil {
		return err
	}
	switch {
	case r.Path == AcceptWithSSO:
		return Forbidden(inv.Org.Name + " requires single sign-on: accept the invitation through its identity provider.")
	case r.Path == AcceptAfterCaptorSSO && newAccount:
		return Forbidden("Addresses at " + r.Domain + " sign in through " + r.Captor.Name + "'s single sign-on: sign in there first, then open this invitation again.")
	}
	return nil
}
