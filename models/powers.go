package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"gatehouse/models/mail"
)

// Powers: who may do what, on every channel (SECURITY.md "Powers"). This file is the
// one place the rule lives; every operation that changes members, invitations or whom
// the organization trusts asks Authorize before it writes, whatever the channel.
//
//   - No channel gives anyone more power than the UI gives them.
//   - Owners are untouchable by managers everywhere. SCIM never deactivates, deletes,
//     re-roles or re-addresses an owner or a pending owner invitation, never grants
//     owner, and never touches invitations created in the UI.
//   - Resending or cancelling an invitation needs the right to grant its role.
//   - Changing whom the org trusts is owner-only: configuring or activating a provider
//     once one has been trusted before, disabling it, creating or revoking SCIM tokens,
//     and its verified domains (adding, verifying, removing, domain capture): a verified
//     domain makes the org's IdP trusted about every address in it.
//   - The CLI is the instance's operator (it holds the database): it may do anything.

// Channel is how an action reaches Gatehouse.
type Channel string

// Channels.
const (
	ChannelUI   Channel = "ui"
	ChannelSCIM Channel = "scim"
	ChannelCLI  Channel = "cli"
)

// Channels lists every channel (the powers table test walks them all).
var Channels = []Channel{ChannelUI, ChannelSCIM, ChannelCLI}

// Action is a state-changing operation on an organization.
type Action string

// Actions. Adding one means adding its rule below and its row in powers_test.go.
const (
	ActInvite           Action = "invite"            // Target.NewRole: the role offered
	ActResendInvitation Action = "resend_invitation" // Target: the invitation
	ActCancelInvitation Action = "cancel_invitation"
	ActChangeRole       Action = "change_role" // Target.Role → Target.NewRole
	ActRemoveMember     Action = "remove_member"
	ActDeactivateMember Action = "deactivate_member"
	ActReactivateMember Action = "reactivate_member"
	ActReaddressMember  Action = "readdress_member" // change an invitation's address or a member's userName
	ActEditMemberNames  Action = "edit_member_names"
	ActManageTeams      Action = "manage_teams"
	ActConfigureIdP     Action = "configure_idp" // Target.IdPTrustedBefore; a first setup or a replacement
	ActActivateIdP      Action = "activate_idp"
	ActChangeIdPTrust   Action = "change_idp_trust" // edit the entity ID, certificates or user-id attribute of an active provider
	ActDisableIdP       Action = "disable_idp"
	ActCreateSCIMToken  Action = "create_scim_token"
	ActRevokeSCIMToken  Action = "revoke_scim_token"
	ActAuthSettings     Action = "auth_settings" // Target.NewRole: the default role set
	ActSendReminders    Action = "send_reminders"
	ActAddDomain        Action = "add_domain" // claim an email domain (README "Verified domains")
	ActVerifyDomain     Action = "verify_domain"
	ActRemoveDomain     Action = "remove_domain"
	ActDomainCapture    Action = "domain_capture" // accounts at verified domains must use the org's SSO
)

// Actions lists every action (the powers table test walks them all).
var Actions = []Action{ActInvite, ActResendInvitation, ActCancelInvitation, ActChangeRole, ActRemoveMember,
	ActDeactivateMember, ActReactivateMember, ActReaddressMember, ActEditMemberNames, ActManageTeams,
	ActConfigureIdP, ActActivateIdP, ActChangeIdPTrust, ActDisableIdP, ActCreateSCIMToken, ActRevokeSCIMToken,
	ActAuthSettings, ActSendReminders, ActAddDomain, ActVerifyDomain, ActRemoveDomain, ActDomainCapture}

// Principal is who acts: on the UI a member with a role; SCIM a token (which never has
// more power than a manager, and less: see Authorize); the CLI the operator.
type Principal struct {
	Channel Channel
	Role    Role // the acting member's role (UI only)
}

// Target is what an action is about.
type Target struct {
	Role             Role   // the member's or invitation's current role
	NewRole          Role   // the role given (invite, change role, default role)
	Pending          bool   // the member is an invitation not yet accepted
	JoinedVia        string // how the member or invitation was made (JoinedSCIM, JoinedInvite, …)
	IdPTrustedBefore bool   // the org has had an active provider before
}

// Authorize applies the powers rule: nil when p may do a to t, else a ForbiddenError
// that says why (for the UI) — SCIM turns it into a 403 SCIM error.
func Authorize(p Principal, a Action, t Target) error {
	switch p.Channel {
	case ChannelCLI:
		return nil
	case ChannelSCIM:
		return authorizeSCIM(a, t)
	case ChannelUI:
		return authorizeUI(p.Role, a, t)
	}
	return Forbidden("Unknown channel.")
}

func touchesOwner(t Target) bool { return t.Role == RoleOwner || t.NewRole == RoleOwner }

func authorizeSCIM(a Action, t Target) error {
	switch a {
	case ActInvite, ActChangeRole, ActRemoveMember, ActDeactivateMember, ActReactivateMember,
		ActReaddressMember, ActEditMemberNames:
		if touchesOwner(t) && a != ActEditMemberNames {
			return Forbidden("SCIM cannot change an owner, a pending owner invitation, or grant the owner role.")
		}
		if a != ActInvite && t.Pending && t.JoinedVia != JoinedSCIM {
			return Forbidden("SCIM cannot change an invitation made in Gatehouse; cancel it there.")
		}
		return nil
	case ActManageTeams:
		return nil
	}
	return Forbidden("SCIM cannot do this.")
}

func authorizeUI(r Role, a Action, t Target) error {
	switch a {
	case ActManageTeams:
		if !r.CanManageTeams() {
			return Forbidden("Only admins, managers and owners can manage teams.")
		}
		return nil
	case ActInvite, ActResendInvitation, ActCancelInvitation, ActChangeRole, ActRemoveMember,
		ActDeactivateMember, ActReactivateMember, ActReaddressMember, ActEditMemberNames:
		if !r.CanManageMembers() {
			return Forbidden("Only managers and owners can manage members.")
		}
		if touchesOwner(t) && r != RoleOwner {
			return Forbidden("Only owners can invite, change or remove owners.")
		}
		return nil
	case ActAuthSettings, ActSendReminders:
		if !r.CanManageMembers() {
			return Forbidden("Only managers and owners can change authentication settings.")
		}
		if t.NewRole == RoleOwner {
			return Forbidden("New members cannot join as owners.")
		}
		return nil
	case ActConfigureIdP, ActActivateIdP:
		if !r.CanManageMembers() {
			return Forbidden("Only managers and owners can set up single sign-on.")
		}
		if t.IdPTrustedBefore && r != RoleOwner {
			return Forbidden("This organization has trusted an identity provider before: only an owner can set up or activate another one.")
		}
		return nil
	case ActChangeIdPTrust, ActDisableIdP, ActCreateSCIMToken, ActRevokeSCIMToken:
		if r != RoleOwner {
			return Forbidden("Only an owner can change which identity provider or SCIM client the organization trusts.")
		}
		return nil
	case ActAddDomain, ActVerifyDomain, ActRemoveDomain, ActDomainCapture:
		if r != RoleOwner {
			return Forbidden("Only an owner can change the organization's verified domains.")
		}
		return nil
	}
	return Forbidden("Unknown action.")
}

// principalOf is who actor is on org: a SCIM token, the operator (CLI: no UserID), or
// a person on the UI with their role (ErrForbidden when not an active member).
func principalOf(ctx context.Context, db bun.IDB, orgID int64, actor Actor) (Principal, error) {
	if actor.Channel == ChannelSCIM {
		return Principal{Channel: ChannelSCIM}, nil
	}
	if actor.UserID == 0 {
		return Principal{Channel: ChannelCLI}, nil
	}
	me, err := MembershipOf(ctx, db, orgID, actor.UserID)
	if err != nil {
		if IsNotFound(err) {
			return Principal{}, ErrForbidden
		}
		return Principal{}, err
	}
	return Principal{Channel: ChannelUI, Role: me.Role}, nil
}

// authorizeActor is Authorize for actor acting on org: it loads the actor's role.
func authorizeActor(ctx context.Context, db bun.IDB, orgID int64, actor Actor, a Action, t Target) error {
	p, err := principalOf(ctx, db, orgID, actor)
	if err != nil {
		return err
	}
	if err := Authorize(p, a, t); err != nil {
		return fmt.Errorf("%s by %s: %w", a, p.Channel, err)
	}
	return nil
}

// memberTarget describes m for Authorize.
func memberTarget(m *Member) Target {
	return Target{Role: m.Role, Pending: m.Pending(), JoinedVia: m.JoinedVia}
}

// notifyOwners emails every other active owner of org that actor changed whom the
// organization trusts (what: "disabled Okta single sign-on"), in the transaction of
// the change (SECURITY.md "Powers").
func notifyOwners(ctx context.Context, tx bun.IDB, mailer *Mailer, orgID int64, actor Actor, what string) error {
	org, err := getOrg(ctx, tx, orgID)
	if err != nil {
		return err
	}
	var emails []string
	if err := tx.NewRaw(`SELECT u.email FROM members m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? AND m.role = 'owner' AND m.active AND u.id <> ? ORDER BY u.id`, orgID, actor.UserID).Scan(ctx, &emails); err != nil {
		return fmt.Errorf("owners to notify: %w", err)
	}
	who := actor.Label
	if who == "" {
		who = "The operator"
	}
	for _, to := range emails {
		if err := mailer.enqueue(ctx, tx, mail.Args{To: to, Template: mail.TemplateTrustChanged,
			Data: map[string]string{"org_name": org.Name, "org_slug": org.Slug, "actor": who, "what": what, "ip": actor.IP}}); err != nil {
			return err
		}
	}
	return nil
}
