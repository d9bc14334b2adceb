package models

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/uptrace/bun"

	"gatehouse/models/scim"
)

// One member per person per org (SPEC §5, SECURITY.md "Deprovisioning always wins").
//
// Every channel that brings a person into an org — SCIM create, SSO (just in time or
// the first sign-in of a provisioned member), an invitation link, a UI invitation —
// goes through BindPerson, which finds the member that already is this person or
// binds/creates exactly one. The database backs it: (org, lower(email)) and
// (org, lower(userName)) are unique among members.

// Person is who a channel names.
type Person struct {
	// UserID is the account (SSO sign-in, invitation link); 0 when none yet.
	UserID int64
	// IdPUserID is the IdP's user id: the SCIM userName, or an SSO identity's user id
	// (the provider's "IdP User ID" mapping; Entra's seed mapping is the UPN). It
	// matches a member's userName, then its externalId.
	IdPUserID string
	// ExternalID is the SCIM externalId (SCIM only: it clears a deletion record; it
	// never makes two Users the same person).
	ExternalID string
	// Email is the address the channel gives; the last resort for matching.
	Email string
	// FromIdP: the organization's IdP itself speaks (SCIM). Only it can bring back a
	// person it deprovisioned.
	FromIdP bool
	// CanBind, when set, decides whether a pending member found for the account may
	// be bound to it: false drops that pending row (an expired invitation) and
	// creates instead; an error refuses.
	CanBind func(*Member) (bool, error)
	// checked is what the deprovisioning check (personCheck) found for this same
	// person earlier in the transaction (the member, locked, or none): BindPerson does
	// not look again.
	checked *checkedPerson
}

// checkedPerson is the result of the deprovisioning check (personCheck): not removed
// by the IdP, and this member (nil for none), locked FOR UPDATE.
type checkedPerson struct{ member *Member }

// Binding is what BindPerson did.
type Binding int

// Bindings.
const (
	BindNone    Binding = iota // nobody matched and nothing was created
	BindFound                  // the person's member exists (returned as is)
	BindBound                  // a pending member was bound to Person.UserID
	BindCreated                // the member create returned was inserted
)

// ErrDeprovisioned refuses a person the organization's IdP deactivated or deleted.
var ErrDeprovisioned = Forbidden("Your access to this organization was removed by the organization's identity provider. Ask your administrator to restore it there.")

// findPersonMember returns the member of org that is p, locked, or nil. Order: the
// account's membership, the IdP user id as userName, as externalId (SSO only), then
// the email. Absent parts of p are NULL parameters, which match nothing.
func findPersonMember(ctx context.Context, tx bun.IDB, orgID int64, p Person) (*Member, error) {
	if p.UserID == 0 && p.IdPUserID == "" && p.Email == "" {
		return nil, nil
	}
	// The IdP user id of an SSO identity is the userName or the externalId (whichever
	// the provider maps as IdP User ID). SCIM's own uniqueness is userName and email:
	// externalId is the client's and need not be unique (RFC 7643 §3.1).
	var external any
	if p.IdPUserID != "" && !p.FromIdP {
		external = p.IdPUserID
	}
	var rows []Member
	if err := qFindPersonMember.scanAll(ctx, tx, &rows, orgID, nullable(p.UserID), nullable(p.IdPUserID), external, nullable(p.Email)); err != nil {
		return nil, fmt.Errorf("find member: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// removedByIdP reports whether SCIM deleted this person from org (and has not
// provisioned them again). Absent parts of p are NULL parameters, which match nothing.
func removedByIdP(ctx context.Context, db bun.IDB, orgID int64, p Person) (bool, error) {
	if p.UserID == 0 && p.IdPUserID == "" && p.Email == "" && p.ExternalID == "" {
		return false, nil
	}
	var removed bool
	err := qRemovedByIdP.scanOne(ctx, db, &removed, orgID, nullable(p.UserID), nullable(p.IdPUserID), nullable(p.Email), nullable(p.ExternalID))
	return removed, err
}

// The person lookups, prepared (prepared.go): every sign-in and SCIM write runs them.
// Placeholders: $1 org, $2 account, $3 IdP user id, then as each statement says.
var (
	// $4 the IdP user id as externalId (NULL for SCIM), $5 email.
	qFindPersonMember = prepare(func(db bun.IDB) string {
		return findPersonMemberSQL(db, personArgs{org: "$1", account: "$2", idp: "$3", external: "$4", email: "$5"})
	})
	// $4 email, $5 SCIM externalId.
	qRemovedByIdP = prepare(func(bun.IDB) string {
		return "SELECT EXISTS (" + removedByIdPSQL(personArgs{org: "$1", account: "$2", idp: "$3", email: "$4", scimExternal: "$5"}) + ")"
	})
)

// personArgs are the SQL expressions a person lookup compares with: placeholders, or
// columns of an enclosing statement. A NULL matches nothing.
type personArgs struct {
	org, account, idp string // the org; the account; the IdP user id (userName)
	external          string // the IdP user id as externalId (SSO only)
	email             string
	scimExternal      string // the SCIM externalId
}

// findPersonMemberSQL is findPersonMember's locked lookup.
func findPersonMemberSQL(db bun.IDB, a personArgs) string {
	return db.NewSelect().Model((*Member)(nil)).
		Where("org_id = " + a.org + " AND (user_id = " + a.account + " OR lower(coalesce(user_name, email)) = lower(" + a.idp + ") OR external_id = " + a.external + " OR lower(email) = lower(" + a.email + "))").
		OrderExpr("CASE WHEN user_id = " + a.account + " THEN 0 WHEN lower(coalesce(user_name, email)) = lower(" + a.idp + ") THEN 1 WHEN external_id = " + a.external + " THEN 2 ELSE 3 END, id").
		Limit(1).For("UPDATE").String()
}

// removedByIdPSQL finds the scim_removed rows of a person.
func removedByIdPSQL(a personArgs) string {
	return `SELECT 1 FROM scim_removed WHERE org_id = ` + a.org + ` AND (user_id = ` + a.account + `
	OR lower(user_name) = lower(` + a.idp + `) OR lower(email) = lower(` + a.idp + `) OR lower(user_name) = lower(` + a.email + `) OR lower(email) = lower(` + a.email + `)
	OR external_id = ` + a.idp + ` OR external_id = ` + a.scimExternal + `)`
}

// personCheckSQL is the deprovisioning rule for a person of an SSO sign-in, as
// columns removed and m_* (a member, all NULL for none): removedByIdP's test, then
// findPersonMember's locked lookup, run only when the person was not removed. The
// sign-in's first read (signInLookupSQL) embeds it; personCheck reads the result.
func personCheckSQL(db bun.IDB, a personArgs) string {
	return "SELECT r.removed, " + columnsOf(db, (*Member)(nil), "m", "m_") +
		" FROM (SELECT EXISTS (" + removedByIdPSQL(a) + ") AS removed) AS r" +
		" LEFT JOIN LATERAL (" + findPersonMemberSQL(db, a) + ") AS m ON NOT r.removed"
}

// personCheck is what personCheckSQL found.
type personCheck struct {
	Removed bool   `bun:"removed"`
	Member  Member `bun:"embed:m_"` // ID 0: no member
}

// checked applies the deprovisioning rule to what personCheckSQL found: a person the
// IdP removed, or whose member it deactivated, is ErrDeprovisioned. Otherwise it is
// the member (locked) or none, for BindPerson of the same person later in the
// transaction (Person.checked), so the lookups run once.
func (c *personCheck) checked() (*checkedPerson, error) {
	if c.Removed || (c.Member.ID != 0 && !c.Member.Active) {
		return nil, ErrDeprovisioned
	}
	if c.Member.ID == 0 {
		return &checkedPerson{}, nil
	}
	return &checkedPerson{member: &c.Member}, nil
}

// BindPerson finds the member of org that is p or makes one, for every channel:
//   - deprovisioning always wins: unless the IdP itself speaks (FromIdP), a person
//     SCIM deleted or a member it deactivated is ErrDeprovisioned;
//   - a pending member found for an account (p.UserID) is bound to it (the
//     invitation or SCIM provisioning is accepted: BindBound);
//   - a member that belongs to another account is ErrConflict;
//   - nobody found: create (when not nil) gives the row to insert (BindCreated),
//     else BindNone. A concurrent insert of the same person is ErrConflict (the
//     unique indexes), never a second row.
//
// The caller applies its channel's powers rule to what it does with the member.
func BindPerson(ctx context.Context, tx bun.Tx, orgID int64, p Person, create func() *Member) (*Member, Binding, error) {
	var m *Member
	switch {
	case p.checked != nil && !p.FromIdP: // the deprovisioning check ran for this person in tx
		m = p.checked.member
	case !p.FromIdP:
		removed, err := removedByIdP(ctx, tx, orgID, p)
		if err != nil {
			return nil, BindNone, err
		}
		if removed {
			return nil, BindNone, ErrDeprovisioned
		}
		if m, err = findPersonMember(ctx, tx, orgID, p); err != nil {
			return nil, BindNone, err
		}
	default:
		if _, err := tx.NewRaw(`DELETE FROM scim_removed WHERE org_id = ? AND (lower(user_name) = lower(?) OR lower(email) = lower(?) OR external_id = ?)`,
			orgID, p.IdPUserID, p.Email, p.ExternalID).Exec(ctx); err != nil {
			return nil, BindNone, err
		}
		var err error
		if m, err = findPersonMember(ctx, tx, orgID, p); err != nil {
			return nil, BindNone, err
		}
	}
	if m != nil {
		if !m.Active && !p.FromIdP {
			return m, BindFound, ErrDeprovisioned
		}
		if p.UserID == 0 || (m.UserID != nil && *m.UserID == p.UserID) {
			return m, BindFound, nil
		}
		if m.UserID != nil {
			return m, BindFound, fmt.Errorf("member %d belongs to another account: %w", m.ID, ErrConflict)
		}
		if p.CanBind != nil {
			ok, err := p.CanBind(m)
			if err != nil {
				return nil, BindNone, err
			}
			if !ok {
				if _, err := tx.NewDelete().Model(m).WherePK().Exec(ctx); err != nil {
					return nil, BindNone, fmt.Errorf("drop expired invitation: %w", err)
				}
				return BindPerson(ctx, tx, orgID, Person{UserID: p.UserID, IdPUserID: p.IdPUserID, ExternalID: p.ExternalID, Email: p.Email, FromIdP: p.FromIdP}, create)
			}
		}
		if _, err := tx.NewUpdate().Model(m).Set("user_id = ?", p.UserID).Set("invite_email = NULL").Set("invite_token_hash = NULL").
			Set("invite_expires_at = NULL").Set("updated_at = now()").WherePK().Returning("*").Exec(ctx); err != nil {
			if isUniqueViolation(err, "") {
				return m, BindFound, fmt.Errorf("another member has this account's address: %w", ErrConflict)
			}
			return nil, BindNone, fmt.Errorf("bind member: %w", err)
		}
		return m, BindBound, nil
	}
	if create == nil {
		return nil, BindNone, nil
	}
	if !p.FromIdP {
		// The removal check above read the data as it was when its statement began.
		// The locked lookup may since have waited for an IdP's deletion of this
		// person's member, and then found the row gone: look for the removal again,
		// in a statement of its own that sees that deletion (deprovisioning wins).
		removed, err := removedByIdP(ctx, tx, orgID, p)
		if err != nil {
			return nil, BindNone, err
		}
		if removed {
			return nil, BindNone, ErrDeprovisioned
		}
	}
	m = create()
	m.OrgID = orgID
	if _, err := tx.NewInsert().Model(m).Returning("*").Exec(ctx); err != nil {
		if isUniqueViolation(err, "") {
			return nil, BindNone, fmt.Errorf("this person is already a member: %w", ErrConflict)
		}
		return nil, BindNone, fmt.Errorf("insert member: %w", err)
	}
	return m, BindCreated, nil
}

// rememberSCIMRemoval records that the IdP deleted the member (deprovisioning wins
// until SCIM provisions the person again).
func rememberSCIMRemoval(ctx context.Context, tx bun.Tx, orgID int64, row *scimMember) error {
	var ext any
	if row.ExternalID != nil {
		ext = *row.ExternalID
	}
	_, err := tx.NewRaw(`INSERT INTO scim_removed (org_id, user_id, user_name, email, external_id) VALUES (?, ?, ?, ?, ?)`,
		orgID, row.UserID, row.SCIMUserName, row.Email, ext).Exec(ctx)
	return err
}

// reissueInvitation gives a pending member a new invitation link (the old one stops
// working) and mails it to the member's current address.
func reissueInvitation(ctx context.Context, tx bun.Tx, mailer *Mailer, org *Organization, memberID int64, email string) error {
	token, hash := newToken()
	if _, err := tx.NewRaw("UPDATE members SET invite_token_hash = ?, invite_expires_at = ?, updated_at = now() WHERE id = ? AND user_id IS NULL",
		hash, time.Now().Add(InvitationLifetime), memberID).Exec(ctx); err != nil {
		return fmt.Errorf("reissue invitation: %w", err)
	}
	return mailer.enqueue(ctx, tx, invitationEmail(org, Actor{Label: org.Name}, email, token))
}

// scimConflict is a SCIM 409 for a person who is already a member.
func scimConflict(userName string) error {
	return scim.Errorf(http.StatusConflict, "uniqueness", "User %s already exists in this organization", userName)
}
