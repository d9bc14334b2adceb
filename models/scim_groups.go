package models

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"gatehouse/models/scim"
)

// SCIM Groups are teams, identified by id: renaming a team never breaks the link.

// SCIMGroupFilter maps the Group attributes that filters may use to SQL (SPEC §5).
var SCIMGroupFilter = scim.FilterSpec{
	"displayname":       {SQL: "lower(t.name)", Type: scim.String},
	"externalid":        {SQL: "t.external_id", Type: scim.String, CaseExact: true},
	"id":                {SQL: "t.id::text", Type: scim.String, CaseExact: true},
	"members.value":     {Template: "EXISTS (SELECT 1 FROM team_members tm WHERE tm.team_id = t.id AND tm.member_id::text %s)", Type: scim.String, CaseExact: true},
	"meta.created":      {SQL: "t.created_at", Type: scim.DateTime},
	"meta.lastmodified": {SQL: "t.updated_at", Type: scim.DateTime},
}

type scimTeam struct {
	ID         int64     `bun:"id"`
	Name       string    `bun:"name"`
	ExternalID *string   `bun:"external_id"`
	CreatedAt  time.Time `bun:"created_at"`
	UpdatedAt  time.Time `bun:"updated_at"`
}

func (t *scimTeam) toSCIM(base string) *scim.Group {
	g := &scim.Group{ID: strconv.FormatInt(t.ID, 10), DisplayName: t.Name,
		Meta: scim.Meta{ResourceType: "Group", Created: t.CreatedAt, LastModified: t.UpdatedAt, Location: base + "/Groups/" + strconv.FormatInt(t.ID, 10)}}
	if t.ExternalID != nil {
		g.ExternalID = *t.ExternalID
	}
	return g
}

// loadGroupMembers fills g.Members (value = member id, display = email).
func loadGroupMembers(ctx context.Context, db bun.IDB, g *scim.Group, teamID int64) error {
	var rows []struct {
		ID    int64  `bun:"id"`
		Email string `bun:"email"`
	}
	err := db.NewRaw(`SELECT m.id, m.email FROM team_members tm JOIN members m ON m.id = tm.member_id
		WHERE tm.team_id = ? ORDER BY m.id`, teamID).Scan(ctx, &rows)
	if err != nil {
		return fmt.Errorf("group members: %w", err)
	}
	g.Members = make([]scim.Member, 0, len(rows))
	for _, r := range rows {
		g.Members = append(g.Members, scim.Member{Value: strconv.FormatInt(r.ID, 10), Display: r.Email})
	}
	return nil
}

// ListSCIMGroups returns org's teams matching filter, from start (1-based); with
// withMembers false the members are left out (excludedAttributes=members).
func ListSCIMGroups(ctx context.Context, db bun.IDB, orgID int64, base, filter string, start, count int, withMembers bool) (*SCIMList[*scim.Group], error) {
	where, args, err := scim.TranslateFilter(filter, SCIMGroupFilter)
	if err != nil {
		return nil, err
	}
	cond := "t.org_id = ?"
	all := append([]any{orgID}, args...)
	if where != "" {
		cond += " AND (" + where + ")"
	}
	out := &SCIMList[*scim.Group]{Resources: []*scim.Group{}}
	if err := db.NewRaw("SELECT count(*) FROM teams t WHERE "+cond, all...).Scan(ctx, &out.Total); err != nil {
		return nil, fmt.Errorf("count SCIM groups: %w", err)
	}
	if count == 0 {
		return out, nil
	}
	var rows []scimTeam
	if err := db.NewRaw("SELECT t.id, t.name, t.external_id, t.created_at, t.updated_at FROM teams t WHERE "+cond+" ORDER BY t.id LIMIT ? OFFSET ?",
		append(all, count, start-1)...).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("list SCIM groups: %w", err)
	}
	for i := range rows {
		g := rows[i].toSCIM(base)
		if withMembers {
			if err := loadGroupMembers(ctx, db, g, rows[i].ID); err != nil {
				return nil, err
			}
		}
		out.Resources = append(out.Resources, g)
	}
	return out, nil
}

func getSCIMTeam(ctx context.Context, db bun.IDB, orgID int64, id string, lock bool) (*scimTeam, error) {
	teamID, err := strconv.ParseInt(id, 10, 64)
	if err != nil || teamID <= 0 {
		return nil, scim.Errorf(http.StatusNotFound, "", "Group %s not found", id)
	}
	var rows []scimTeam
	q := "SELECT t.id, t.name, t.external_id, t.created_at, t.updated_at FROM teams t WHERE t.org_id = ? AND t.id = ?"
	if lock {
		q += " FOR UPDATE"
	}
	if err := db.NewRaw(q, orgID, teamID).Scan(ctx, &rows); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, scim.Errorf(http.StatusNotFound, "", "Group %s not found", id)
	}
	return &rows[0], nil
}

// GetSCIMGroup returns one team of org, or a 404 SCIM error.
func GetSCIMGroup(ctx context.Context, db bun.IDB, orgID int64, base, id string, withMembers bool) (*scim.Group, error) {
	t, err := getSCIMTeam(ctx, db, orgID, id, false)
	if err != nil {
		return nil, err
	}
	g := t.toSCIM(base)
	if withMembers {
		if err := loadGroupMembers(ctx, db, g, t.ID); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func memberIDs(ms []scim.Member) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Value)
	}
	return out
}

// parseMemberIDs turns SCIM member values into member ids. With mustExist (add,
// replace) every id must be a member of org, else the whole PATCH fails with a 400
// naming the ids (PATCH is atomic, RFC 7644 §3.5.2); a remove may name ids that are
// unknown or already deleted — IdPs send stale ids — and removes nothing for them.
func parseMemberIDs(ctx context.Context, tx bun.IDB, orgID int64, values []string, mustExist bool) ([]int64, error) {
	ids := make([]int64, 0, len(values))
	for _, v := range values {
		id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || id <= 0 {
			if !mustExist {
				continue // no User has this id: nothing to remove
			}
			return nil, scim.Errorf(http.StatusBadRequest, "invalidValue", "member %q is not a User id", v)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 || !mustExist {
		return ids, nil
	}
	var missing []int64
	if err := tx.NewRaw("SELECT array_agg(DISTINCT i) FROM unnest(?::bigint[]) i WHERE NOT EXISTS (SELECT 1 FROM members WHERE org_id = ? AND id = i)",
		pgdialect.Array(ids), orgID).Scan(ctx, pgdialect.Array(&missing)); err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		names := make([]string, 0, min(len(missing), 10))
		for _, id := range missing[:min(len(missing), 10)] {
			names = append(names, strconv.FormatInt(id, 10))
		}
		more := ""
		if len(missing) > 10 {
			more = fmt.Sprintf(" and %d more", len(missing)-10)
		}
		return nil, scim.Errorf(http.StatusBadRequest, "invalidValue", "members %s%s are not Users of this organization", strings.Join(names, ", "), more)
	}
	return ids, nil
}

// applyMemberSteps changes a team's membership in SQL, step by step (groups of
// 10,000+ members are never loaded).
func applyMemberSteps(ctx context.Context, tx bun.Tx, orgID, teamID int64, steps []scim.MemberStep) error {
	for _, st := range steps {
		ids, err := parseMemberIDs(ctx, tx, orgID, st.IDs, st.Kind == "add" || st.Kind == "replace")
		if err != nil {
			return err
		}
		arr := pgdialect.Array(ids)
		switch st.Kind {
		case "removeAll":
			_, err = tx.NewRaw("DELETE FROM team_members WHERE team_id = ?", teamID).Exec(ctx)
		case "remove":
			_, err = tx.NewRaw("DELETE FROM team_members WHERE team_id = ? AND member_id = ANY(?)", teamID, arr).Exec(ctx)
		case "replace":
			if _, err = tx.NewRaw("DELETE FROM team_members WHERE team_id = ? AND NOT (member_id = ANY(?))", teamID, arr).Exec(ctx); err != nil {
				return err
			}
			fallthrough
		case "add":
			_, err = tx.NewRaw(`INSERT INTO team_members (team_id, member_id, org_id) SELECT ?, id, org_id FROM members
				WHERE org_id = ? AND id = ANY(?) ON CONFLICT DO NOTHING`, teamID, orgID, arr).Exec(ctx)
		default:
			return scim.Errorf(http.StatusBadRequest, "invalidSyntax", "unknown member operation %q", st.Kind)
		}
		if err != nil {
			return fmt.Errorf("team membership: %w", err)
		}
	}
	return nil
}

// teamSlug finds a free slug for name in org.
func teamSlug(ctx context.Context, tx bun.IDB, orgID int64, name string, exceptID int64) (string, error) {
	base := Slugify(name)
	if base == "" {
		base = "team"
	}
	if len(base) > 56 {
		base = strings.Trim(base[:56], "-")
	}
	for i := 1; i < 1000; i++ {
		slug := base
		if i > 1 {
			slug = base + "-" + strconv.Itoa(i)
		}
		taken, err := tx.NewSelect().Model((*Team)(nil)).Where("org_id = ? AND slug = ? AND id <> ?", orgID, slug, exceptID).Exists(ctx)
		if err != nil {
			return "", err
		}
		if !taken {
			return slug, nil
		}
	}
	return "", fmt.Errorf("no free slug for %q", name)
}

// checkGroupName trims a team name and checks it as the teams table does: 1 to 100
// characters (not bytes), no NUL.
func checkGroupName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return "", scim.Errorf(http.StatusBadRequest, "invalidValue", "displayName must have 1 to 100 characters")
	}
	if err := scimText("displayName", name, 0); err != nil {
		return "", err
	}
	return name, nil
}

func nameTaken(ctx context.Context, tx bun.IDB, orgID int64, name string, exceptID int64) error {
	taken, err := tx.NewSelect().Model((*Team)(nil)).Where("org_id = ? AND lower(name) = lower(?) AND id <> ?", orgID, name, exceptID).Exists(ctx)
	if err != nil {
		return err
	}
	if taken {
		return scim.Errorf(http.StatusConflict, "uniqueness", "Group %q already exists in this organization", name)
	}
	return nil
}

// CreateSCIMGroup creates a team with its members; a taken name (any case) is 409 uniqueness.
func CreateSCIMGroup(ctx context.Context, db bun.IDB, orgID int64, actor Actor, base string, g *scim.Group) (*scim.Group, error) {
	name, err := checkGroupName(g.DisplayName)
	if err != nil {
		return nil, err
	}
	var out *scim.Group
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := lockTeamNames(ctx, tx, orgID); err != nil {
			return err
		}
		if err := nameTaken(ctx, tx, orgID, name, 0); err != nil {
			return err
		}
		slug, err := teamSlug(ctx, tx, orgID, name, 0)
		if err != nil {
			return err
		}
		t := &Team{OrgID: orgID, Name: name, Slug: slug, IDPProvisioned: true}
		if _, err := tx.NewInsert().Model(t).Returning("*").Exec(ctx); err != nil {
			if isUniqueViolation(err, "") {
				return scim.Errorf(http.StatusConflict, "uniqueness", "Group %q already exists in this organization", name)
			}
			return err
		}
		if g.ExternalID != "" {
			if err := scimText("externalId", g.ExternalID, maxExternalID); err != nil {
				return err
			}
			if _, err := tx.NewRaw("UPDATE teams SET external_id = ? WHERE id = ?", g.ExternalID, t.ID).Exec(ctx); err != nil {
				return err
			}
		}
		if err := applyMemberSteps(ctx, tx, orgID, t.ID, []scim.MemberStep{{Kind: "add", IDs: memberIDs(g.Members)}}); err != nil {
			return err
		}
		if err := audit(ctx, tx, orgID, actor, EventTeamCreated, name, map[string]any{"via": "SCIM", "members": len(g.Members)}); err != nil {
			return err
		}
		out, err = GetSCIMGroup(ctx, tx, orgID, base, strconv.FormatInt(t.ID, 10), true)
		return err
	})
	return out, err
}

// ReplaceSCIMGroup applies a full Group (PUT): name, externalId and exactly these members.
func ReplaceSCIMGroup(ctx context.Context, db bun.IDB, orgID int64, actor Actor, base, id string, g *scim.Group) (*scim.Group, error) {
	name := g.DisplayName
	ext := g.ExternalID
	change := &scim.GroupChange{DisplayName: &name, ExternalID: &ext, Members: []scim.MemberStep{{Kind: "replace", IDs: memberIDs(g.Members)}}}
	return PatchSCIMGroup(ctx, db, orgID, actor, base, id, change, true)
}

// PatchSCIMGroup applies a GroupChange to team id of org (all or nothing) and returns
// the group, with its members when withMembers.
func PatchSCIMGroup(ctx context.Context, db bun.IDB, orgID int64, actor Actor, base, id string, ch *scim.GroupChange, withMembers bool) (*scim.Group, error) {
	var out *scim.Group
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		t, err := getSCIMTeam(ctx, tx, orgID, id, true)
		if err != nil {
			return err
		}
		if ch.DisplayName != nil && *ch.DisplayName != t.Name {
			name, err := checkGroupName(*ch.DisplayName)
			if err != nil {
				return err
			}
			if err := lockTeamNames(ctx, tx, orgID); err != nil {
				return err
			}
			if err := nameTaken(ctx, tx, orgID, name, t.ID); err != nil {
				return err
			}
			slug, err := teamSlug(ctx, tx, orgID, name, t.ID)
			if err != nil {
				return err
			}
			if _, err := tx.NewRaw("UPDATE teams SET name = ?, slug = ? WHERE id = ?", name, slug, t.ID).Exec(ctx); err != nil {
				// A team made in the app at the same moment (its insert was not
				// visible to nameTaken): the IdP is told, not given a 500.
				if isUniqueViolation(err, "") {
					return scim.Errorf(http.StatusConflict, "uniqueness", "Group %q already exists in this organization", name)
				}
				return err
			}
			if err := audit(ctx, tx, orgID, actor, EventTeamRenamed, name, map[string]any{"old": t.Name, "new": name, "via": "SCIM"}); err != nil {
				return err
			}
		}
		if ch.ExternalID != nil {
			if err := scimText("externalId", *ch.ExternalID, maxExternalID); err != nil {
				return err
			}
			var ext any
			if *ch.ExternalID != "" {
				ext = *ch.ExternalID
			}
			if _, err := tx.NewRaw("UPDATE teams SET external_id = ? WHERE id = ?", ext, t.ID).Exec(ctx); err != nil {
				return err
			}
		}
		if len(ch.Members) > 0 {
			if err := applyMemberSteps(ctx, tx, orgID, t.ID, ch.Members); err != nil {
				return err
			}
		}
		if _, err := tx.NewRaw("UPDATE teams SET updated_at = now() WHERE id = ?", t.ID).Exec(ctx); err != nil {
			return err
		}
		out, err = GetSCIMGroup(ctx, tx, orgID, base, id, withMembers)
		return err
	})
	return out, err
}

// DeleteSCIMGroup deletes team id of org (its members stay in the org).
func DeleteSCIMGroup(ctx context.Context, db bun.IDB, orgID int64, actor Actor, id string) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		t, err := getSCIMTeam(ctx, tx, orgID, id, true)
		if err != nil {
			return err
		}
		if _, err := tx.NewRaw("DELETE FROM teams WHERE id = ? AND org_id = ?", t.ID, orgID).Exec(ctx); err != nil {
			return err
		}
		return audit(ctx, tx, orgID, actor, EventTeamDeleted, t.Name, map[string]any{"via": "SCIM"})
	})
}
