package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"gatehouse/models/database"
	"gatehouse/models/samlsp"
)

// SAMLRequestLifetime is how long an SP-initiated request can be answered.
const SAMLRequestLifetime = 10 * time.Minute

// SSO request purposes.
const (
	PurposeLogin    = "login"
	PurposeActivate = "activate"
	PurposeTest     = "test"
)

// SAMLRequest is the state of one SP-initiated SSO, keyed by its opaque RelayState.
type SAMLRequest struct {
	bun.BaseModel `bun:"table:saml_requests"`

	RelayState string     `bun:"relay_state,pk"`
	OrgID      int64      `bun:"org_id"`
	RequestID  string     `bun:"request_id"`
	Purpose    string     `bun:"purpose"`
	UserID     *int64     `bun:"user_id"`
	NextPath   string     `bun:"next_path"`
	CreatedAt  time.Time  `bun:"created_at,nullzero,default:now()"`
	ExpiresAt  time.Time  `bun:"expires_at"`
	UsedAt     *time.Time `bun:"used_at"`
	// SubmitKey is the owner's form submission that started it, and Outbound the
	// AuthnRequest sent, to send again when that form is submitted again.
	SubmitKey *string          `bun:"submit_key"`
	Outbound  *samlsp.Outbound `bun:"outbound,type:jsonb"`
}

// StartSAML records a new request for org and returns the AuthnRequest to send the
// browser to the IdP with (a Redirect URL, or a POST form for IdPs that publish only
// HTTP-POST) and the flow id the starting session keeps (see SSOStart.Flow). userID is
// who started it (required to activate); next is a local path. submitKey is the
// owner's form submission that starts it (NewSubmitKey; "" for none): the same
// submission again, while its request can still be answered, gets that request's
// AuthnRequest and flow, so a double click starts one round trip.
func StartSAML(ctx context.Context, db bun.IDB, s samlsp.Settings, orgID int64, purpose string, userID int64, next, submitKey string) (*samlsp.Outbound, string, error) {
	relay, flow := newToken()
	out, requestID, err := samlsp.StartSSO(s, relay)
	if err != nil {
		return nil, "", err
	}
	r := &SAMLRequest{RelayState: relay, OrgID: orgID, RequestID: requestID, Purpose: purpose, NextPath: next,
		ExpiresAt: time.Now().Add(SAMLRequestLifetime), Outbound: out}
	if userID != 0 {
		r.UserID = &userID
	}
	if submitKey != "" && userID != 0 {
		r.SubmitKey = &submitKey
		// A simultaneous twin waits here for the first insert and then does nothing.
		res, err := db.NewInsert().Model(r).
			On("CONFLICT (org_id, user_id, purpose, submit_key) WHERE submit_key IS NOT NULL DO NOTHING").Exec(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("store SAML request: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return out, flow, nil
		}
		first := new(SAMLRequest)
		err = db.NewSelect().Model(first).Where("org_id = ? AND user_id = ? AND purpose = ? AND submit_key = ? AND used_at IS NULL AND expires_at > now()",
			orgID, userID, purpose, submitKey).Scan(ctx)
		if err == nil && first.Outbound != nil {
			return first.Outbound, HashToken(first.RelayState), nil
		}
		if err = notFound(err, "SAML request"); !IsNotFound(err) {
			return nil, "", err
		}
		r.SubmitKey = nil // that round trip is over: the form starts a new one
	}
	if _, err := db.NewInsert().Model(r).Exec(ctx); err != nil {
		return nil, "", fmt.Errorf("store SAML request: %w", err)
	}
	return out, flow, nil
}

// TakeSAMLRequest consumes the request state of relayState for org: it works once,
// for SAMLRequestLifetime, and only for the org it was made for. ErrNotFound otherwise.
func TakeSAMLRequest(ctx context.Context, db bun.IDB, orgID int64, relayState string) (*SAMLRequest, error) {
	if relayState == "" || len(relayState) > 100 {
		return nil, fmt.Errorf("relay state: %w", ErrNotFound)
	}
	r := new(SAMLRequest)
	err := db.NewUpdate().Model(r).Set("used_at = now()").
		Where("relay_state = ? AND org_id = ? AND used_at IS NULL AND expires_at > now()", relayState, orgID).
		Returning("*").Scan(ctx)
	if err != nil {
		return nil, notFound(err, "SAML request")
	}
	return r, nil
}

// PeekSAMLRequest returns the unused, unexpired request state of relayState for org
// without consuming it (the same-site completion step consumes it), or ErrNotFound.
func PeekSAMLRequest(ctx context.Context, db bun.IDB, orgID int64, relayState string) (*SAMLRequest, error) {
	if relayState == "" || len(relayState) > 100 {
		return nil, fmt.Errorf("relay state: %w", ErrNotFound)
	}
	r := new(SAMLRequest)
	err := db.NewSelect().Model(r).Where("relay_state = ? AND org_id = ? AND used_at IS NULL AND expires_at > now()", relayState, orgID).Scan(ctx)
	if err != nil {
		return nil, notFound(err, "SAML request")
	}
	return r, nil
}

// SSOError is a refused sign-in: Reason is the sign-in log code; Message, when set,
// is Sentry's text for the org login page ("Authentication error: …").
type SSOError struct {
	Reason  string
	Message string
	Hint    string
}

func (e *SSOError) Error() string { return e.Reason + ": " + e.Message }

// Reasons recorded in the sign-in log besides samlsp's.
const (
	ReasonReplay        = "replay"
	ReasonNoProvider    = "no_provider"
	ReasonMapping       = "mapping"
	ReasonDeactivated   = "deactivated"
	ReasonLinkConflict  = "link_conflict"
	ReasonNotAllowed    = "idp_initiated_disabled"
	ReasonUnproven      = "email_unproven"
	ReasonOtherBrowser  = "other_browser"
	ReasonOwnerInvite   = "owner_invitation"
	ReasonDeprovisioned = "deprovisioned"
	// ReasonSettingsChanged: the provider changed between the ACS and the completion.
	ReasonSettingsChanged = "settings_changed"
	// ReasonLinkRemoved: the identity's link ended while the sign-in ran (identityStillLinked).
	ReasonLinkRemoved = "link_removed"
)

// SSOOutcome is what a successful assertion leads to.
type SSOOutcome struct {
	User      *User
	Activated bool
	// Link is set when the email belongs to an existing account that must prove
	// itself first; the browser gets LinkBrowser as a cookie.
	LinkToken   string
	LinkBrowser string
}

// SSOIdentity is who an IdP says signs in: the mapped identity plus what is kept
// with the link (the SAML NameID, for single logout, and the attributes last seen),
// and how the IdP named this session (NameRef: samlsp.NameRef.Encode, "" for OAuth),
// which a sign-in that waits on the link page keeps for SP-initiated logout.
type SSOIdentity struct {
	samlsp.Identity
	NameID     string
	NameRef    string
	Attributes map[string][]string
}

// SSOStart is the request a sign-in answers: its purpose and, for activation and
// tests, the user who started it. A nil *SSOStart is an unsolicited (IdP-initiated)
// sign-in.
type SSOStart struct {
	Purpose string
	UserID  *int64
	// Flow identifies the sign-in (HashToken of its RelayState or OAuth state); the
	// browser session that started it holds the same value.
	Flow string
}

// SAMLIdentity is the identity of a validated assertion.
func SAMLIdentity(a *samlsp.Assertion, id samlsp.Identity) SSOIdentity {
	return SSOIdentity{Identity: id, NameID: a.NameID, NameRef: a.Ref().Encode(), Attributes: a.Attributes}
}

// CompleteSSO completes a sign-in of a provider without assertions (Google, GitHub):
// the identity is linked, provisioned or signed in as a SAML one is (CompleteSSOHandoff).
func CompleteSSO(ctx context.Context, db bun.IDB, mailer *Mailer, org *Organization, p *AuthProvider, start *SSOStart, id SSOIdentity, next, ip string, then SSOThen) (*SSOOutcome, error) {
	var out *SSOOutcome
	err := signInTx(ctx, db, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if out, err = completeSSO(ctx, tx, mailer, org, p, start, id, next, ip, nil); err != nil {
			return err
		}
		if then != nil {
			return then(ctx, tx, out)
		}
		return nil
	})
	return out, err
}

// signInTx runs fn, an SSO sign-in, in a transaction whose closing writes (the
// identity's last sign-in, the sign-in log, the session: database.Defer with fn's
// ctx and tx) are sent as one statement after fn, before the commit.
func signInTx(ctx context.Context, db bun.IDB, fn func(ctx context.Context, tx bun.Tx) error) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		ctx, tail := database.WithTail(ctx, tx)
		if err := fn(ctx, tx); err != nil {
			return err
		}
		return tail.Flush(ctx)
	})
}

// SSOThen is the caller's part of a successful SSO sign-in (a user signed in, or a
// link waiting for its owner), run inside the sign-in's transaction: the sign-in log
// and the browser's session are written there, so that a login is one commit and
// there is never a session without its membership, or the reverse (issue 12).
type SSOThen func(ctx context.Context, tx bun.Tx, out *SSOOutcome) error

// completeSSO links, provisions or signs in id. look is the sign-in's first read of id,
// made earlier in tx (qOpenSignIn), or nil.
func completeSSO(ctx context.Context, tx bun.Tx, mailer *Mailer, org *Organization, p *AuthProvider, start *SSOStart, id SSOIdentity, next, ip string, look *signInLookup) (*SSOOutcome, error) {
	if start != nil && start.Purpose == PurposeActivate {
		return activateProvider(ctx, tx, mailer, org, p, start.UserID, id, ip)
	}
	if !p.Active() {
		return nil, &SSOError{Reason: ReasonNoProvider, Message: samlsp.MsgNoSSO, Hint: "The provider is not active yet: the owner must finish setup."}
	}
	flow := ""
	if start != nil {
		flow = start.Flow
	}
	return signInIdentity(ctx, tx, org, p, id, next, flow, ip, look)
}

func identityAttributes(attrs map[string][]string) map[string]any {
	out := map[string]any{}
	for k, v := range attrs {
		out[k] = v
	}
	return out
}

// linkIdentity records that user is id at p. A link of this IdP user to another
// account, or of this account to another IdP user, is refused.
func linkIdentity(ctx context.Context, tx bun.Tx, p *AuthProvider, userID int64, id SSOIdentity) error {
	res, err := tx.NewRaw(`INSERT INTO auth_identities (provider_id, org_id, user_id, idp_user_id, name_id, attributes)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		p.ID, p.OrgID, userID, id.ID, id.NameID, identityAttributes(id.Attributes)).Exec(ctx)
	if err != nil {
		return fmt.Errorf("link identity: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var existing int64
		if err := tx.NewRaw("SELECT user_id FROM auth_identities WHERE provider_id = ? AND idp_user_id = ?", p.ID, id.ID).Scan(ctx, &existing); err == nil && existing == userID {
			return nil
		}
		return &SSOError{Reason: ReasonLinkConflict, Message: samlsp.MsgInvalidIdentity,
			Hint: "This IdP user or this account is already linked to someone else in this organization."}
	}
	return nil
}

// ensureMembership makes the user an active, linked member of org through BindPerson
// (one member per person): the account's membership, else the member the IdP
// provisioned for this IdP user id (userName or externalId) or email — the first SSO
// of a SCIM member lands on it and activates it —, else a live invitation for the
// address, else a just-in-time member with the org's default role (never above it).
// Deprovisioning always wins: a member the IdP deactivated or deleted is refused.
// An owner invitation is never accepted here; an expired invitation is dropped.
//
// checked is the deprovisioning check's result (personCheck) for this same person
// (account, IdP user id and address) earlier in tx, or nil.
func ensureMembership(ctx context.Context, tx bun.Tx, org *Organization, u *User, id SSOIdentity, ip string, checked *checkedPerson) error {
	actor := Actor{UserID: u.ID, Label: u.Email, IP: ip}
	p := Person{UserID: u.ID, IdPUserID: id.ID, Email: u.Email, checked: checked,
		CanBind: func(m *Member) (bool, error) {
			if m.Role == RoleOwner {
				return false, &SSOError{Reason: ReasonOwnerInvite, Message: "You are invited as an owner: accept the invitation from your email first.",
					Hint: "An owner invitation is accepted only through its emailed link, never through SSO."}
			}
			// A provisioned member binds whatever its invitation's age: the IdP says
			// this person belongs here. An expired invitation made in the app does not.
			live := m.InviteExpiresAt != nil && m.InviteExpiresAt.After(time.Now())
			return m.IDPProvisioned || live, nil
		}}
	m, b, err := BindPerson(ctx, tx, org.ID, p, func() *Member {
		return &Member{UserID: &u.ID, Role: org.DefaultRole, JoinedVia: JoinedSSO, SSOLinked: true, Active: true}
	})
	if err != nil {
		return ssoBindError(err)
	}
	if b != BindFound || !m.SSOLinked || m.SSOInvalid { // a returning member's row is left alone
		if _, err := tx.NewUpdate().Model(m).Set("sso_linked = true").Set("sso_invalid = false").Set("updated_at = now()").WherePK().Exec(ctx); err != nil {
			return err
		}
	}
	switch b {
	case BindBound:
		via := "invitation (SSO)"
		if m.IDPProvisioned {
			via = "SCIM provisioning (first SSO)"
		}
		return audit(ctx, tx, org.ID, actor, EventMemberJoined, u.Email, map[string]any{"role": m.Role, "via": via})
	case BindCreated:
		return audit(ctx, tx, org.ID, System("SSO just-in-time"), EventMemberJoined, u.Email, map[string]any{"role": m.Role, "via": "SSO just-in-time"})
	}
	return nil
}

// ssoBindError turns BindPerson's refusals into sign-in errors.
func ssoBindError(err error) error {
	switch {
	case errors.Is(err, ErrDeprovisioned):
		return &SSOError{Reason: ReasonDeprovisioned, Message: "Your access to this organization was removed by the organization's identity provider.",
			Hint: "The member is deactivated or deleted by SCIM; the IdP must reactivate or provision them again."}
	case errors.Is(err, ErrConflict):
		return &SSOError{Reason: ReasonLinkConflict, Message: samlsp.MsgInvalidIdentity,
			Hint: "The member this IdP user is provisioned as belongs to another account, or another member has this address."}
	}
	return err
}

// refuseOwnerInvitation stops an SSO sign-in for an address with a pending owner
// invitation: the owner role is taken only through the emailed link (an IdP's word
// about an address never grants it; SECURITY.md "Powers").
func refuseOwnerInvitation(ctx context.Context, tx bun.Tx, orgID int64, email string) error {
	owner, err := tx.NewSelect().TableExpr("members").
		Where("org_id = ? AND user_id IS NULL AND lower(invite_email) = lower(?) AND role = 'owner'", orgID, email).Exists(ctx)
	if err != nil {
		return err
	}
	if owner {
		return &SSOError{Reason: ReasonOwnerInvite, Message: "You are invited as an owner: accept the invitation from your email first.",
			Hint: "An owner invitation is accepted only through its emailed link, never through SSO."}
	}
	return nil
}

// sameAddressInSQL reports whether SQL's lower() makes a and b equal, for certain:
// byte-equal, or both ASCII and equal but for case (Go's case folding and
// PostgreSQL's lower() differ only outside ASCII).
func sameAddressInSQL(a, b string) bool {
	if a == b {
		return true
	}
	for _, s := range []string{a, b} {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return false
			}
		}
	}
	return strings.EqualFold(a, b)
}

// The returning sign-in's statements, prepared (prepared.go).
var (
	// Which org verified the asserted address's domain ($1), the account this IdP
	// user ($3) is linked to at the provider ($2), and the deprovisioning check of
	// this person in the org ($4) — the linked account, the IdP user id, the asserted
	// email ($5) —: one row whatever is found (signInLookup), one round trip.
	qSignInLookup = prepare(func(db bun.IDB) string {
		return signInLookupSQL(db, lookupArgs{domain: "$1", provider: "$2", idp: "$3", org: "$4", email: "$5"})
	})
	qIdentitySeen = prepare(func(bun.IDB) string {
		// attributes is sent as JSON text: every exec mode can encode a string, while
		// a map needs the parameter's type (which exec and simple protocol never learn).
		return `UPDATE auth_identities SET last_verified_at = now(), name_id = $1, attributes = $2::jsonb WHERE provider_id = $3 AND idp_user_id = $4`
	})
)

// lookupArgs are the SQL expressions signInLookupSQL reads: the asserted address's
// domain, the provider, the IdP user id, the org and the asserted address.
type lookupArgs struct{ domain, provider, idp, org, email string }

// signInLookupSQL is a sign-in's first read (one signInLookup row, whatever is found).
// It locks the person's member row (personCheckSQL).
func signInLookupSQL(db bun.IDB, a lookupArgs) string {
	person := personArgs{org: a.org, account: "u.id", idp: "NULLIF(" + a.idp + ", '')", external: "NULLIF(" + a.idp + ", '')",
		email: "NULLIF(" + a.email + ", '')", scimExternal: "NULL"}
	return "SELECT (" + verifiedDomainOwnerSQL(a.domain) + ") AS domain_owner, " +
		columnsOf(db, (*User)(nil), "u", "u_") + ", chk.*" +
		" FROM (SELECT 1) AS one LEFT JOIN auth_identities AS i ON i.provider_id = " + a.provider + " AND i.idp_user_id = " + a.idp +
		" LEFT JOIN users AS u ON u.id = i.user_id" +
		" CROSS JOIN LATERAL (" + personCheckSQL(db, person) + ") AS chk"
}

// identityStillLinked refuses a sign-in whose identity link is gone when its last
// write runs (qIdentitySeen found no row): a mailbox proof, a provider change or a
// provider's removal ended the link while the sign-in waited for the person's member
// row, and the sign-in's first read saw the link as it was before.
func identityStillLinked(rows int64) error {
	if rows == 0 {
		return &SSOError{Reason: ReasonLinkRemoved,
			Message: "Your account's single sign-on link changed while you were signing in. Please sign in again.",
			Hint:    "The identity's link was removed (mailbox proof, provider change) while this sign-in waited for the member row."}
	}
	return nil
}

// signInLookup is a sign-in's first read (qSignInLookup, or qOpenSignIn's).
type signInLookup struct {
	DomainOwner *int64 `bun:"domain_owner"` // the org that verified the asserted domain; nil: none
	Linked      User   `bun:"embed:u_"`     // the linked account; ID 0: none
	personCheck        // the person's deprovisioning check (the linked account, IdP user id, email)
}

// signInIdentity signs id in. look is its first read (signInLookupSQL) of this
// person at p, made earlier in tx, or nil to make it now.
func signInIdentity(ctx context.Context, tx bun.Tx, org *Organization, p *AuthProvider, id SSOIdentity, next, flow, ip string, look *signInLookup) (*SSOOutcome, error) {
	if look == nil {
		look = new(signInLookup)
		if err := qSignInLookup.scanOne(ctx, tx, look, EmailDomain(id.Email), p.ID, id.ID, org.ID, id.Email); err != nil {
			return nil, fmt.Errorf("sign-in lookup: %w", err)
		}
	}
	// Verified domains, at the door: an IdP never speaks for an address at a domain
	// another org verified (domainVerdictFor).
	verdict, dom := domainVerdictOf(look.DomainOwner, org.ID, EmailDomain(id.Email))
	if verdict == domainForeign {
		return nil, foreignDomainError(dom)
	}
	// The account this IdP user is linked to, if any (ID 0: none).
	linked := &look.Linked
	// Deprovisioning always wins, before any account is made or linked.
	checked, err := look.checked()
	if err != nil {
		return nil, ssoBindError(err)
	}
	if linked.ID != 0 {
		u := linked
		if EmailDomain(u.Email) != EmailDomain(id.Email) { // the same domain was judged above
			if v, dom, err := domainVerdictFor(ctx, tx, org.ID, u.Email); err != nil {
				return nil, err
			} else if v == domainForeign {
				return nil, foreignDomainError(dom)
			}
		}
		if !u.IsActive {
			return nil, &SSOError{Reason: ReasonDeactivated, Message: samlsp.MsgInvalidIdentity, Hint: "The linked account is disabled."}
		}
		if !ReachesOrg(u, org.ID) {
			return nil, &SSOError{Reason: ReasonUnproven, Message: "Verify your email address first: reset your password to prove it.",
				Hint: "The account was created by another organization's identity provider and its address is not proven yet."}
		}
		attrs, err := json.Marshal(identityAttributes(id.Attributes))
		if err != nil {
			return nil, err
		}
		if err := qIdentitySeen.deferChecked(ctx, tx, identityStillLinked, id.NameID, string(attrs), p.ID, id.ID); err != nil {
			return nil, err
		}
		if !sameAddressInSQL(u.Email, id.Email) {
			checked = nil // ensureMembership looks for the account's address, not the assertion's
		}
		if err := ensureMembership(ctx, tx, org, u, id, ip, checked); err != nil {
			return nil, err
		}
		return &SSOOutcome{User: u}, nil
	}
	existing, err := UserByEmail(ctx, tx, id.Email)
	if err == nil {
		// Never linked on the email alone: the account's owner proves it first, in
		// the browser that started this sign-in. An unsolicited (IdP-initiated)
		// response has no such browser: it could be pushed into anyone's.
		if flow == "" {
			return nil, &SSOError{Reason: "link_needs_login_page", Message: "An account with this email address already exists. To link it, sign in from the organization's login page.",
				Hint: "An IdP-initiated sign-in cannot link an existing account; the person must start from the Login URL."}
		}
		token, browser, err := createPendingLink(ctx, tx, org, p, existing, id, next, flow)
		if err != nil {
			return nil, err
		}
		return &SSOOutcome{LinkToken: token, LinkBrowser: browser}, nil
	} else if !IsNotFound(err) {
		return nil, err
	}
	if err := refuseOwnerInvitation(ctx, tx, org.ID, id.Email); err != nil {
		return nil, err
	}
	// Just in time: the account reaches this org only until a person proves its
	// mailbox (ReachesOrg); the IdP's word proves nothing about the address — unless
	// the address is at a domain this org verified: then the org's own IdP proves the
	// mailbox of this new account (SECURITY.md "Accounts and linking").
	u := &User{Email: id.Email, Name: id.Name(), IsActive: true, CreatedByOrgID: &org.ID}
	if verdict == domainOwn {
		u.EmailVerified, u.CreatedByOrgID = true, nil
	}
	if u.Name == "" {
		u.Name = id.Email
	}
	if _, err := tx.NewInsert().Model(u).Returning("*").Exec(ctx); err != nil {
		return nil, fmt.Errorf("just-in-time user: %w", err)
	}
	if err := linkIdentity(ctx, tx, p, u.ID, id); err != nil {
		return nil, err
	}
	if err := ensureMembership(ctx, tx, org, u, id, ip, nil); err != nil {
		return nil, err
	}
	return &SSOOutcome{User: u}, nil
}

// activateProvider completes the owner's setup round trip: it links the owner who
// started it, makes the provider active and emails the other members a link
// reminder (SPEC §3.4).
func activateProvider(ctx context.Context, tx bun.Tx, mailer *Mailer, org *Organization, p *AuthProvider, starter *int64, id SSOIdentity, ip string) (*SSOOutcome, error) {
	if starter == nil {
		return nil, &SSOError{Reason: samlsp.ReasonRequest, Hint: "The activation request has no owner."}
	}
	u, err := GetUser(ctx, tx, *starter)
	if err != nil {
		return nil, err
	}
	actor := Actor{UserID: u.ID, Label: u.Email, IP: ip}
	if err := authorizeActor(ctx, tx, org.ID, actor, ActActivateIdP, Target{IdPTrustedBefore: org.IdPTrustedBefore}); err != nil {
		hint := "Only an owner or manager can activate SSO."
		if org.IdPTrustedBefore {
			hint = "This organization trusted an identity provider before: only an owner can activate another one."
		}
		return nil, &SSOError{Reason: samlsp.ReasonRequest, Hint: hint}
	}
	m, err := MembershipOf(ctx, tx, org.ID, *starter)
	if err != nil {
		return nil, err
	}
	if err := linkIdentity(ctx, tx, p, u.ID, id); err != nil {
		return nil, err
	}
	if _, err := tx.NewUpdate().Model(m).Set("sso_linked = true").Set("sso_invalid = false").WherePK().Exec(ctx); err != nil {
		return nil, err
	}
	activated := false
	if !p.Active() {
		if err := markProviderActive(ctx, tx, p); err != nil {
			return nil, err
		}
		activated = true
		if err := audit(ctx, tx, org.ID, actor, EventSSOEnabled, p.DisplayName(),
			map[string]any{"entity_id": p.Config.EntityID}); err != nil {
			return nil, err
		}
		if org.IdPTrustedBefore {
			if err := notifyOwners(ctx, tx, mailer, org.ID, actor, "activated "+p.DisplayName()+" single sign-on"); err != nil {
				return nil, err
			}
		}
		// Existing members are asked to link their accounts (SPEC §3.4).
		if _, err := sendLinkReminders(ctx, tx, mailer, org.ID, 0); err != nil {
			return nil, err
		}
	}
	return &SSOOutcome{User: u, Activated: activated}, nil
}

// SSOAttempt is one entry of an org's sign-in log.
type SSOAttempt struct {
	bun.BaseModel `bun:"table:sso_signins"`

	ID        int64     `bun:"id,pk,autoincrement"`
	OrgID     int64     `bun:"org_id"`
	Outcome   string    `bun:"outcome"`
	Reason    string    `bun:"reason"`
	Hint      string    `bun:"hint"`
	IDPUserID string    `bun:"idp_user_id"`
	Email     string    `bun:"email"`
	UserID    *int64    `bun:"user_id"`
	IP        string    `bun:"ip"`
	CreatedAt time.Time `bun:"created_at,nullzero,default:now()"`
}

// RecordSSOAttempt appends to the sign-in log (never the assertion itself), in the
// tail of a sign-in's transaction (signInTx) when db is it.
func RecordSSOAttempt(ctx context.Context, db bun.IDB, at SSOAttempt) error {
	if len(at.Hint) > 500 {
		at.Hint = at.Hint[:500]
	}
	if err := qRecordSSOAttempt.deferExec(ctx, db, at.OrgID, at.Outcome, at.Reason, at.Hint, at.IDPUserID, at.Email, at.UserID, at.IP); err != nil {
		return fmt.Errorf("record SSO attempt: %w", err)
	}
	return nil
}

var qRecordSSOAttempt = prepare(func(bun.IDB) string {
	return "INSERT INTO sso_signins (org_id, outcome, reason, hint, idp_user_id, email, user_id, ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
})

// ListSSOAttempts returns org's sign-in attempts, newest first, from offset (at most limit).
func ListSSOAttempts(ctx context.Context, db bun.IDB, orgID int64, limit, offset int) ([]SSOAttempt, error) {
	var out []SSOAttempt
	err := db.NewSelect().Model(&out).Where("org_id = ?", orgID).OrderExpr("id DESC").Limit(int64(limit)).Offset(int64(offset)).Scan(ctx)
	return out, err
}

// IdentityByNameID finds the user an IdP's logout request names (by the NameID last
// seen at sign-in). ErrNotFound when nobody matches.
func IdentityByNameID(ctx context.Context, db bun.IDB, providerID int64, nameID string) (int64, error) {
	var userID int64
	err := db.NewRaw("SELECT user_id FROM auth_identities WHERE provider_id = ? AND name_id = ? ORDER BY last_verified_at DESC LIMIT 1",
		providerID, nameID).Scan(ctx, &userID)
	if err != nil {
		return 0, notFound(err, "identity")
	}
	return userID, nil
}

// AsSSOError unwraps an SSOError.
func AsSSOError(err error) (*SSOError, bool) {
	var e *SSOError
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}
