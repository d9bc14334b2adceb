package models

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"gatehouse/models/scim"
)

// SCIM Users are members (SPEC §5): the SCIM id is the member id; userName is kept as
// the IdP sent it (unique per org ignoring case; a member SCIM never named shows its
// email); the member's email comes from emails (primary, else work, else userName
// when it is an address).

// scimMember is a member as SCIM reads it.
type scimMember struct {
	ID                int64     `bun:"id"`
	UserID            *int64    `bun:"user_id"`
	Email             string    `bun:"email"`
	SCIMUserName      string    `bun:"scim_user_name"` // userName as sent, else the email
	UserName          string    `bun:"user_name"`
	Role              Role      `bun:"role"`
	Active            bool      `bun:"active"`
	ExternalID        *string   `bun:"external_id"`
	GivenName         string    `bun:"given_name"` // as the IdP set them
	FamilyName        string    `bun:"family_name"`
	ShownGivenName    string    `bun:"shown_given_name"` // with the account name as fallback
	ShownFamilyName   string    `bun:"shown_family_name"`
	DisplayName       string    `bun:"display_name"`
	IDPRoleRestricted bool      `bun:"idp_role_restricted"`
	JoinedVia         string    `bun:"joined_via"`
	CreatedAt         time.Time `bun:"created_at"`
	UpdatedAt         time.Time `bun:"updated_at"`
	Groups            []string  `bun:"groups,array"` // "id\x1fname"
}

// A member the IdP never named (the owner, members who joined by invitation or SSO)
// shows the account's name: its first word as givenName, the rest as familyName —
// Okta's import and its spec test need both. Filters use the same expressions; PUT and
// PATCH start from the stored names only, so the fallback is never written back.
const (
	scimAccountName = `btrim(coalesce(u.name, ''))`
	scimUnnamed     = `(m.given_name = '' AND m.family_name = '')`
	scimGivenSQL    = `CASE WHEN ` + scimUnnamed + ` THEN split_part(` + scimAccountName + `, ' ', 1) ELSE m.given_name END`
	scimFamilySQL   = `CASE WHEN ` + scimUnnamed + ` THEN btrim(substr(` + scimAccountName + `, length(split_part(` + scimAccountName + `, ' ', 1)) + 1)) ELSE m.family_name END`
)

const scimMemberColumns = `m.id, m.user_id, m.email, coalesce(m.user_name, m.email) AS scim_user_name, coalesce(u.name, '') AS user_name,
	m.role, m.active, m.external_id, m.given_name, m.family_name, m.display_name, m.idp_role_restricted, m.joined_via,
	` + scimGivenSQL + ` AS shown_given_name, ` + scimFamilySQL + ` AS shown_family_name,
	m.created_at, m.updated_at,
	ARRAY(SELECT t.id::text || chr(31) || t.name FROM team_members tm JOIN teams t ON t.id = tm.team_id
	      WHERE tm.member_id = m.id ORDER BY t.id) AS groups`

// SCIMUserFilter maps the User attributes that filters may use to SQL (SPEC §5).
var SCIMUserFilter = scim.FilterSpec{
	"username":          {SQL: "lower(coalesce(m.user_name, m.email))", Type: scim.String}, // indexed (members_org_user_name_key)
	"emails.value":      {SQL: "lower(m.email)", Type: scim.String},
	"emails.type":       {SQL: "'work'", Type: scim.String},
	"externalid":        {SQL: "m.external_id", Type: scim.String, CaseExact: true},
	"id":                {SQL: "m.id::text", Type: scim.String, CaseExact: true},
	"active":            {SQL: "m.active", Type: scim.Bool},
	"displayname":       {SQL: "lower(coalesce(nullif(m.display_name, ''), u.name, ''))", Type: scim.String},
	"name.givenname":    {SQL: "lower(" + scimGivenSQL + ")", Type: scim.String},
	"name.familyname":   {SQL: "lower(" + scimFamilySQL + ")", Type: scim.String},
	"meta.created":      {SQL: "m.created_at", Type: scim.DateTime},
	"meta.lastmodified": {SQL: "m.updated_at", Type: scim.DateTime},
}

// toSCIM is the member as SCIM returns it (names fall back to the account's).
func (r *scimMember) toSCIM(base string) *scim.User {
	return r.resource(base, r.ShownGivenName, r.ShownFamilyName)
}

// stored is the member with only the names the IdP set: what PUT and PATCH change.
func (r *scimMember) stored(base string) *scim.User {
	return r.resource(base, r.GivenName, r.FamilyName)
}

func (r *scimMember) resource(base, given, family string) *scim.User {
	u := &scim.User{ID: strconv.FormatInt(r.ID, 10), UserName: r.SCIMUserName, DisplayName: r.DisplayName,
		Name:   scim.Name{GivenName: given, FamilyName: family},
		Emails: []scim.Email{{Value: r.Email, Type: "work", Primary: true}},
		// A pending member reads as active (SPEC §5); a deactivated one as inactive.
		Active:  r.Active,
		OrgRole: string(r.Role),
		Meta: scim.Meta{ResourceType: "User", Created: r.CreatedAt, LastModified: r.UpdatedAt,
			Location: base + "/Users/" + strconv.FormatInt(r.ID, 10)},
	}
	if u.DisplayName == "" {
		u.DisplayName = r.UserName
	}
	if r.ExternalID != nil {
		u.ExternalID = *r.ExternalID
	}
	if given != "" && family != "" {
		u.Name.Formatted = given + " " + family
	}
	for _, g := range r.Groups {
		id, name, _ := strings.Cut(g, "\x1f")
		u.Groups = append(u.Groups, scim.GroupRef{Value: id, Display: name, Ref: base + "/Groups/" + id})
	}
	return u
}

// SCIMList is a page of resources and the total that match.
type SCIMList[T any] struct {
	Total     int
	Resources []T
}

// ListSCIMUsers returns org's members matching filter, from startIndex (1-based),
// ordered by id. Without a filter, totalResults is the trigger-kept member count (no
// count over the org per page). startIndex is served by keyset when this process
// served the page before it (IdPs page sequentially): the page then starts after that
// page's last id; otherwise the offset is taken over the (org_id, id) index alone and
// only the page's rows are joined.
func ListSCIMUsers(ctx context.Context, db bun.IDB, orgID int64, base, filter string, start, count int) (*SCIMList[*scim.User], error) {
	where, args, err := scim.TranslateFilter(filter, SCIMUserFilter)
	if err != nil {
		return nil, err
	}
	cond := "m.org_id = ?"
	all := append([]any{orgID}, args...)
	if where != "" {
		cond += " AND (" + where + ")"
	}
	// No filter, or a single comparison (Entra's and Okta's `userName eq "…"`
	// lookups): a small, fixed set of statement shapes, run prepared (prepared.go).
	// Any other filter can take any shape, so it stays unprepared (a tenant must not
	// fill the statement cache: TestSCIMFiltersDoNotFillTheStatementCache).
	prepared := where == "" || scim.SingleComparison(filter)
	run := func(dest any, q string, args ...any) error {
		if prepared {
			return scanPrepared(ctx, db, dest, dollarize(q), args...)
		}
		return db.NewRaw(q, args...).Scan(ctx, dest)
	}
	out := &SCIMList[*scim.User]{Resources: []*scim.User{}}
	if where == "" {
		if err := run(&out.Total, "SELECT coalesce(sum(n), 0) FROM org_member_counts WHERE org_id = ?", orgID); err != nil {
			return nil, fmt.Errorf("count SCIM users: %w", err)
		}
	} else if err := run(&out.Total, "SELECT count(*) FROM members m LEFT JOIN users u ON u.id = m.user_id WHERE "+cond, all...); err != nil {
		return nil, fmt.Errorf("count SCIM users: %w", err)
	}
	if count == 0 {
		return out, nil
	}
	var rows []scimMember
	var q string
	var qargs []any
	if after, ok := scimPages.get(orgID, filter, start); ok {
		q = "SELECT " + scimMemberColumns + " FROM members m LEFT JOIN users u ON u.id = m.user_id WHERE " + cond + " AND m.id > ? ORDER BY m.id LIMIT ?"
		qargs = append(append(qargs, all...), after, count)
	} else if where == "" {
		q = "SELECT " + scimMemberColumns + " FROM (SELECT id FROM members WHERE org_id = ? ORDER BY id LIMIT ? OFFSET ?) k" +
			" JOIN members m ON m.id = k.id LEFT JOIN users u ON u.id = m.user_id ORDER BY m.id"
		qargs = []any{orgID, count, start - 1}
	} else {
		q = "SELECT " + scimMemberColumns + " FROM members m LEFT JOIN users u ON u.id = m.user_id WHERE " + cond + " ORDER BY m.id LIMIT ? OFFSET ?"
		qargs = append(append(qargs, all...), count, start-1)
	}
	if err := run(&rows, q, qargs...); err != nil {
		return nil, fmt.Errorf("list SCIM users: %w", err)
	}
	for i := range rows {
		out.Resources = append(out.Resources, rows[i].toSCIM(base))
	}
	if len(rows) == count {
		scimPages.put(orgID, filter, start+count, rows[len(rows)-1].ID)
	}
	return out, nil
}

// scimPages remembers, per org, filter and startIndex, the id after which that page
// starts (the last id of the page before it), so sequential paging is keyset paging.
// Per process and bounded; a miss falls back to the offset.
var scimPages = &pageAnchors{m: map[pageAnchorKey]int64{}}

type pageAnchorKey struct {
	org    int64
	filter string
	start  int
}

type pageAnchors struct {
	sync.Mutex
	m map[pageAnchorKey]int64
}

const maxPageAnchors = 10000

func (p *pageAnchors) get(org int64, filter string, start int) (int64, bool) {
	p.Lock()
	defer p.Unlock()
	id, ok := p.m[pageAnchorKey{org, filter, start}]
	return id, ok
}

func (p *pageAnchors) put(org int64, filter string, start int, after int64) {
	p.Lock()
	defer p.Unlock()
	if len(p.m) >= maxPageAnchors {
		clear(p.m)
	}
	p.m[pageAnchorKey{org, filter, start}] = after
}

// One member as SCIM shows it, prepared (prepared.go): every SCIM read and write of a
// User starts here.
var (
	qSCIMMember = prepare(func(bun.IDB) string {
		return "SELECT " + scimMemberColumns + " FROM members m LEFT JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND m.id = $2"
	})
	qSCIMMemberForUpdate = prepare(func(bun.IDB) string {
		return "SELECT " + scimMemberColumns + " FROM members m LEFT JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND m.id = $2 FOR UPDATE OF m"
	})
)

func getSCIMMember(ctx context.Context, db bun.IDB, orgID int64, id string, lock bool) (*scimMember, error) {
	memberID, err := strconv.ParseInt(id, 10, 64)
	if err != nil || memberID <= 0 {
		return nil, scim.Errorf(http.StatusNotFound, "", "User %s not found", id)
	}
	var rows []scimMember
	q := qSCIMMember
	if lock {
		q = qSCIMMemberForUpdate
	}
	if err := q.scanAll(ctx, db, &rows, orgID, memberID); err != nil {
		return nil, fmt.Errorf("get SCIM user: %w", err)
	}
	if len(rows) == 0 {
		return nil, scim.Errorf(http.StatusNotFound, "", "User %s not found", id)
	}
	return &rows[0], nil
}

// GetSCIMUser returns one member of org, or a 404 SCIM error.
func GetSCIMUser(ctx context.Context, db bun.IDB, orgID int64, base, id string) (*scim.User, error) {
	r, err := getSCIMMember(ctx, db, orgID, id, false)
	if err != nil {
		return nil, err
	}
	return r.toSCIM(base), nil
}

// scimRole checks a role sent by the IdP: owner and unknown roles are refused
// (400 invalidValue); "" means the org's default role, unlocked.
func scimRole(in string, fallback Role) (Role, bool, error) {
	if in == "" {
		return fallback, false, nil
	}
	r, ok := ParseRole(strings.ToLower(strings.TrimSpace(in)))
	if !ok {
		return "", false, scim.Errorf(http.StatusBadRequest, "invalidValue", "orgRole %q is not a role (member, admin, manager, billing)", in)
	}
	if r == RoleOwner {
		return "", false, scim.Errorf(http.StatusBadRequest, "invalidValue", "orgRole owner cannot be granted through SCIM")
	}
	return r, true, nil
}

// scimEmail is the member email of u: the primary email, else the work one, else the
// userName when it is an address (SPEC §5). None is 400 invalidValue.
func scimEmail(u *scim.User) (string, error) {
	for _, e := range u.Emails {
		if e.Primary {
			if v, ok := validEmail(e.Value); ok {
				return v, nil
			}
		}
	}
	for _, e := range u.Emails {
		if strings.EqualFold(e.Type, "work") {
			if v, ok := validEmail(e.Value); ok {
				return v, nil
			}
		}
	}
	if v, ok := validEmail(strings.TrimSpace(u.UserName)); ok {
		return v, nil
	}
	if len(u.Emails) == 1 {
		if v, ok := validEmail(u.Emails[0].Value); ok {
			return v, nil
		}
	}
	return "", scim.Errorf(http.StatusBadRequest, "invalidValue", "A User needs an email address: a primary or work email, or a userName that is an address")
}

// maxUserName is the longest userName kept (the column's CHECK), in characters.
const maxUserName = 512

// scimUserName is userName as the IdP sent it (trimmed), checked.
func scimUserName(u *scim.User) (string, error) {
	name := strings.TrimSpace(u.UserName)
	if name == "" {
		return "", scim.Errorf(http.StatusBadRequest, "invalidValue", "userName is required")
	}
	if err := scimText("userName", name, maxUserName); err != nil {
		return "", err
	}
	return name, nil
}

// ProvisionSCIMUser creates a pending member for u and emails the invitation to the
// member email in the same transaction (SPEC §5). It goes through BindPerson: a
// member that already is this person (userName in any case, externalId or email;
// pending or not) is a 409 uniqueness error — IdPs look the user up first and
// PATCH it; a person SCIM deleted before is provisioned again.
func ProvisionSCIMUser(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor, base string, u *scim.User) (*scim.User, error) {
	userName, err := scimUserName(u)
	if err != nil {
		return nil, err
	}
	email, err := scimEmail(u)
	if err != nil {
		return nil, err
	}
	var out *scim.User
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		org, err := getOrg(ctx, tx, orgID)
		if err != nil {
			return err
		}
		role, locked, err := scimRole(u.OrgRole, org.DefaultRole)
		if err != nil {
			return err
		}
		if err := Authorize(Principal{Channel: ChannelSCIM}, ActInvite, Target{NewRole: role}); err != nil {
			return scimForbidden(err)
		}
		token, hash := newToken()
		m, b, err := BindPerson(ctx, tx, orgID, Person{IdPUserID: userName, ExternalID: u.ExternalID, Email: email, FromIdP: true}, func() *Member {
			expires := time.Now().Add(InvitationLifetime)
			return &Member{InviteEmail: &email, UserName: &userName, Role: role, JoinedVia: JoinedSCIM, InviteTokenHash: &hash,
				InviteExpiresAt: &expires, IDPProvisioned: true, IDPRoleRestricted: locked, Active: u.Active}
		})
		if errors.Is(err, ErrConflict) {
			return scimConflict(userName)
		}
		if err != nil {
			return err
		}
		if b == BindFound {
			return scimConflict(userName) // pending or not (SPEC §5)
		}
		if err := setSCIMAttributes(ctx, tx, m.ID, u); err != nil {
			return err
		}
		if err := audit(ctx, tx, orgID, actor, EventMemberInvited, email, map[string]any{"role": role, "via": "SCIM", "userName": userName}); err != nil {
			return err
		}
		if u.Active {
			if err := mailer.enqueue(ctx, tx, invitationEmail(org, Actor{Label: org.Name}, email, token)); err != nil {
				return err
			}
		}
		r, err := getSCIMMember(ctx, tx, orgID, strconv.FormatInt(m.ID, 10), false)
		if err != nil {
			return err
		}
		out = r.toSCIM(base)
		return nil
	})
	return out, err
}

// authorizeSCIMChange applies the powers rule to what a PUT or PATCH would change on
// row (SECURITY.md "Powers"): SCIM never deactivates, re-roles or re-addresses an
// owner or a pending owner invitation, and never touches an invitation made in the
// UI. Sending back what is stored is no change and always allowed (IdPs re-send
// whole resources).
func authorizeSCIMChange(row *scimMember, next *scim.User) error {
	t := Target{Role: row.Role, Pending: row.UserID == nil, JoinedVia: row.JoinedVia}
	check := func(a Action, tt Target) error {
		if err := Authorize(Principal{Channel: ChannelSCIM}, a, tt); err != nil {
			return scimForbidden(err)
		}
		return nil
	}
	ext := ""
	if row.ExternalID != nil {
		ext = *row.ExternalID
	}
	if clip(next.Name.GivenName, 200) != row.GivenName || clip(next.Name.FamilyName, 200) != row.FamilyName ||
		clip(next.DisplayName, 200) != row.DisplayName || next.ExternalID != ext {
		if err := check(ActEditMemberNames, t); err != nil {
			return err
		}
	}
	readdress := !strings.EqualFold(strings.TrimSpace(next.UserName), row.SCIMUserName)
	if row.UserID == nil {
		if email, err := scimEmail(next); err == nil && !strings.EqualFold(email, row.Email) {
			readdress = true
		}
	}
	if readdress {
		if err := check(ActReaddressMember, t); err != nil {
			return err
		}
	}
	if next.OrgRole != "" && !strings.EqualFold(next.OrgRole, string(row.Role)) {
		nt := t
		nt.NewRole = Role(strings.ToLower(strings.TrimSpace(next.OrgRole)))
		if err := check(ActChangeRole, nt); err != nil {
			return err
		}
	}
	if next.Active != row.Active {
		a := ActReactivateMember
		if !next.Active {
			a = ActDeactivateMember
		}
		if err := check(a, t); err != nil {
			return err
		}
	}
	return nil
}

// scimForbidden is a refusal of the powers rule as a SCIM 403.
func scimForbidden(err error) error {
	return scim.Errorf(http.StatusForbidden, "", "%s", err.Error())
}

func setSCIMAttributes(ctx context.Context, tx bun.Tx, memberID int64, u *scim.User) error {
	if err := scimText("externalId", u.ExternalID, maxExternalID); err != nil {
		return err
	}
	for _, f := range [][2]string{{"name.givenName", u.Name.GivenName}, {"name.familyName", u.Name.FamilyName}, {"displayName", u.DisplayName}} {
		if err := scimText(f[0], f[1], 0); err != nil {
			return err
		}
	}
	var ext any
	if u.ExternalID != "" {
		ext = u.ExternalID
	}
	_, err := tx.NewRaw(`UPDATE members SET external_id = ?, given_name = ?, family_name = ?, display_name = ?, updated_at = now() WHERE id = ?`,
		ext, clip(u.Name.GivenName, 200), clip(u.Name.FamilyName, 200), clip(u.DisplayName, 200), memberID).Exec(ctx)
	return err
}

// maxExternalID is the longest externalId kept (the column's CHECK), in characters.
const maxExternalID = 512

// scimText checks a string the IdP sent before it reaches the database: PostgreSQL text
// cannot hold NUL, and an identifier is never cut (max > 0: at most max characters).
// Either is 400 invalidValue, not a failed statement (500).
func scimText(attr, s string, max int) error {
	if strings.ContainsRune(s, 0) {
		return scim.Errorf(http.StatusBadRequest, "invalidValue", "%s must not contain NUL characters", attr)
	}
	if max > 0 && utf8.RuneCountInString(s) > max {
		return scim.Errorf(http.StatusBadRequest, "invalidValue", "%s is longer than %d characters", attr, max)
	}
	return nil
}

// clip trims s and keeps its first n characters (never half of a UTF-8 sequence, which
// PostgreSQL would refuse).
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return strings.TrimSpace(string([]rune(s)[:n]))
}

// ReplaceSCIMUser applies a full User (PUT) to member id of org. A body without
// "active" (activeSent false) leaves it as it is: absent means unchanged.
func ReplaceSCIMUser(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor, base, id string, u *scim.User, activeSent bool) (*scim.User, error) {
	return updateSCIMUser(ctx, db, mailer, orgID, actor, base, id, func(cur *scim.User) (*scim.User, error) {
		if !activeSent {
			u.Active = cur.Active
		}
		return u, nil
	})
}

// PatchSCIMUser applies PATCH operations (all or nothing) to member id of org.
func PatchSCIMUser(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor, base, id string, ops []scim.PatchOp) (*scim.User, error) {
	return updateSCIMUser(ctx, db, mailer, orgID, actor, base, id, func(cur *scim.User) (*scim.User, error) {
		if err := scim.ApplyUserPatch(cur, ops); err != nil {
			return nil, err
		}
		return cur, nil
	})
}

// updateSCIMUser loads the member, lets change compute the new resource, and saves
// the differences in one transaction: names, externalId, email of a pending member,
// role (locked in the UI once set by the IdP), active (deactivation ends sessions).
func updateSCIMUser(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor, base, id string, change func(*scim.User) (*scim.User, error)) (*scim.User, error) {
	var out *scim.User
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		row, err := getSCIMMember(ctx, tx, orgID, id, true)
		if err != nil {
			return err
		}
		if row.Role == RoleOwner {
			if err := lockOwners(ctx, tx, orgID); err != nil {
				return err
			}
		}
		next, err := change(row.stored(base))
		if err != nil {
			return err
		}
		if err := authorizeSCIMChange(row, next); err != nil {
			return err
		}
		if err := setSCIMAttributes(ctx, tx, row.ID, next); err != nil {
			return err
		}
		label := row.Email
		userName, err := scimUserName(next)
		if err != nil {
			return err
		}
		if userName != row.SCIMUserName {
			if _, err := tx.NewRaw("UPDATE members SET user_name = ? WHERE id = ?", userName, row.ID).Exec(ctx); err != nil {
				if isUniqueViolation(err, "") {
					return scimConflict(userName)
				}
				return err
			}
		}
		// A pending member's address is the IdP's to change: the invitation is sent
		// again to the new address and the old link stops working. A member who
		// joined keeps their account's email (another org's IdP must not rename a
		// global account); their userName changes above.
		reinvite := row.UserID == nil && next.Active && !row.Active
		if row.UserID == nil {
			email, err := scimEmail(next)
			if err != nil {
				return err
			}
			// A member whose userName was its address and who has no other email:
			// the address follows a new userName that is an address.
			if strings.EqualFold(row.SCIMUserName, row.Email) && strings.EqualFold(email, row.Email) && !strings.EqualFold(userName, row.SCIMUserName) {
				if v, ok := validEmail(userName); ok {
					email = v
				}
			}
			if email != row.Email {
				if _, err := tx.NewRaw("UPDATE members SET invite_email = ? WHERE id = ?", email, row.ID).Exec(ctx); err != nil {
					if isUniqueViolation(err, "") {
						return scimConflict(userName)
					}
					return err
				}
				label = email
				reinvite = reinvite || (next.Active && !strings.EqualFold(email, row.Email))
			}
			if reinvite {
				org, err := getOrg(ctx, tx, orgID)
				if err != nil {
					return err
				}
				if err := reissueInvitation(ctx, tx, mailer, org, row.ID, email); err != nil {
					return err
				}
			}
		}
		if next.OrgRole != "" && !strings.EqualFold(next.OrgRole, string(row.Role)) {
			role, _, err := scimRole(next.OrgRole, row.Role)
			if err != nil {
				return err
			}
			if row.Role == RoleOwner {
				return scim.Errorf(http.StatusForbidden, "", "The role of an owner cannot be changed through SCIM")
			}
			if _, err := tx.NewRaw("UPDATE members SET role = ?, idp_role_restricted = true WHERE id = ?", role, row.ID).Exec(ctx); err != nil {
				return err
			}
			if err := audit(ctx, tx, orgID, actor, EventMemberRoleChanged, label, map[string]any{"old": row.Role, "new": role}); err != nil {
				return err
			}
		}
		if next.Active != row.Active {
			if err := setMemberActive(ctx, tx, orgID, actor, row, next.Active); err != nil {
				return err
			}
		}
		r, err := getSCIMMember(ctx, tx, orgID, id, false)
		if err != nil {
			return err
		}
		out = r.toSCIM(base)
		return nil
	})
	return out, err
}

// setMemberActive deactivates or reactivates a member. A deactivated member loses
// access at once (memberships must be active); the sessions that signed in through this
// org's SSO end too. Their other sessions stay: one org's IdP cannot sign a person out
// of the other orgs they belong to.
func setMemberActive(ctx context.Context, tx bun.Tx, orgID int64, actor Actor, row *scimMember, active bool) error {
	if !active && row.Role == RoleOwner {
		n, err := countOwners(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if n <= 1 {
			return scim.Errorf(http.StatusForbidden, "", "The last owner cannot be deactivated")
		}
	}
	if _, err := tx.NewRaw("UPDATE members SET active = ?, updated_at = now() WHERE id = ?", active, row.ID).Exec(ctx); err != nil {
		return err
	}
	event := EventMemberReactivated
	if !active {
		event = EventMemberDeactivated
		if row.UserID != nil {
			if _, err := RevokeSSOSessions(ctx, tx, orgID, *row.UserID); err != nil {
				return err
			}
		}
	}
	return audit(ctx, tx, orgID, actor, event, row.Email, nil)
}

// DeleteSCIMUser removes the membership (and its team memberships) and ends the
// user's sessions; the account remains. The last owner cannot be removed (403).
func DeleteSCIMUser(ctx context.Context, db bun.IDB, orgID int64, actor Actor, id string) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		row, err := getSCIMMember(ctx, tx, orgID, id, true)
		if err != nil {
			return err
		}
		if row.Role == RoleOwner {
			if err := lockOwners(ctx, tx, orgID); err != nil {
				return err
			}
		}
		m := &Member{ID: row.ID, OrgID: orgID, UserID: row.UserID, Role: row.Role, Email: row.Email, JoinedVia: row.JoinedVia}
		if row.UserID == nil {
			m.InviteEmail = &row.Email
		}
		if err := Authorize(Principal{Channel: ChannelSCIM}, ActRemoveMember, memberTarget(m)); err != nil {
			return scimForbidden(err)
		}
		if err := removeMember(ctx, tx, orgID, actor, m, EventMemberRemoved); err != nil {
			if errors.Is(err, ErrForbidden) {
				return scim.Errorf(http.StatusForbidden, "", "The last owner of the organization cannot be removed")
			}
			return err
		}
		// Deprovisioning wins: the person stays out until SCIM provisions them again.
		if err := rememberSCIMRemoval(ctx, tx, orgID, row); err != nil {
			return err
		}
		if row.UserID != nil {
			if _, err := RevokeSSOSessions(ctx, tx, orgID, *row.UserID); err != nil {
				return err
			}
		}
		return nil
	})
}
