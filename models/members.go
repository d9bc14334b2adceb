package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// How a member joined (shown on the members page).
const (
	JoinedCreator = "creator"
	JoinedInvite  = "invite"
	JoinedSSO     = "sso"
	JoinedSCIM    = "scim"
	JoinedCLI     = "cli"
)

// Member is a user's membership of an org, or a pending invitation (InviteEmail set,
// UserID nil).
type Member struct {
	bun.BaseModel `bun:"table:members"`

	ID                int64      `bun:"id,pk,autoincrement"`
	OrgID             int64      `bun:"org_id"`
	UserID            *int64     `bun:"user_id"`
	InviteEmail       *string    `bun:"invite_email"`
	Email             string     `bun:"email,nullzero"` // set by a trigger (the user's, or the invited address)
	UserName          *string    `bun:"user_name"`      // SCIM userName as sent (nil: the email)
	Role              Role       `bun:"role"`
	JoinedVia         string     `bun:"joined_via"`
	InviteTokenHash   *string    `bun:"invite_token_hash"`
	InviteExpiresAt   *time.Time `bun:"invite_expires_at"`
	InvitedByID       *int64     `bun:"invited_by_id"`
	SSOLinked         bool       `bun:"sso_linked"`
	SSOInvalid        bool       `bun:"sso_invalid"`
	IDPProvisioned    bool       `bun:"idp_provisioned"`
	IDPRoleRestricted bool       `bun:"idp_role_restricted"`
	Active            bool       `bun:"active"`
	ExternalID        *string    `bun:"external_id"`  // SCIM externalId
	GivenName         string     `bun:"given_name"`   // SCIM name.givenName
	FamilyName        string     `bun:"family_name"`  // SCIM name.familyName
	DisplayName       string     `bun:"display_name"` // SCIM displayName
	CreatedAt         time.Time  `bun:"created_at,nullzero,default:now()"`
	UpdatedAt         time.Time  `bun:"updated_at,nullzero,default:now()"`
}

// Pending reports whether the member is an invitation not yet accepted.
func (m *Member) Pending() bool { return m.UserID == nil }

// MembershipOf returns the user's active membership of org, or ErrNotFound.
func MembershipOf(ctx context.Context, db bun.IDB, orgID, userID int64) (*Member, error) {
	m := new(Member)
	err := db.NewSelect().Model(m).Where("org_id = ? AND user_id = ? AND active", orgID, userID).Scan(ctx)
	if err != nil {
		return nil, notFound(err, "membership")
	}
	return m, nil
}

// CheckMembership is MembershipOf for opening an org: a membership the org's identity
// provider deactivated is ErrDeprovisioned (the person is told why), a missing one
// ErrNotFound.
func CheckMembership(ctx context.Context, db bun.IDB, orgID, userID int64) (*Member, error) {
	m := new(Member)
	err := db.NewSelect().Model(m).Where("org_id = ? AND user_id = ?", orgID, userID).Scan(ctx)
	if err != nil {
		return nil, notFound(err, "membership")
	}
	if !m.Active {
		return nil, ErrDeprovisioned
	}
	return m, nil
}

// MemberRow is a member as the members page lists it.
type MemberRow struct {
	ID                int64     `bun:"id"`
	UserID            int64     `bun:"user_id"`
	Email             string    `bun:"email"`
	Name              string    `bun:"name"`
	Role              Role      `bun:"role"`
	JoinedVia         string    `bun:"joined_via"`
	SSOLinked         bool      `bun:"sso_linked"`
	SSOInvalid        bool      `bun:"sso_invalid"`
	IDPRoleRestricted bool      `bun:"idp_role_restricted"`
	Active            bool      `bun:"active"`
	Teams             []string  `bun:"teams,array"`
	CreatedAt         time.Time `bun:"created_at"`
}

// MemberQuery selects a page of members. After and Before are keyset cursors (a
// member id: the page starts after it, or ends before it); Page is the older
// OFFSET-based page number, used only without a cursor.
type MemberQuery struct {
	Search    string // substring of email or name, case-insensitive
	NotLinked bool   // only members who have not linked their account to the IdP
	After     int64
	Before    int64
	Page      int // 1-based
	Limit     int
}

// MemberPage is one page of members.
type MemberPage struct {
	Rows    []MemberRow
	Page    int
	HasNext bool
	HasPrev bool
}

// ListMembers returns a page of org's joined members ordered by email, by keyset over
// the member's own (org_id, lower(email), id) index: the first page and any page
// reached by a cursor cost the same in an org of any size. Search uses the trigram
// indexes on users, so it stays fast with 100,000 members.
func ListMembers(ctx context.Context, db bun.IDB, orgID int64, q MemberQuery) (*MemberPage, error) {
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 50
	}
	if q.Page < 1 {
		q.Page = 1
	}
	var rows []MemberRow
	sel := db.NewSelect().TableExpr("members AS m").
		ColumnExpr("m.id, m.user_id, m.email, u.name, m.role, m.joined_via, m.sso_linked, m.sso_invalid, m.idp_role_restricted, m.active, m.created_at").
		ColumnExpr(`ARRAY(SELECT t.name FROM team_members tm JOIN teams t ON t.id = tm.team_id WHERE tm.member_id = m.id ORDER BY lower(t.name)) AS teams`).
		Join("JOIN users AS u ON u.id = m.user_id").
		Where("m.org_id = ? AND m.user_id IS NOT NULL", orgID).
		Limit(int64(q.Limit + 1))
	backwards := false
	// The cursor's sort key is read first: a row constructor of values is an index
	// condition, a row subquery is not.
	cursorKey := func(id int64) (string, error) {
		var key string
		err := db.NewSelect().TableExpr("members AS c").ColumnExpr("lower(c.email)").Where("c.id = ? AND c.org_id = ?", id, orgID).Scan(ctx, &key)
		return key, err
	}
	switch {
	case q.After > 0:
		key, err := cursorKey(q.After)
		if err != nil {
			return nil, notFound(err, "member")
		}
		sel.Where("(lower(m.email), m.id) > (?, ?)", key, q.After)
		sel.OrderExpr("lower(m.email), m.id")
	case q.Before > 0:
		key, err := cursorKey(q.Before)
		if err != nil {
			return nil, notFound(err, "member")
		}
		backwards = true
		sel.Where("(lower(m.email), m.id) < (?, ?)", key, q.Before)
		sel.OrderExpr("lower(m.email) DESC, m.id DESC")
	default:
		sel.OrderExpr("lower(m.email), m.id").Offset(int64((q.Page - 1) * q.Limit))
	}
	if q.NotLinked {
		sel.Where("NOT m.sso_linked")
	}
	if s := strings.TrimSpace(q.Search); s != "" {
		pat := "%" + escapeLike(strings.ToLower(s)) + "%"
		sel.Where("(lower(u.email) LIKE ? OR lower(u.name) LIKE ?)", pat, pat)
	}
	if err := sel.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	more := len(rows) > q.Limit
	if more {
		rows = rows[:q.Limit]
	}
	p := &MemberPage{Page: q.Page}
	if backwards {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
		p.HasPrev, p.HasNext = more, true
	} else {
		p.HasNext = more
		p.HasPrev = q.After > 0 || (q.Page > 1 && q.Before == 0)
	}
	p.Rows = rows
	return p, nil
}

// memberForUpdate loads a member of org and locks its row; when the member is an owner
// it also takes the org's owner guard, so that owner counts cannot race (two owners
// demoting each other at once). Ordinary member writes lock only their own row: no
// org-wide lock (issue 12: every SCIM write and request-log insert queued on the org
// row). Lock order is always member row, then owner guard.
func memberForUpdate(ctx context.Context, tx bun.Tx, orgID, memberID int64) (*Member, error) {
	m := new(Member)
	if err := tx.NewSelect().Model(m).Where("id = ? AND org_id = ?", memberID, orgID).For("UPDATE").Scan(ctx); err != nil {
		return nil, notFound(err, "member")
	}
	if m.Role == RoleOwner {
		if err := lockOwners(ctx, tx, orgID); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ownersLockClass namespaces the owner guard among advisory locks.
const ownersLockClass = 0x6f776e // "own"

// lockOwners is the org's owner guard: a transaction-scoped advisory lock taken by
// every change that can lower the number of owners, before it counts them. It is not
// the org row, so ordinary writes (and the foreign-key checks of inserts that
// reference the org) never wait on it.
func lockOwners(ctx context.Context, tx bun.IDB, orgID int64) error {
	return orgLock(ctx, tx, ownersLockClass, orgID, "owners")
}

// teamNamesLockClass namespaces the guard of an org's team names and slugs.
const teamNamesLockClass = 0x74656d // "tem"

// lockTeamNames serialises the SCIM changes of org that pick a team name and derive
// its slug (check, then insert), without locking the org row (issue 12).
func lockTeamNames(ctx context.Context, tx bun.IDB, orgID int64) error {
	return orgLock(ctx, tx, teamNamesLockClass, orgID, "team names")
}

// orgLock takes the transaction-scoped advisory lock class of org.
func orgLock(ctx context.Context, tx bun.IDB, class int, orgID int64, what string) error {
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?, (? % 2147483647)::int)", class, orgID); err != nil {
		return fmt.Errorf("lock %s: %w", what, err)
	}
	return nil
}

func countOwners(ctx context.Context, tx bun.IDB, orgID int64) (int64, error) {
	return tx.NewSelect().Model((*Member)(nil)).Where("org_id = ? AND role = 'owner' AND user_id IS NOT NULL AND active", orgID).Count(ctx)
}

// ErrLastOwner is returned when a change would leave the org without an owner.
var ErrLastOwner = Forbidden("An organization needs at least one owner: make someone else an owner first.")

func memberLabel(m *Member) string {
	if m.Email != "" {
		return m.Email // kept by a trigger: the account's email, or the invited address
	}
	if m.InviteEmail != nil {
		return *m.InviteEmail
	}
	return fmt.Sprintf("member %d", m.ID)
}

// ChangeRole sets a member's role. Only owners grant or remove owner; the last owner
// cannot be demoted; a role set by the IdP cannot be changed here.
func ChangeRole(ctx context.Context, db bun.IDB, orgID int64, actor Actor, memberID int64, role string) error {
	newRole, ok := ParseRole(role)
	if !ok {
		return Invalid("role", "Choose one of the listed roles.")
	}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		m, err := memberForUpdate(ctx, tx, orgID, memberID)
		if err != nil {
			return err
		}
		if err := authorizeActor(ctx, tx, orgID, actor, ActChangeRole, Target{Role: m.Role, NewRole: newRole, Pending: m.Pending(), JoinedVia: m.JoinedVia}); err != nil {
			return err
		}
		if m.IDPRoleRestricted {
			return Forbidden("This member's role is managed by your identity provider.")
		}
		if m.Role == newRole {
			return nil
		}
		if m.Role == RoleOwner {
			n, err := countOwners(ctx, tx, orgID)
			if err != nil {
				return err
			}
			if n <= 1 {
				return ErrLastOwner
			}
		}
		if _, err := tx.NewUpdate().Model(m).Set("role = ?", newRole).Set("updated_at = now()").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("update role: %w", err)
		}
		return audit(ctx, tx, orgID, actor, EventMemberRoleChanged, memberLabel(m), map[string]any{"old": m.Role, "new": newRole})
	})
}

// RemoveMember removes a joined member (and their team memberships). Managers cannot
// remove owners; the last owner cannot be removed.
func RemoveMember(ctx context.Context, db bun.IDB, orgID int64, actor Actor, memberID int64) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		m, err := memberForUpdate(ctx, tx, orgID, memberID)
		if err != nil {
			return err
		}
		if m.Pending() {
			return fmt.Errorf("member is an invitation: %w", ErrNotFound)
		}
		if err := authorizeActor(ctx, tx, orgID, actor, ActRemoveMember, memberTarget(m)); err != nil {
			return err
		}
		return removeMember(ctx, tx, orgID, actor, m, EventMemberRemoved)
	})
}

// LeaveOrganization removes the actor's own membership; the last owner cannot leave.
func LeaveOrganization(ctx context.Context, db bun.IDB, orgID int64, actor Actor) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		me, err := MembershipOf(ctx, tx, orgID, actor.UserID)
		if err != nil {
			return err
		}
		m, err := memberForUpdate(ctx, tx, orgID, me.ID)
		if err != nil {
			return err
		}
		return removeMember(ctx, tx, orgID, actor, m, EventMemberLeft)
	})
}

func removeMember(ctx context.Context, tx bun.Tx, orgID int64, actor Actor, m *Member, event string) error {
	if m.Role == RoleOwner {
		n, err := countOwners(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if n <= 1 {
			return ErrLastOwner
		}
	}
	label := memberLabel(m)
	// team_members rows go with the member (ON DELETE CASCADE).
	if _, err := tx.NewDelete().Model(m).WherePK().Where("org_id = ?", orgID).Exec(ctx); err != nil {
		return fmt.Errorf("delete member: %w", err)
	}
	return audit(ctx, tx, orgID, actor, event, label, map[string]any{"role": m.Role})
}

// IsNotFound reports whether err is ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
