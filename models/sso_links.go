package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"gatehouse/models/mail"
	"gatehouse/models/samlsp"
)

// PendingLinkLifetime is how long an SSO identity waits for its account's proof.
const PendingLinkLifetime = 30 * time.Minute

// PendingLink is an SSO identity whose email belongs to an existing account.
type PendingLink struct {
	bun.BaseModel `bun:"table:pending_links"`

	TokenHash      string         `bun:"token_hash,pk"`
	BrowserHash    string         `bun:"browser_hash"`
	OrgID          int64          `bun:"org_id"`
	ProviderID     int64          `bun:"provider_id"`
	UserID         int64          `bun:"user_id"`
	IDPUserID      string         `bun:"idp_user_id"`
	NameID         string         `bun:"name_id"`
	NameRef        string         `bun:"name_ref"` // samlsp.NameRef.Encode of the sign-in ("" for OAuth)
	Email          string         `bun:"email"`
	Attributes     map[string]any `bun:"attributes,type:jsonb"`
	NextPath       string         `bun:"next_path"`
	EmailTokenHash *string        `bun:"email_token_hash"`
	ExpiresAt      time.Time      `bun:"expires_at"`
	UsedAt         *time.Time     `bun:"used_at"`
	Flow           string         `bun:"flow"`
}

func createPendingLink(ctx context.Context, tx bun.Tx, org *Organization, p *AuthProvider, u *User, id SSOIdentity, next, flow string) (token, browser string, err error) {
	token, tokenHash := newToken()
	browser, browserHash := newToken()
	l := &PendingLink{TokenHash: tokenHash, BrowserHash: browserHash, OrgID: org.ID, ProviderID: p.ID, UserID: u.ID,
		IDPUserID: id.ID, NameID: id.NameID, NameRef: id.NameRef, Email: id.Email, Attributes: identityAttributes(id.Attributes), NextPath: next, Flow: flow,
		ExpiresAt: time.Now().Add(PendingLinkLifetime)}
	if _, err := tx.NewInsert().Model(l).Exec(ctx); err != nil {
		return "", "", fmt.Errorf("store pending link: %w", err)
	}
	return token, browser, nil
}

// ErrLinkInvalid is returned for an unknown, used, expired or other-browser link.
var ErrLinkInvalid = errors.New("this link is invalid, already used, expired, or was opened in another browser")

// PendingLinkView is what the link page shows.
type PendingLinkView struct {
	Org    Organization
	Email  string
	UserID int64
}

// GetPendingLink returns the link for token, only in the browser it was made for and
// only to the session that started the sign-in (flow).
func GetPendingLink(ctx context.Context, db bun.IDB, token, browser, flow string) (*PendingLinkView, error) {
	l := new(PendingLink)
	err := db.NewSelect().Model(l).Where("token_hash = ? AND browser_hash = ? AND flow = ? AND flow <> '' AND used_at IS NULL AND expires_at > now()",
		HashToken(token), HashToken(browser), flow).Scan(ctx)
	if err != nil {
		return nil, ErrLinkInvalid
	}
	org, err := getOrg(ctx, db, l.OrgID)
	if err != nil {
		return nil, err
	}
	return &PendingLinkView{Org: *org, Email: l.Email, UserID: l.UserID}, nil
}

// SendLinkEmail emails a one-time confirmation link for the pending link to the
// account's address. It works in the same browser and session only.
func SendLinkEmail(ctx context.Context, db bun.IDB, mailer *Mailer, token, browser, flow string) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		l := new(PendingLink)
		err := tx.NewSelect().Model(l).Where("token_hash = ? AND browser_hash = ? AND flow = ? AND flow <> '' AND used_at IS NULL AND expires_at > now()",
			HashToken(token), HashToken(browser), flow).For("UPDATE").Scan(ctx)
		if err != nil {
			return ErrLinkInvalid
		}
		emailToken, hash := newToken()
		if _, err := tx.NewUpdate().Model(l).Set("email_token_hash = ?", hash).WherePK().Exec(ctx); err != nil {
			return err
		}
		org, err := getOrg(ctx, tx, l.OrgID)
		if err != nil {
			return err
		}
		return mailer.enqueue(ctx, tx, mail.Args{To: l.Email, Template: mail.TemplateLinkConfirm,
			Data: map[string]string{"org_name": org.Name, "token": emailToken}})
	})
}

// LinkProof says how the account's owner proved it.
type LinkProof struct {
	Flow           string // the session's sign-in flow (must be the link's)
	SignedInUserID int64  // the browser is signed in as the account
	Password       string // or the account's password
	EmailToken     string // or the one-time emailed link
}

// CompletePendingLink links the SSO identity to the account once its owner proved
// it, in the browser the sign-in happened in, and makes them a linked member. It
// returns the user, the org, where to go next and how the IdP named the session of
// the sign-in (samlsp.NameRef, encoded, with its SessionIndex; the bare NameID for
// links made before it was kept) for SP-initiated logout. A wrong password is a
// ValidationError on "password".
func CompletePendingLink(ctx context.Context, db bun.IDB, token, browser string, proof LinkProof, ip string) (*User, *Organization, string, string, error) {
	var u *User
	var org *Organization
	var next, nameID string
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		l := new(PendingLink)
		q := tx.NewSelect().Model(l).Where("browser_hash = ? AND flow = ? AND flow <> '' AND used_at IS NULL AND expires_at > now()",
			HashToken(browser), proof.Flow).For("UPDATE")
		if proof.EmailToken != "" {
			q.Where("email_token_hash = ?", HashToken(proof.EmailToken))
		} else {
			q.Where("token_hash = ?", HashToken(token))
		}
		if err := q.Scan(ctx); err != nil {
			return ErrLinkInvalid
		}
		var err error
		if u, err = GetUser(ctx, tx, l.UserID); err != nil {
			return err
		}
		switch {
		case proof.EmailToken != "":
			// The emailed link proves the mailbox: an account nobody had proven (one
			// another org's IdP made, or an unverified sign-up) is claimed clean
			// first, so no earlier link survives into this one.
			if _, err := proveMailbox(ctx, tx, u.ID); err != nil {
				return err
			}
		case !u.EmailVerified:
			// A password or a session proves only whoever set them: on an account
			// whose address nobody proved, that may not be the mailbox's owner.
			return ErrMailboxUnproven
		case proof.SignedInUserID != 0:
			if proof.SignedInUserID != l.UserID {
				return Forbidden("You are signed in as another account. Log out, or prove the account with its password.")
			}
		default:
			// The login form's limits: a link page must not become an unlimited
			// password oracle (counted outside the transaction, which a wrong
			// password rolls back).
			ok, _, err := AllowPasswordAttempt(ctx, db, u.Email, ip)
			if err != nil {
				return err
			}
			if !ok {
				return Forbidden("Too many password attempts. Try again later, or use the emailed link.")
			}
			if _, err := Authenticate(ctx, tx, u.Email, proof.Password); err != nil {
				if errors.Is(err, ErrBadCredentials) {
					return Invalid("password", "This is not the password of "+u.Email+".")
				}
				return err
			}
		}
		if _, err := tx.NewUpdate().Model(l).Set("used_at = now()").WherePK().Exec(ctx); err != nil {
			return err
		}
		next, nameID = l.NextPath, l.NameRef
		if nameID == "" {
			nameID = l.NameID
		}
		if org, err = getOrg(ctx, tx, l.OrgID); err != nil {
			return err
		}
		p := new(AuthProvider)
		if err := tx.NewSelect().Model(p).Where("id = ? AND org_id = ?", l.ProviderID, l.OrgID).Scan(ctx); err != nil {
			return notFound(err, "auth provider")
		}
		id := SSOIdentity{Identity: samlsp.Identity{ID: l.IDPUserID, Email: l.Email}, NameID: l.NameID, Attributes: map[string][]string{}}
		for k, v := range l.Attributes {
			if vs, ok := v.([]any); ok {
				for _, s := range vs {
					id.Attributes[k] = append(id.Attributes[k], fmt.Sprint(s))
				}
			}
		}
		// Verified domains: a link started before another org verified the domain is
		// refused like a new sign-in (domainVerdictFor).
		if v, dom, err := domainVerdictFor(ctx, tx, org.ID, l.Email, u.Email); err != nil {
			return err
		} else if v == domainForeign {
			return Forbidden("This address is at " + dom + ", a domain another organization has verified: this organization's identity provider cannot be linked to it.")
		}
		if err := linkIdentity(ctx, tx, p, u.ID, id); err != nil {
			return err
		}
		if err := ensureMembership(ctx, tx, org, u, id, ip, nil); err != nil {
			return err
		}
		return audit(ctx, tx, org.ID, Actor{UserID: u.ID, Label: u.Email, IP: ip}, EventSSOLinked, u.Email, map[string]any{"idp_user_id": l.IDPUserID})
	})
	if err != nil {
		return nil, nil, "", "", err
	}
	return u, org, next, nameID, nil
}
