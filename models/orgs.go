package models

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Organization is a tenant.
type Organization struct {
	bun.BaseModel `bun:"table:organizations"`

	ID          int64  `bun:"id,pk,autoincrement"`
	Slug        string `bun:"slug"`
	Name        string `bun:"name"`
	DefaultRole Role   `bun:"default_role"`
	// IdPTrustedBefore: a provider of this org was active once, so setting up or
	// activating another is owner-only (SECURITY.md "Powers").
	IdPTrustedBefore bool `bun:"idp_trusted_before"`
	// DomainCapture: accounts at the org's verified domains must sign in through its
	// SSO (README "Verified domains").
	DomainCapture bool      `bun:"domain_capture"`
	CreatedAt     time.Time `bun:"created_at,nullzero,default:now()"`
}

// NewOrganization is the input of CreateOrganization.
type NewOrganization struct {
	Name, Slug string
}

// reservedSlugs would shadow pages or confuse people.
var reservedSlugs = map[string]bool{"new": true, "api": true, "admin": true, "settings": true, "auth": true, "static": true, "saml": true}

// CreateOrganization creates an org with the actor as its owner. A taken slug is a
// ValidationError on "slug".
func CreateOrganization(ctx context.Context, db bun.IDB, actor Actor, in NewOrganization) (*Organization, error) {
	v := &ValidationError{}
	name := checkText(v, "name", in.Name, "a name", true, 100)
	slugIn := in.Slug
	if slugIn == "" {
		slugIn = Slugify(name)
	}
	slug := checkSlug(v, "slug", slugIn)
	if reservedSlugs[slug] {
		v.Add("slug", "This slug is reserved. Choose another.")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	org := &Organization{Name: name, Slug: slug, DefaultRole: RoleMember}
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(org).Returning("*").Exec(ctx); err != nil {
			if isUniqueViolation(err, "organizations_slug_key") {
				return Invalid("slug", "This slug is taken. Choose another.")
			}
			return fmt.Errorf("insert organization: %w", err)
		}
		m := &Member{OrgID: org.ID, UserID: &actor.UserID, Role: RoleOwner, JoinedVia: JoinedCreator, Active: true}
		if _, err := tx.NewInsert().Model(m).Exec(ctx); err != nil {
			return fmt.Errorf("insert owner: %w", err)
		}
		return audit(ctx, tx, org.ID, actor, EventOrgCreated, org.Slug, map[string]any{"name": org.Name})
	})
	if err != nil {
		return nil, err
	}
	return org, nil
}

// OrgBySlug returns the org or ErrNotFound.
func OrgBySlug(ctx context.Context, db bun.IDB, slug string) (*Organization, error) {
	org := new(Organization)
	if err := db.NewSelect().Model(org).Where("slug = ?", slug).Scan(ctx); err != nil {
		return nil, notFound(err, "organization")
	}
	return org, nil
}

// OrgByID returns the org or ErrNotFound.
func OrgByID(ctx context.Context, db bun.IDB, id int64) (*Organization, error) {
	return getOrg(ctx, db, id)
}

// UserOrg is an org as one of its members sees it.
type UserOrg struct {
	Organization
	Role Role `bun:"role"`
}

// OrgsOfUser returns the orgs the user is an active member of, by name.
func OrgsOfUser(ctx context.Context, db bun.IDB, userID int64) ([]UserOrg, error) {
	var out []UserOrg
	err := db.NewSelect().TableExpr("organizations AS o").
		ColumnExpr("o.*, m.role").
		Join("JOIN members AS m ON m.org_id = o.id").
		Where("m.user_id = ? AND m.active", userID).
		OrderExpr("lower(o.name), o.id").Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("list orgs of user: %w", err)
	}
	return out, nil
}

// CountOrgs returns how many orgs exist.
func CountOrgs(ctx context.Context, db bun.IDB) (int64, error) {
	return db.NewSelect().Model((*Organization)(nil)).Count(ctx)
}

// Overview is what the org home shows.
type Overview struct {
	MemberCount int64
	TeamCount   int
	MyTeams     []string
}

// OrgOverview counts org's members and teams and names the member's teams.
func OrgOverview(ctx context.Context, db bun.IDB, orgID, memberID int64) (*Overview, error) {
	o := &Overview{}
	var err error
	if o.MemberCount, err = db.NewSelect().Model((*Member)(nil)).Where("org_id = ? AND user_id IS NOT NULL", orgID).Count(ctx); err != nil {
		return nil, fmt.Errorf("count members: %w", err)
	}
	if err := db.NewSelect().TableExpr("teams").ColumnExpr("count(*)").Where("org_id = ?", orgID).Scan(ctx, &o.TeamCount); err != nil {
		return nil, fmt.Errorf("count teams: %w", err)
	}
	err = db.NewSelect().TableExpr("team_members AS tm").ColumnExpr("t.name").Join("JOIN teams AS t ON t.id = tm.team_id").
		Where("tm.member_id = ? AND tm.org_id = ?", memberID, orgID).OrderExpr("lower(t.name)").Scan(ctx, &o.MyTeams)
	if err != nil {
		return nil, fmt.Errorf("list my teams: %w", err)
	}
	return o, nil
}
