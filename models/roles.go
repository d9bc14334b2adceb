package models

// Role is a member's role in an organization.
type Role string

// Roles, lowest to highest, plus billing (SPEC "Concepts").
const (
	RoleMember  Role = "member"
	RoleAdmin   Role = "admin"
	RoleManager Role = "manager"
	RoleOwner   Role = "owner"
	RoleBilling Role = "billing"
)

// Roles lists every role in the order the UI shows them.
var Roles = []Role{RoleMember, RoleAdmin, RoleManager, RoleOwner, RoleBilling}

// RoleDescriptions says what each role may do, for the invite and role forms.
var RoleDescriptions = map[Role]string{
	RoleMember:  "Can see the organization and its members.",
	RoleAdmin:   "Members, plus manage teams.",
	RoleManager: "Admins, plus manage members and authentication settings.",
	RoleOwner:   "Full control, including owners and deleting the organization.",
	RoleBilling: "Billing only: no access to members or settings.",
}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, bool) {
	for _, r := range Roles {
		if string(r) == s {
			return r, true
		}
	}
	return "", false
}

func (r Role) rank() int {
	switch r {
	case RoleMember:
		return 1
	case RoleAdmin:
		return 2
	case RoleManager:
		return 3
	case RoleOwner:
		return 4
	}
	return 0 // billing
}

// CanViewMembers: everyone but billing.
func (r Role) CanViewMembers() bool { return r.rank() >= 1 }

// CanManageTeams: admins and above.
func (r Role) CanManageTeams() bool { return r.rank() >= 2 }

// CanManageMembers: managers and owners (invite, change roles, remove).
func (r Role) CanManageMembers() bool { return r.rank() >= 3 }

// CanViewAudit: managers and owners.
func (r Role) CanViewAudit() bool { return r.rank() >= 3 }

// CanGrant reports whether an actor with role r may give or take away role target.
// Only owners grant or remove owner.
func (r Role) CanGrant(target Role) bool {
	if !r.CanManageMembers() {
		return false
	}
	return target != RoleOwner || r == RoleOwner
}
