package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Team is a group of members of one org.
type Team struct {
	bun.BaseModel `bun:"table:teams"`

	ID             int64     `bun:"id,pk,autoincrement"`
	OrgID          int64     `bun:"org_id"`
	Slug           string    `bun:"slug"`
	Name           string    `bun:"name"`
	IDPProvisioned bool      `bun:"idp_provisioned"`
	ExternalID     *string   `bun:"external_id"` // SCIM externalId
	CreatedAt      time.Time `bun:"created_at,nullzero,default:now()"`
	UpdatedAt      time.Time `bun:"updated_at,nullzero,default:now()"`
}

// TeamRow is a team with its member count.
type TeamRow struct {
	Team
	MemberCount int `bun:"member_count"`
}

// ListTeams returns org's teams by name.
func ListTeams(ctx context.Context, db bun.IDB, orgID int64) ([]TeamRow, error) {
	var out []TeamRow
	err := db.NewSelect().TableExpr("teams AS t").ColumnExpr("t.*").
		ColumnExpr("(SELECT count(*) FROM team_members tm WHERE tm.team_id = t.id) AS member_count").
		Where("t.org_id = ?", orgID).OrderExpr("lower(t.name), t.id").Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	return out, nil
}

// GetTeam returns org's team by slug, or ErrNotFound.
func GetTeam(ctx context.Context, db bun.IDB, orgID int64, slug string) (*Team, error) {
	t := new(Team)
	if err := db.NewSelect().Model(t).Where("org_id = ? AND slug = ?", orgID, slug).Scan(ctx); err != nil {
		return nil, notFound(err, "team")
	}
	return t, nil
}

// TeamMemberRow is a member of a team.
type TeamMemberRow struct {
	MemberID int64  `bun:"member_id"`
	Email    string `bun:"email"`
	Name     string `bun:"name"`
	Role     Role   `bun:"role"`
}

// ListTeamMembers returns the joined members of a team of org.
func ListTeamMembers(ctx context.Context, db bun.IDB, orgID, teamID int64) ([]TeamMemberRow, error) {
	var out []TeamMemberRow
	err := db.NewSelect().TableExpr("team_members AS tm").
		ColumnExpr("m.id AS member_id, m.email, coalesce(u.name, '') AS name, m.role").
		Join("JOIN members AS m ON m.id = tm.member_id").
		Join("LEFT JOIN users AS u ON u.id = m.user_id").
		Where("tm.team_id = ? AND tm.org_id = ?", teamID, orgID).
		OrderExpr("lower(m.email)").Limit(1000).Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("list team members: %w", err)
	}
	return out, nil
}

// requireTeamManager applies the powers rule (ActManageTeams) for actor.
func requireTeamManager(ctx context.Context, db bun.IDB, orgID int64, actor Actor) error {
	if err := authorizeActor(ctx, db, orgID, actor, ActManageTeams, Target{}); err != nil {
		if errors.Is(err, ErrForbidden) {
			return Forbidden("Only admins, managers and owners can change teams.")
		}
		return err
	}
	return nil
}

// TeamInput is the input of CreateTeam and RenameTeam.
type TeamInput struct{ Name, Slug string }

func (in TeamInput) check() (name, slug string, err error) {
	v := &ValidationError{}
	name = checkText(v, "name", in.Name, "a name", true, 100)
	s := in.Slug
	if s == "" {
		s = Slugify(name)
	}
	slug = checkSlug(v, "slug", s)
	return name, slug, v.Err()
}

func teamConflict(err error) error {
	switch {
	case isUniqueViolation(err, "teams_org_slug_key"):
		return Invalid("slug", "A team with this slug already exists.")
	case isUniqueViolation(err, "teams_org_name_key"):
		return Invalid("name", "A team with this name already exists.")
	}
	return err
}

// CreateTeam adds a team to org. A taken name or slug is a ValidationError.
func CreateTeam(ctx context.Context, db bun.IDB, orgID int64, actor Actor, in TeamInput) (*Team, error) {
	name, slug, err := in.check()
	if err != nil {
		return nil, err
	}
	t := &Team{OrgID: orgID, Name: name, Slug: slug}
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := requireTeamManager(ctx, tx, orgID, actor); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(t).Returning("*").Exec(ctx); err != nil {
			return teamConflict(err)
		}
		return audit(ctx, tx, orgID, actor, EventTeamCreated, t.Name, map[string]any{"slug": t.Slug})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// RenameTeam changes a team's name and slug.
func RenameTeam(ctx context.Context, db bun.IDB, orgID int64, actor Actor, teamID int64, in TeamInput) (*Team, error) {
	name, slug, err := in.check()
	if err != nil {
		return nil, err
	}
	t := new(Team)
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := requireTeamManager(ctx, tx, orgID, actor); err != nil {
			return err
		}
		if err := tx.NewSelect().Model(t).Where("id = ? AND org_id = ?", teamID, orgID).For("UPDATE").Scan(ctx); err != nil {
			return notFound(err, "team")
		}
		old := t.Name
		if _, err := tx.NewUpdate().Model(t).Set("name = ?", name).Set("slug = ?", slug).Set("updated_at = now()").
			WherePK().Returning("*").Exec(ctx); err != nil {
			return teamConflict(err)
		}
		return audit(ctx, tx, orgID, actor, EventTeamRenamed, name, map[string]any{"old": old, "new": name})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// DeleteTeam removes a team of org (members stay in the org).
func DeleteTeam(ctx context.Context, db bun.IDB, orgID int64, actor Actor, teamID int64) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := requireTeamManager(ctx, tx, orgID, actor); err != nil {
			return err
		}
		t := new(Team)
		if err := tx.NewDelete().Model(t).Where("id = ? AND org_id = ?", teamID, orgID).Returning("*").Scan(ctx); err != nil {
			return notFound(err, "team")
		}
		return audit(ctx, tx, orgID, actor, EventTeamDeleted, t.Name, nil)
	})
}

// AddTeamMember puts a member of org (found by email) into a team of org.
func AddTeamMember(ctx context.Context, db bun.IDB, orgID int64, actor Actor, teamID int64, email string) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := requireTeamManager(ctx, tx, orgID, actor); err != nil {
			return err
		}
		var memberID int64
		err := tx.NewSelect().TableExpr("members AS m").Column("m.id").
			Where("m.org_id = ? AND lower(m.email) = lower(?)", orgID, NormalizeEmail(email)).
			Scan(ctx, &memberID)
		if err != nil {
			return Invalid("email", "No member of this organization has that email.")
		}
		if err := setTeams(ctx, tx, orgID, memberID, []int64{teamID}); err != nil {
			return err
		}
		t := new(Team)
		if err := tx.NewSelect().Model(t).Where("id = ? AND org_id = ?", teamID, orgID).Scan(ctx); err != nil {
			return notFound(err, "team")
		}
		return audit(ctx, tx, orgID, actor, EventTeamMemberAdded, t.Name, map[string]any{"member": NormalizeEmail(email)})
	})
}

// RemoveTeamMember takes a member out of a team of org.
func RemoveTeamMember(ctx context.Context, db bun.IDB, orgID int64, actor Actor, teamID, memberID int64) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := requireTeamManager(ctx, tx, orgID, actor); err != nil {
			return err
		}
		res, err := tx.NewDelete().TableExpr("team_members").Where("team_id = ? AND member_id = ? AND org_id = ?", teamID, memberID, orgID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("remove team member: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("team member: %w", ErrNotFound)
		}
		t := new(Team)
		if err := tx.NewSelect().Model(t).Where("id = ? AND org_id = ?", teamID, orgID).Scan(ctx); err != nil {
			return notFound(err, "team")
		}
		m := new(Member)
		if err := tx.NewSelect().Model(m).Where("id = ? AND org_id = ?", memberID, orgID).Scan(ctx); err != nil {
			return notFound(err, "member")
		}
		return audit(ctx, tx, orgID, actor, EventTeamMemberRemoved, t.Name, map[string]any{"member": memberLabel(m)})
	})
}
