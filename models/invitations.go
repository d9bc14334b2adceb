package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"gatehouse/models/mail"
)

// InvitationLifetime is how long an invitation link works.
const InvitationLifetime = 7 * 24 * time.Hour

// ErrInvitationExpired is returned for an invitation link past its expiry.
var ErrInvitationExpired = errors.New("invitation expired")

// Invite is the input of InviteMember.
type Invite struct {
	Email   string
	Role    string
	TeamIDs []int64
}

// InviteMember creates a pending member and emails the invitation in the same
// transaction. An email that is already a member or invited is a ValidationError.
func InviteMember(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor, in Invite) (*Member, error) {
	v := &ValidationError{}
	email := checkEmail(v, "email", in.Email)
	role, ok := ParseRole(in.Role)
	if !ok {
		v.Add("role", "Choose one of the listed roles.")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var m *Member
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := authorizeActor(ctx, tx, orgID, actor, ActInvite, Target{NewRole: role}); err != nil {
			if errors.Is(err, ErrForbidden) && role == RoleOwner {
				return Invalid("role", "Only owners can invite owners.")
			}
			return err
		}
		org, err := getOrg(ctx, tx, orgID)
		if err != nil {
			return err
		}
		token, hash := newToken()
		expires := time.Now().Add(InvitationLifetime)
		var b Binding
		m, b, err = BindPerson(ctx, tx, orgID, Person{Email: email}, func() *Member {
			return &Member{InviteEmail: &email, Role: role, JoinedVia: JoinedInvite,
				InviteTokenHash: &hash, InviteExpiresAt: &expires, InvitedByID: &actor.UserID, Active: true}
		})
		switch {
		case errors.Is(err, ErrDeprovisioned):
			return Invalid("email", "The organization's identity provider removed this person's access: restore it there.")
		case errors.Is(err, ErrConflict) || (err == nil && b != BindCreated):
			return Invalid("email", "This person is already a member or has a pending invitation.")
		case err != nil:
			return err
		}
		if err := setTeams(ctx, tx, orgID, m.ID, in.TeamIDs); err != nil {
			return err
		}
		if err := audit(ctx, tx, orgID, actor, EventMemberInvited, email, map[string]any{"role": role}); err != nil {
			return err
		}
		return mailer.enqueue(ctx, tx, invitationEmail(org, actor, email, token))
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func invitationEmail(org *Organization, actor Actor, email, token string) mail.Args {
	return mail.Args{To: email, Template: mail.TemplateInvitation, Data: map[string]string{
		"org_name": org.Name, "org_slug": org.Slug, "inviter": actor.Label, "token": token,
		"expires_days": strconv.Itoa(int(InvitationLifetime.Hours() / 24)),
	}}
}

func setTeams(ctx context.Context, tx bun.Tx, orgID, memberID int64, teamIDs []int64) error {
	for _, id := range teamIDs {
		// The team must belong to the same org: insert selects it by (id, org_id).
		res, err := tx.NewRaw(`INSERT INTO team_members (team_id, member_id, org_id)
			SELECT id, ?, org_id FROM teams WHERE id = ? AND org_id = ? ON CONFLICT DO NOTHING`, memberID, id, orgID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("add to team: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			ok, err := tx.NewSelect().Model((*Team)(nil)).Where("id = ? AND org_id = ?", id, orgID).Exists(ctx)
			if err != nil {
				return err
			}
			if !ok {
				return Invalid("teams", "Choose teams of this organization.")
			}
		}
	}
	return nil
}

func getOrg(ctx context.Context, db bun.IDB, orgID int64) (*Organization, error) {
	org := new(Organization)
	if err := db.NewSelect().Model(org).Where("id = ?", orgID).Scan(ctx); err != nil {
		return nil, notFound(err, "organization")
	}
	return org, nil
}

// PendingInvitation is an invitation as the members page lists it.
type PendingInvitation struct {
	ID        int64     `bun:"id"`
	Email     string    `bun:"invite_email"`
	Role      Role      `bun:"role"`
	JoinedVia string    `bun:"joined_via"`
	ExpiresAt time.Time `bun:"invite_expires_at"`
	CreatedAt time.Time `bun:"created_at"`
}

// Expired reports whether the link no longer works.
func (p PendingInvitation) Expired() bool { return time.Now().After(p.ExpiresAt) }

// ListInvitations returns org's pending invitations, newest first (at most limit).
func ListInvitations(ctx context.Context, db bun.IDB, orgID int64, limit int) ([]PendingInvitation, error) {
	var out []PendingInvitation
	err := db.NewSelect().TableExpr("members").
		Column("id", "invite_email", "role", "joined_via", "invite_expires_at", "created_at").
		Where("org_id = ? AND user_id IS NULL", orgID).OrderExpr("id DESC").Limit(int64(limit)).Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	return out, nil
}

func pendingForUpdate(ctx context.Context, tx bun.Tx, orgID, memberID int64) (*Member, error) {
	m := new(Member)
	err := tx.NewSelect().Model(m).Where("id = ? AND org_id = ? AND user_id IS NULL", memberID, orgID).For("UPDATE").Scan(ctx)
	if err != nil {
		return nil, notFound(err, "invitation")
	}
	return m, nil
}

// ResendInvitation issues a new link (the old one stops working) and emails it.
func ResendInvitation(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor, memberID int64) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		m, err := pendingForUpdate(ctx, tx, orgID, memberID)
		if err != nil {
			return err
		}
		// Resending needs the right to grant the invitation's role.
		if err := authorizeActor(ctx, tx, orgID, actor, ActResendInvitation, memberTarget(m)); err != nil {
			return err
		}
		org, err := getOrg(ctx, tx, orgID)
		if err != nil {
			return err
		}
		token, hash := newToken()
		if _, err := tx.NewUpdate().Model(m).Set("invite_token_hash = ?", hash).
			Set("invite_expires_at = ?", time.Now().Add(InvitationLifetime)).Set("updated_at = now()").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("renew invitation: %w", err)
		}
		if err := audit(ctx, tx, orgID, actor, EventInviteResent, *m.InviteEmail, nil); err != nil {
			return err
		}
		return mailer.enqueue(ctx, tx, invitationEmail(org, actor, *m.InviteEmail, token))
	})
}

// CancelInvitation deletes a pending invitation; its link stops working.
func CancelInvitation(ctx context.Context, db bun.IDB, orgID int64, actor Actor, memberID int64) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		m, err := pendingForUpdate(ctx, tx, orgID, memberID)
		if err != nil {
			return err
		}
		if err := authorizeActor(ctx, tx, orgID, actor, ActCancelInvitation, memberTarget(m)); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model(m).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("delete invitation: %w", err)
		}
		return audit(ctx, tx, orgID, actor, EventInviteCanceled, *m.InviteEmail, nil)
	})
}

// InvitationView is what the accept page shows about an invitation.
type InvitationView struct {
	MemberID int64
	Email    string
	Role     Role
	Org      Organization
	Inviter  string
}

// InvitationByToken returns the invitation a link points to: ErrNotFound when the
// token is unknown or already used, ErrInvitationExpired when it is too old.
func InvitationByToken(ctx context.Context, db bun.IDB, token string) (*InvitationView, error) {
	m := new(Member)
	err := db.NewSelect().Model(m).Where("invite_token_hash = ? AND user_id IS NULL", HashToken(token)).Scan(ctx)
	if err != nil {
		return nil, notFound(err, "invitation")
	}
	if !m.Active {
		return nil, ErrDeprovisioned
	}
	if m.InviteExpiresAt == nil || time.Now().After(*m.InviteExpiresAt) {
		return nil, ErrInvitationExpired
	}
	org, err := getOrg(ctx, db, m.OrgID)
	if err != nil {
		return nil, err
	}
	view := &InvitationView{MemberID: m.ID, Email: *m.InviteEmail, Role: m.Role, Org: *org}
	if m.InvitedByID != nil {
		if u, err := GetUser(ctx, db, *m.InvitedByID); err == nil {
			view.Inviter = u.DisplayName()
		}
	}
	return view, nil
}

// AcceptInvitation makes the user a member through the invitation a token points to.
// The token works once. When the user is already a member the invitation is consumed
// and the existing membership kept.
func AcceptInvitation(ctx context.Context, db bun.IDB, token string, actor Actor) (*Organization, error) {
	var org *Organization
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		m := new(Member)
		err := tx.NewSelect().Model(m).Where("invite_token_hash = ? AND user_id IS NULL", HashToken(token)).For("UPDATE").Scan(ctx)
		if err != nil {
			return notFound(err, "invitation")
		}
		if m.InviteExpiresAt == nil || time.Now().After(*m.InviteExpiresAt) {
			return ErrInvitationExpired
		}
		if org, err = getOrg(ctx, tx, m.OrgID); err != nil {
			return err
		}
		// Under Require SSO (or domain capture) the org's IdP accepts it (InvitationRouteOf).
		view := &InvitationView{MemberID: m.ID, Email: *m.InviteEmail, Role: m.Role, Org: *org}
		if err := checkInvitationAcceptance(ctx, tx, view, false); err != nil {
			return err
		}
		// The link reached the invited mailbox: when that is the account's address,
		// the account's mailbox is proven (SECURITY.md "Accounts and linking").
		if u, err := GetUser(ctx, tx, actor.UserID); err != nil {
			return err
		} else if equalFoldEmail(u.Email, *m.InviteEmail) {
			if _, err := proveMailbox(ctx, tx, u.ID); err != nil {
				return err
			}
		}
		// One member per person (BindPerson): the account's membership if it has one
		// (the invitation is then used up), else this invitation, bound to it.
		// Deprovisioning wins: an invitation the IdP deactivated, or a person it
		// deleted, opens nothing.
		if !m.Active {
			return ErrDeprovisioned
		}
		inv := m
		found, b, err := BindPerson(ctx, tx, m.OrgID, Person{UserID: actor.UserID, Email: *m.InviteEmail,
			CanBind: func(p *Member) (bool, error) {
				if p.ID != inv.ID {
					return false, fmt.Errorf("another invitation has this address: %w", ErrConflict)
				}
				return true, nil
			}}, nil)
		if errors.Is(err, ErrConflict) {
			return Forbidden("Another member of this organization already has your account's email address.")
		}
		if err != nil {
			return err
		}
		if b == BindFound {
			if found.ID != inv.ID {
				_, err := tx.NewDelete().Model(inv).WherePK().Exec(ctx)
				return err
			}
			return nil
		}
		return audit(ctx, tx, m.OrgID, actor, EventMemberJoined, actor.Label, map[string]any{"role": m.Role, "via": "invitation"})
	})
	if err != nil {
		return nil, err
	}
	return org, nil
}

// AcceptInvitationAsNewUser creates an account and accepts the invitation with it, in
// one transaction: a bad or used link creates no account. An account made with the
// invited address counts as verified (the link proves the mailbox).
func AcceptInvitationAsNewUser(ctx context.Context, db bun.IDB, token string, in NewUser, ip string) (*User, *Organization, error) {
	var u *User
	var org *Organization
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		inv, err := InvitationByToken(ctx, tx, token)
		if err != nil {
			return err
		}
		// No password account where the way in is an IdP (InvitationRouteOf).
		if err := checkInvitationAcceptance(ctx, tx, inv, true); err != nil {
			return err
		}
		if u, err = CreateUser(ctx, tx, in); err != nil {
			return err
		}
		if equalFoldEmail(u.Email, inv.Email) {
			if _, err := tx.NewUpdate().Model(u).Set("email_verified = true").WherePK().Exec(ctx); err != nil {
				return err
			}
			u.EmailVerified = true
		}
		org, err = AcceptInvitation(ctx, tx, token, Actor{UserID: u.ID, Label: u.Email, IP: ip})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return u, org, nil
}

func equalFoldEmail(a, b string) bool { return strings.EqualFold(a, b) }
