package models_test

import (
	"strings"
	"testing"

	"gatehouse/models"
)

// The powers table: every state-changing action × every principal (each UI role,
// SCIM, the CLI) × the targets that matter, written out by hand. A new action
// without a row fails TestPowersTableCoversEveryAction.
//
// Principals: M member, A admin, G manager, O owner, B billing (UI); S SCIM; C CLI.
var principals = map[byte]models.Principal{
	'M': {Channel: models.ChannelUI, Role: models.RoleMember},
	'A': {Channel: models.ChannelUI, Role: models.RoleAdmin},
	'G': {Channel: models.ChannelUI, Role: models.RoleManager},
	'O': {Channel: models.ChannelUI, Role: models.RoleOwner},
	'B': {Channel: models.ChannelUI, Role: models.RoleBilling},
	'S': {Channel: models.ChannelSCIM},
	'C': {Channel: models.ChannelCLI},
}

var (
	member       = models.Target{Role: models.RoleMember, JoinedVia: models.JoinedInvite}
	owner        = models.Target{Role: models.RoleOwner, JoinedVia: models.JoinedInvite}
	uiInvitation = models.Target{Role: models.RoleMember, Pending: true, JoinedVia: models.JoinedInvite}
	ownerInvite  = models.Target{Role: models.RoleOwner, Pending: true, JoinedVia: models.JoinedInvite}
	scimInvite   = models.Target{Role: models.RoleMember, Pending: true, JoinedVia: models.JoinedSCIM}
)

type powerRow struct {
	name    string
	action  models.Action
	target  models.Target
	allowed string // the principals that may
}

var powersTable = []powerRow{
	{"invite a member", models.ActInvite, models.Target{NewRole: models.RoleMember}, "GOSC"},
	{"invite an owner", models.ActInvite, models.Target{NewRole: models.RoleOwner}, "OC"},
	{"resend a member invitation", models.ActResendInvitation, uiInvitation, "GOC"},
	{"resend an owner invitation", models.ActResendInvitation, ownerInvite, "OC"},
	{"resend a SCIM invitation", models.ActResendInvitation, scimInvite, "GOC"},
	{"cancel a member invitation", models.ActCancelInvitation, uiInvitation, "GOC"},
	{"cancel an owner invitation", models.ActCancelInvitation, ownerInvite, "OC"},
	{"make a member an admin", models.ActChangeRole, models.Target{Role: models.RoleMember, NewRole: models.RoleAdmin}, "GOSC"},
	{"demote an owner", models.ActChangeRole, models.Target{Role: models.RoleOwner, NewRole: models.RoleMember}, "OC"},
	{"make a member an owner", models.ActChangeRole, models.Target{Role: models.RoleMember, NewRole: models.RoleOwner}, "OC"},
	{"re-role a UI invitation", models.ActChangeRole, models.Target{Role: models.RoleMember, NewRole: models.RoleAdmin, Pending: true, JoinedVia: models.JoinedInvite}, "GOC"},
	{"remove a member", models.ActRemoveMember, member, "GOSC"},
	{"remove an owner", models.ActRemoveMember, owner, "OC"},
	{"remove a UI invitation", models.ActRemoveMember, uiInvitation, "GOC"},
	{"remove an owner invitation", models.ActRemoveMember, ownerInvite, "OC"},
	{"remove a SCIM invitation", models.ActRemoveMember, scimInvite, "GOSC"},
	{"deactivate a member", models.ActDeactivateMember, member, "GOSC"},
	{"deactivate an owner", models.ActDeactivateMember, owner, "OC"},
	{"deactivate a UI invitation", models.ActDeactivateMember, uiInvitation, "GOC"},
	{"reactivate a member", models.ActReactivateMember, member, "GOSC"},
	{"reactivate an owner", models.ActReactivateMember, owner, "OC"},
	{"re-address a SCIM invitation", models.ActReaddressMember, scimInvite, "GOSC"},
	{"re-address a UI invitation", models.ActReaddressMember, uiInvitation, "GOC"},
	{"re-address an owner invitation", models.ActReaddressMember, ownerInvite, "OC"},
	{"rename a member", models.ActEditMemberNames, member, "GOSC"},
	{"rename an owner", models.ActEditMemberNames, owner, "OSC"},
	{"rename a UI invitation", models.ActEditMemberNames, uiInvitation, "GOC"},
	{"rename an owner invitation", models.ActEditMemberNames, ownerInvite, "OC"},
	{"manage teams", models.ActManageTeams, models.Target{}, "AGOSC"},
	{"set up the first IdP", models.ActConfigureIdP, models.Target{}, "GOC"},
	{"set up an IdP after one was trusted", models.ActConfigureIdP, models.Target{IdPTrustedBefore: true}, "OC"},
	{"activate the first IdP", models.ActActivateIdP, models.Target{}, "GOC"},
	{"activate an IdP after one was trusted", models.ActActivateIdP, models.Target{IdPTrustedBefore: true}, "OC"},
	{"change an active IdP's trust", models.ActChangeIdPTrust, models.Target{}, "OC"},
	{"disable the IdP", models.ActDisableIdP, models.Target{}, "OC"},
	{"generate a SCIM token", models.ActCreateSCIMToken, models.Target{}, "OC"},
	{"revoke a SCIM token", models.ActRevokeSCIMToken, models.Target{}, "OC"},
	{"general settings, default role member", models.ActAuthSettings, models.Target{NewRole: models.RoleMember}, "GOC"},
	{"general settings, default role owner", models.ActAuthSettings, models.Target{NewRole: models.RoleOwner}, "C"},
	{"send link reminders", models.ActSendReminders, models.Target{}, "GOC"},
	{"add a domain", models.ActAddDomain, models.Target{}, "OC"},
	{"verify a domain", models.ActVerifyDomain, models.Target{}, "OC"},
	{"remove a domain", models.ActRemoveDomain, models.Target{}, "OC"},
	{"turn domain capture on or off", models.ActDomainCapture, models.Target{}, "OC"},
}

func TestPowersTable(t *testing.T) {
	for _, row := range powersTable {
		for letter, p := range principals {
			name := row.name + "/" + string(p.Channel) + ":" + string(p.Role)
			t.Run(name, func(t *testing.T) {
				err := models.Authorize(p, row.action, row.target)
				want := strings.IndexByte(row.allowed, letter) >= 0
				if want && err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !want && err == nil {
					t.Fatal("allowed")
				}
				if err != nil && !strings.Contains(err.Error(), " ") {
					t.Fatalf("refusal without a reason a person can act on: %q", err)
				}
			})
		}
	}
}

func TestPowersTableCoversEveryAction(t *testing.T) {
	covered := map[models.Action]bool{}
	for _, row := range powersTable {
		covered[row.action] = true
	}
	for _, a := range models.Actions {
		if !covered[a] {
			t.Errorf("action %q has no row in the powers table", a)
		}
	}
	channels := map[models.Channel]bool{}
	for _, p := range principals {
		channels[p.Channel] = true
	}
	for _, c := range models.Channels {
		if !channels[c] {
			t.Errorf("channel %q has no principal in the powers table", c)
		}
	}
}
