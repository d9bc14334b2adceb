package models_test

import (
	"strings"
	"testing"

	"gatehouse/models"
)

// SSOInsteadOfPassword, the rule of Require SSO at the door, as a table: which
// memberships let a correct password open a session, and which orgs' SSO is the way in
// otherwise.
func TestSSOInsteadOfPassword(t *testing.T) {
	type org struct {
		provider     string // "", "pending", "active", "required"
		role         models.Role
		linked       bool
		ownersLinked bool // another owner of the org has linked SSO
	}
	cases := []struct {
		name string
		orgs []org
		want string // slugs of the orgs to SSO into; "" = a session
	}{
		{"no organization", nil, ""},
		{"no provider", []org{{provider: "", role: models.RoleMember}}, ""},
		{"pending provider with Require SSO", []org{{provider: "pending", role: models.RoleMember}}, ""},
		{"active provider, SSO not required", []org{{provider: "active", role: models.RoleMember}}, ""},
		{"required, member", []org{{provider: "required", role: models.RoleMember}}, "o0"},
		{"required, linked member", []org{{provider: "required", role: models.RoleMember, linked: true}}, "o0"},
		{"required, admin while no owner linked", []org{{provider: "required", role: models.RoleAdmin}}, "o0"},
		{"required, unlinked owner while no owner linked (fallback)", []org{{provider: "required", role: models.RoleOwner}}, ""},
		{"required, unlinked owner after another owner linked", []org{{provider: "required", role: models.RoleOwner, ownersLinked: true}}, "o0"},
		{"required, linked owner", []org{{provider: "required", role: models.RoleOwner, linked: true}}, "o0"},
		{"required and one that takes passwords", []org{{provider: "required", role: models.RoleMember}, {provider: "", role: models.RoleMember}}, ""},
		{"two required", []org{{provider: "required", role: models.RoleMember}, {provider: "required", role: models.RoleAdmin}}, "o0 o1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			u := f.mustCreateUser("u@example.com")
			for i, o := range tc.orgs {
				owner := f.mustCreateUser("owner" + string(rune('a'+i)) + "@example.com")
				slug := "o" + string(rune('0'+i))
				g := f.mustCreateOrg(owner, slug)
				f.mustAddMember(g, owner, u, o.role)
				exec := func(q string, args ...any) {
					t.Helper()
					if _, err := f.db.Bun.NewRaw(q, args...).Exec(f.ctx); err != nil {
						t.Fatal(err)
					}
				}
				// The creator is an owner who has not linked unless ownersLinked.
				exec("UPDATE members SET sso_linked = ? WHERE org_id = ? AND user_id = ?", o.ownersLinked, g.ID, owner.ID)
				exec("UPDATE members SET sso_linked = ? WHERE org_id = ? AND user_id = ?", o.linked, g.ID, u.ID)
				switch o.provider {
				case "pending":
					exec("INSERT INTO auth_providers (org_id, kind, status, require_sso) VALUES (?, 'saml2', 'pending', true)", g.ID)
				case "active":
					exec("INSERT INTO auth_providers (org_id, kind, status) VALUES (?, 'saml2', 'active')", g.ID)
				case "required":
					exec("INSERT INTO auth_providers (org_id, kind, status, require_sso) VALUES (?, 'saml2', 'active', true)", g.ID)
				}
			}
			got, err := models.SSOInsteadOfPassword(f.ctx, f.db.Bun, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			var slugs []string
			for _, o := range got {
				slugs = append(slugs, o.Org.Slug)
			}
			if strings.Join(slugs, " ") != tc.want {
				t.Fatalf("SSO into %q, want %q", strings.Join(slugs, " "), tc.want)
			}
			// The same rule behind the password: a correct one gives the same verdict.
			in, err := models.SignInWithPassword(f.ctx, f.db.Bun, "u@example.com", "correct horse battery")
			if err != nil || len(in.SSO) != len(got) {
				t.Fatalf("SignInWithPassword: %v, %d orgs", err, len(in.SSO))
			}
		})
	}
}
