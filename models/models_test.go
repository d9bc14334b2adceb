package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"gatehouse/models"
	"gatehouse/models/database"
	"gatehouse/models/dbtest"
)

type fixture struct {
	t      *testing.T
	ctx    context.Context
	db     *database.DB
	mailer *models.Mailer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := dbtest.New(t)
	m, err := models.NewMailer(db.SQL)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: context.Background(), db: db, mailer: m}
}

func (f *fixture) mustCreateUser(email string) *models.User {
	f.t.Helper()
	u, err := models.CreateUser(f.ctx, f.db.Bun, models.NewUser{Email: email, Name: "User " + email, Password: "correct horse battery"})
	if err != nil {
		f.t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

func actorOf(u *models.User) models.Actor { return models.Actor{UserID: u.ID, Label: u.Email} }

func (f *fixture) mustCreateOrg(owner *models.User, slug string) *models.Organization {
	f.t.Helper()
	org, err := models.CreateOrganization(f.ctx, f.db.Bun, actorOf(owner), models.NewOrganization{Name: "Org " + slug, Slug: slug})
	if err != nil {
		f.t.Fatalf("create org %s: %v", slug, err)
	}
	return org
}

// mustAddMember invites the user's email and accepts it as that user, then sets role.
func (f *fixture) mustAddMember(org *models.Organization, inviter, u *models.User, role models.Role) *models.Member {
	f.t.Helper()
	if _, err := models.InviteMember(f.ctx, f.db.Bun, f.mailer, org.ID, actorOf(inviter), models.Invite{Email: u.Email, Role: string(role)}); err != nil {
		f.t.Fatalf("invite %s: %v", u.Email, err)
	}
	token := f.lastInviteToken(u.Email)
	if _, err := models.AcceptInvitation(f.ctx, f.db.Bun, token, actorOf(u)); err != nil {
		f.t.Fatalf("accept %s: %v", u.Email, err)
	}
	m, err := models.MembershipOf(f.ctx, f.db.Bun, org.ID, u.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// lastInviteToken reads the token from the newest invitation email job.
func (f *fixture) lastInviteToken(email string) string {
	f.t.Helper()
	var token string
	err := f.db.Bun.NewRaw(`SELECT args->'data'->>'token' FROM river_job WHERE kind = 'email' AND args->>'to' = ? ORDER BY id DESC LIMIT 1`, email).Scan(f.ctx, &token)
	if err != nil {
		f.t.Fatalf("no invitation email for %s: %v", email, err)
	}
	return token
}

func (f *fixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.db.Bun.NewRaw(query, args...).Scan(f.ctx, &n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func TestCreateUserValidation(t *testing.T) {
	f := newFixture(t)
	f.mustCreateUser("taken@example.com")
	tests := []struct {
		name  string
		in    models.NewUser
		field string
	}{
		{"empty email", models.NewUser{Name: "A", Password: "longenough"}, "email"},
		{"malformed email", models.NewUser{Email: "not-an-email", Name: "A", Password: "longenough"}, "email"},
		{"display-name email", models.NewUser{Email: "A <a@example.com>", Name: "A", Password: "longenough"}, "email"},
		{"duplicate email other case", models.NewUser{Email: "TAKEN@example.com", Name: "A", Password: "longenough"}, "email"},
		{"empty name", models.NewUser{Email: "a@example.com", Password: "longenough"}, "name"},
		{"name too long", models.NewUser{Email: "a@example.com", Name: string(make([]byte, 201)), Password: "longenough"}, "name"},
		{"short password", models.NewUser{Email: "a@example.com", Name: "A", Password: "short"}, "password"},
		{"email too long", models.NewUser{Email: string(make([]byte, 250)) + "@example.com", Name: "A", Password: "longenough"}, "email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := models.CreateUser(f.ctx, f.db.Bun, tt.in)
			v, ok := models.AsValidation(err)
			if !ok {
				t.Fatalf("want a validation error, got %v", err)
			}
			if v.Fields[tt.field] == "" {
				t.Fatalf("want an error on %q, got %v", tt.field, v.Fields)
			}
		})
	}
	if n := f.count("SELECT count(*) FROM users"); n != 1 {
		t.Fatalf("users = %d, want 1 (nothing half-written)", n)
	}
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	u := f.mustCreateUser("Alice@Example.com")
	got, err := models.Authenticate(f.ctx, f.db.Bun, "alice@example.com", "correct horse battery")
	if err != nil || got.ID != u.ID {
		t.Fatalf("login with other case: %v", err)
	}
	for _, tc := range []struct{ name, email, pw string }{
		{"wrong password", "alice@example.com", "wrong password!"},
		{"unknown email", "bob@example.com", "correct horse battery"},
	} {
		if _, err := models.Authenticate(f.ctx, f.db.Bun, tc.email, tc.pw); !errors.Is(err, models.ErrBadCredentials) {
			t.Errorf("%s: got %v, want ErrBadCredentials", tc.name, err)
		}
	}
}

func TestRoleRules(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	org := f.mustCreateOrg(owner, "acme")
	manager := f.mustCreateUser("manager@example.com")
	mgr := f.mustAddMember(org, owner, manager, models.RoleManager)
	alice := f.mustCreateUser("alice@example.com")
	am := f.mustAddMember(org, owner, alice, models.RoleMember)
	ownerM, _ := models.MembershipOf(f.ctx, f.db.Bun, org.ID, owner.ID)

	tests := []struct {
		name     string
		actor    *models.User
		memberID int64
		role     string
		wantErr  error
		wantRole models.Role
	}{
		{"manager promotes member to admin", manager, am.ID, "admin", nil, models.RoleAdmin},
		{"manager cannot grant owner", manager, am.ID, "owner", models.ErrForbidden, models.RoleAdmin},
		{"manager cannot demote the owner", manager, ownerM.ID, "member", models.ErrForbidden, models.RoleOwner},
		{"member cannot change roles", alice, mgr.ID, "member", models.ErrForbidden, models.RoleManager},
		{"last owner cannot demote themself", owner, ownerM.ID, "manager", models.ErrForbidden, models.RoleOwner},
		{"owner grants owner", owner, am.ID, "owner", nil, models.RoleOwner},
		{"unknown role", owner, am.ID, "superadmin", &models.ValidationError{}, models.RoleOwner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := models.ChangeRole(f.ctx, f.db.Bun, org.ID, actorOf(tt.actor), tt.memberID, tt.role)
			switch want := tt.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
			case *models.ValidationError:
				if _, ok := models.AsValidation(err); !ok {
					t.Fatalf("want validation error, got %v", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("got %v, want %v", err, want)
				}
			}
			var role models.Role
			if err := f.db.Bun.NewRaw("SELECT role FROM members WHERE id = ?", tt.memberID).Scan(f.ctx, &role); err != nil {
				t.Fatal(err)
			}
			if role != tt.wantRole {
				t.Fatalf("role = %s, want %s", role, tt.wantRole)
			}
		})
	}
	// With two owners now, the first can step down; then alice is the last owner.
	if err := models.ChangeRole(f.ctx, f.db.Bun, org.ID, actorOf(owner), ownerM.ID, "manager"); err != nil {
		t.Fatalf("demote one of two owners: %v", err)
	}
	if err := models.LeaveOrganization(f.ctx, f.db.Bun, org.ID, actorOf(alice)); !errors.Is(err, models.ErrForbidden) {
		t.Fatalf("last owner leaving: got %v, want ErrForbidden", err)
	}
	if err := models.RemoveMember(f.ctx, f.db.Bun, org.ID, actorOf(manager), am.ID); !errors.Is(err, models.ErrForbidden) {
		t.Fatalf("manager removing the owner: got %v", err)
	}
	if n := f.count("SELECT count(*) FROM audit_events WHERE org_id = ? AND event = 'member.role_changed'", org.ID); n != 3 {
		t.Fatalf("role_changed events = %d, want 3 (only successful changes)", n)
	}
}

func TestLastOwnerConcurrentDemotion(t *testing.T) {
	f := newFixture(t)
	a := f.mustCreateUser("a@example.com")
	org := f.mustCreateOrg(a, "acme")
	b := f.mustCreateUser("b@example.com")
	bm := f.mustAddMember(org, a, b, models.RoleOwner)
	am, _ := models.MembershipOf(f.ctx, f.db.Bun, org.ID, a.ID)
	// Each owner demotes the other at the same time: at most one may succeed.
	errs := make(chan error, 2)
	go func() { errs <- models.ChangeRole(f.ctx, f.db.Bun, org.ID, actorOf(a), bm.ID, "member") }()
	go func() { errs <- models.ChangeRole(f.ctx, f.db.Bun, org.ID, actorOf(b), am.ID, "member") }()
	<-errs
	<-errs
	if n := f.count("SELECT count(*) FROM members WHERE org_id = ? AND role = 'owner'", org.ID); n < 1 {
		t.Fatalf("owners = %d: the org lost every owner", n)
	}
}

func TestInvitationSingleUseAndExpiry(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	org := f.mustCreateOrg(owner, "acme")
	if _, err := models.InviteMember(f.ctx, f.db.Bun, f.mailer, org.ID, actorOf(owner), models.Invite{Email: "new@example.com", Role: "member"}); err != nil {
		t.Fatal(err)
	}
	// Duplicate invite (other case) is refused on the email field.
	_, err := models.InviteMember(f.ctx, f.db.Bun, f.mailer, org.ID, actorOf(owner), models.Invite{Email: "NEW@example.com", Role: "member"})
	if v, ok := models.AsValidation(err); !ok || v.Fields["email"] == "" {
		t.Fatalf("duplicate invite: %v", err)
	}
	// Inviting an existing member is refused too.
	_, err = models.InviteMember(f.ctx, f.db.Bun, f.mailer, org.ID, actorOf(owner), models.Invite{Email: "Owner@example.com", Role: "member"})
	if v, ok := models.AsValidation(err); !ok || v.Fields["email"] == "" {
		t.Fatalf("inviting a member: %v", err)
	}
	token := f.lastInviteToken("new@example.com")
	u, _, err := models.AcceptInvitationAsNewUser(f.ctx, f.db.Bun, token, models.NewUser{Email: "new@example.com", Name: "New", Password: "longenough"}, "")
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	if !u.EmailVerified {
		t.Error("an account made through the invited address should count as verified")
	}
	if _, err := models.AcceptInvitation(f.ctx, f.db.Bun, token, actorOf(owner)); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("second use: got %v, want ErrNotFound", err)
	}
	// A used or bad link creates no account.
	_, _, err = models.AcceptInvitationAsNewUser(f.ctx, f.db.Bun, token, models.NewUser{Email: "x@example.com", Name: "X", Password: "longenough"}, "")
	if !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("reuse as new user: %v", err)
	}
	if n := f.count("SELECT count(*) FROM users WHERE email = 'x@example.com'"); n != 0 {
		t.Fatal("a reused link created an account")
	}

	// Expiry.
	if _, err := models.InviteMember(f.ctx, f.db.Bun, f.mailer, org.ID, actorOf(owner), models.Invite{Email: "late@example.com", Role: "member"}); err != nil {
		t.Fatal(err)
	}
	late := f.lastInviteToken("late@example.com")
	if _, err := f.db.Bun.NewRaw("UPDATE members SET invite_expires_at = ? WHERE invite_email = 'late@example.com'", time.Now().Add(-time.Minute)).Exec(f.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := models.InvitationByToken(f.ctx, f.db.Bun, late); !errors.Is(err, models.ErrInvitationExpired) {
		t.Fatalf("expired: got %v", err)
	}
	if _, err := models.AcceptInvitation(f.ctx, f.db.Bun, late, actorOf(owner)); !errors.Is(err, models.ErrInvitationExpired) {
		t.Fatalf("accept expired: got %v", err)
	}
	// Resend issues a new link; the old one stops working.
	var lateID int64
	if err := f.db.Bun.NewRaw("SELECT id FROM members WHERE invite_email = 'late@example.com'").Scan(f.ctx, &lateID); err != nil {
		t.Fatal(err)
	}
	if err := models.ResendInvitation(f.ctx, f.db.Bun, f.mailer, org.ID, actorOf(owner), lateID); err != nil {
		t.Fatal(err)
	}
	fresh := f.lastInviteToken("late@example.com")
	if fresh == late {
		t.Fatal("resend reused the token")
	}
	if _, err := models.InvitationByToken(f.ctx, f.db.Bun, late); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("old link after resend: %v", err)
	}
	if _, err := models.InvitationByToken(f.ctx, f.db.Bun, fresh); err != nil {
		t.Fatalf("new link: %v", err)
	}
}

func TestInviteEnqueuesEmailInSameTransaction(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	org := f.mustCreateOrg(owner, "acme")
	boom := errors.New("boom")
	err := f.db.Bun.RunInTx(f.ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := models.InviteMember(ctx, tx, f.mailer, org.ID, actorOf(owner), models.Invite{Email: "rolled@example.com", Role: "member"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if n := f.count("SELECT count(*) FROM river_job WHERE args->>'to' = 'rolled@example.com'"); n != 0 {
		t.Fatal("email job survived the rollback")
	}
	if n := f.count("SELECT count(*) FROM members WHERE invite_email = 'rolled@example.com'"); n != 0 {
		t.Fatal("invitation survived the rollback")
	}
}

func TestTenantIsolation(t *testing.T) {
	f := newFixture(t)
	ownerA := f.mustCreateUser("a@example.com")
	orgA := f.mustCreateOrg(ownerA, "org-a")
	ownerB := f.mustCreateUser("b@example.com")
	orgB := f.mustCreateOrg(ownerB, "org-b")
	alice := f.mustCreateUser("alice@example.com")
	aliceA := f.mustAddMember(orgA, ownerA, alice, models.RoleMember)
	teamA, err := models.CreateTeam(f.ctx, f.db.Bun, orgA.ID, actorOf(ownerA), models.TeamInput{Name: "Red"})
	if err != nil {
		t.Fatal(err)
	}
	if err := models.AddTeamMember(f.ctx, f.db.Bun, orgA.ID, actorOf(ownerA), teamA.ID, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	b := actorOf(ownerB)

	// The owner of B, acting in B, names A's member and team ids.
	checks := []struct {
		name string
		err  error
	}{
		{"change role of A's member", models.ChangeRole(f.ctx, f.db.Bun, orgB.ID, b, aliceA.ID, "admin")},
		{"remove A's member", models.RemoveMember(f.ctx, f.db.Bun, orgB.ID, b, aliceA.ID)},
		{"rename A's team", func() error {
			_, err := models.RenameTeam(f.ctx, f.db.Bun, orgB.ID, b, teamA.ID, models.TeamInput{Name: "Pwned"})
			return err
		}()},
		{"delete A's team", models.DeleteTeam(f.ctx, f.db.Bun, orgB.ID, b, teamA.ID)},
		{"remove from A's team", models.RemoveTeamMember(f.ctx, f.db.Bun, orgB.ID, b, teamA.ID, aliceA.ID)},
		{"add to A's team", models.AddTeamMember(f.ctx, f.db.Bun, orgB.ID, b, teamA.ID, "b@example.com")},
		{"resend A's member as invitation", models.ResendInvitation(f.ctx, f.db.Bun, f.mailer, orgB.ID, b, aliceA.ID)},
		{"cancel A's member as invitation", models.CancelInvitation(f.ctx, f.db.Bun, orgB.ID, b, aliceA.ID)},
		{"act in A as B's owner", models.ChangeRole(f.ctx, f.db.Bun, orgA.ID, b, aliceA.ID, "admin")},
		{"invite into A as B's owner", func() error {
			_, err := models.InviteMember(f.ctx, f.db.Bun, f.mailer, orgA.ID, b, models.Invite{Email: "x@example.com", Role: "member"})
			return err
		}()},
	}
	for _, c := range checks {
		if c.err == nil {
			t.Errorf("%s: succeeded", c.name)
		}
	}
	// Invite into B with A's team id.
	_, err = models.InviteMember(f.ctx, f.db.Bun, f.mailer, orgB.ID, b, models.Invite{Email: "y@example.com", Role: "member", TeamIDs: []int64{teamA.ID}})
	if v, ok := models.AsValidation(err); !ok || v.Fields["teams"] == "" {
		t.Errorf("invite with another org's team: %v", err)
	}
	// Reads are scoped too.
	pageB, err := models.ListMembers(f.ctx, f.db.Bun, orgB.ID, models.MemberQuery{Search: "alice"})
	if err != nil || len(pageB.Rows) != 0 {
		t.Errorf("B's member list shows A's members: %v %v", pageB, err)
	}
	teamsB, _ := models.ListTeams(f.ctx, f.db.Bun, orgB.ID)
	if len(teamsB) != 0 {
		t.Errorf("B sees teams %v", teamsB)
	}
	if _, err := models.GetTeam(f.ctx, f.db.Bun, orgB.ID, teamA.Slug); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("B reads A's team: %v", err)
	}
	evB, _, _ := models.ListAuditEvents(f.ctx, f.db.Bun, orgB.ID, models.AuditFilter{})
	for _, e := range evB {
		if e.OrgID != orgB.ID {
			t.Errorf("B's audit log shows %+v", e)
		}
	}
	// Nothing of A changed.
	m, _ := models.MembershipOf(f.ctx, f.db.Bun, orgA.ID, alice.ID)
	if m == nil || m.Role != models.RoleMember {
		t.Errorf("alice's membership changed: %+v", m)
	}
	if n := f.count("SELECT count(*) FROM team_members WHERE team_id = ?", teamA.ID); n != 1 {
		t.Errorf("team A has %d members, want 1", n)
	}
	if tt, _ := models.GetTeam(f.ctx, f.db.Bun, orgA.ID, teamA.Slug); tt == nil || tt.Name != "Red" {
		t.Errorf("team A changed: %+v", tt)
	}
}

func TestTeams(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	org := f.mustCreateOrg(owner, "acme")
	bob := f.mustCreateUser("bob@example.com")
	f.mustAddMember(org, owner, bob, models.RoleMember)
	team, err := models.CreateTeam(f.ctx, f.db.Bun, org.ID, actorOf(owner), models.TeamInput{Name: "Platform Team"})
	if err != nil {
		t.Fatal(err)
	}
	if team.Slug != "platform-team" {
		t.Errorf("slug = %q", team.Slug)
	}
	if _, err := models.CreateTeam(f.ctx, f.db.Bun, org.ID, actorOf(owner), models.TeamInput{Name: "platform team", Slug: "other"}); err == nil {
		t.Error("duplicate name (other case) accepted")
	}
	if _, err := models.CreateTeam(f.ctx, f.db.Bun, org.ID, actorOf(bob), models.TeamInput{Name: "Mine"}); !errors.Is(err, models.ErrForbidden) {
		t.Errorf("member created a team: %v", err)
	}
	if err := models.AddTeamMember(f.ctx, f.db.Bun, org.ID, actorOf(owner), team.ID, "BOB@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := models.AddTeamMember(f.ctx, f.db.Bun, org.ID, actorOf(owner), team.ID, "stranger@example.com"); err == nil {
		t.Error("added a non-member to a team")
	}
	rows, _ := models.ListTeamMembers(f.ctx, f.db.Bun, org.ID, team.ID)
	if len(rows) != 1 || rows[0].Email != "bob@example.com" {
		t.Fatalf("team members = %+v", rows)
	}
	renamed, err := models.RenameTeam(f.ctx, f.db.Bun, org.ID, actorOf(owner), team.ID, models.TeamInput{Name: "Infra", Slug: "infra"})
	if err != nil || renamed.Slug != "infra" {
		t.Fatalf("rename: %v %+v", err, renamed)
	}
	// Removing the member from the org removes their team membership.
	bm, _ := models.MembershipOf(f.ctx, f.db.Bun, org.ID, bob.ID)
	if err := models.RemoveMember(f.ctx, f.db.Bun, org.ID, actorOf(owner), bm.ID); err != nil {
		t.Fatal(err)
	}
	if n := f.count("SELECT count(*) FROM team_members WHERE team_id = ?", team.ID); n != 0 {
		t.Fatalf("team still has %d members", n)
	}
	if err := models.DeleteTeam(f.ctx, f.db.Bun, org.ID, actorOf(owner), team.ID); err != nil {
		t.Fatal(err)
	}
	events, _, _ := models.ListAuditEvents(f.ctx, f.db.Bun, org.ID, models.AuditFilter{Event: models.EventTeamDeleted})
	if len(events) != 1 || events[0].TargetLabel != "Infra" || events[0].ActorLabel != "owner@example.com" {
		t.Fatalf("team.deleted events = %+v", events)
	}
}

func TestPasswordReset(t *testing.T) {
	f := newFixture(t)
	u := f.mustCreateUser("alice@example.com")
	if err := models.RequestPasswordReset(f.ctx, f.db.Bun, f.mailer, "nobody@example.com"); err != nil {
		t.Fatalf("unknown email must look the same: %v", err)
	}
	if n := f.count("SELECT count(*) FROM river_job WHERE args->>'to' = 'nobody@example.com'"); n != 0 {
		t.Fatal("mailed an unknown address")
	}
	if err := models.RequestPasswordReset(f.ctx, f.db.Bun, f.mailer, "ALICE@example.com"); err != nil {
		t.Fatal(err)
	}
	token := f.lastInviteToken("alice@example.com")
	if _, err := f.db.Bun.NewRaw("INSERT INTO sessions (token, data, expiry, user_id) VALUES ('s1', '', now() + interval '1 hour', ?)", u.ID).Exec(f.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := models.ResetPassword(f.ctx, f.db.Bun, token, "short"); err == nil {
		t.Fatal("short password accepted")
	}
	if _, err := models.ResetPassword(f.ctx, f.db.Bun, token, "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if _, err := models.ResetPassword(f.ctx, f.db.Bun, token, "another new password"); !errors.Is(err, models.ErrResetLinkInvalid) {
		t.Fatalf("second use: %v", err)
	}
	if _, err := models.Authenticate(f.ctx, f.db.Bun, "alice@example.com", "a brand new password"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if n := f.count("SELECT count(*) FROM sessions WHERE user_id = ? AND expiry > now()", u.ID); n != 0 {
		t.Fatal("sessions survived a password reset")
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t)
	for i := 1; i <= 4; i++ {
		ok, _, err := models.Allow(f.ctx, f.db.Bun, "k", 3, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok != (i <= 3) {
			t.Fatalf("hit %d: ok=%v", i, ok)
		}
	}
	ok, _, _ := models.Allow(f.ctx, f.db.Bun, "other", 3, time.Minute)
	if !ok {
		t.Fatal("keys share a counter")
	}
}

// Failed-login limits slow an attacker without locking the owner out: guesses from
// one source lock that source out of the account, not everyone; past the account-wide
// threshold every source gets one attempt per interval instead of a 15-minute block.
func TestPasswordLimitsDoNotLockTheOwnerOut(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < models.PasswordLimitPerEmail; i++ {
		ok, _, err := models.AllowPasswordAttempt(f.ctx, f.db.Bun, "owner@example.com", "203.0.113.7")
		if err != nil || !ok {
			t.Fatalf("attempt %d refused: %v", i+1, err)
		}
	}
	ok, retry, err := models.AllowPasswordAttempt(f.ctx, f.db.Bun, "Owner@Example.com", "203.0.113.7")
	if err != nil || ok || retry <= 0 {
		t.Fatalf("the guessing source is not stopped: ok=%v retry=%v err=%v", ok, retry, err)
	}
	// The owner, elsewhere, still gets in (slowed: one attempt per interval).
	ok, _, err = models.AllowPasswordAttempt(f.ctx, f.db.Bun, "owner@example.com", "198.51.100.20")
	if err != nil || !ok {
		t.Fatalf("the owner is locked out from another address: %v", err)
	}
	ok, retry, err = models.AllowPasswordAttempt(f.ctx, f.db.Bun, "owner@example.com", "198.51.100.21")
	if err != nil || ok || retry > models.PasswordSlowInterval {
		t.Fatalf("past the account-wide threshold attempts are not slowed to one per %v: ok=%v retry=%v", models.PasswordSlowInterval, ok, retry)
	}
}
