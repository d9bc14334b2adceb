package models

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"gatehouse/models/mail"
	"gatehouse/models/samlsp"
)

// SSO session lifetime bounds, in hours (SPEC §4: default 7 days).
const (
	MinSSOSessionHours = 1
	MaxSSOSessionHours = 90 * 24
)

// SAML time policy bounds and defaults, in minutes (samlsp.Settings.Skew/MaxLife).
const (
	DefaultClockSkewMinutes    = int(samlsp.DefaultClockSkew / time.Minute)
	MaxClockSkewMinutes        = int(samlsp.MaxClockSkew / time.Minute)
	DefaultMaxAssertionMinutes = int(samlsp.DefaultMaxAssertionLife / time.Minute)
	MinMaxAssertionMinutes     = int(samlsp.MinAssertionLife / time.Minute)
	MaxMaxAssertionMinutes     = int(samlsp.MaxAssertionLife / time.Minute)
)

// AuthSettings is the General Settings form of the Auth page. The SAML fields
// (unsigned logout, clock skew, assertion lifetime) are ignored for OAuth providers.
type AuthSettings struct {
	RequireSSO        bool
	DefaultRole       string
	SSOSessionHours   int
	AllowIdPInitiated bool
	SCIMEnabled       bool
	// AllowUnsignedLogout admits IdP LogoutRequests without a signature (off by
	// default: anyone could then end a member's sessions with a crafted link).
	AllowUnsignedLogout bool
	ClockSkewMinutes    int
	MaxAssertionMinutes int
}

// CurrentAuthSettings are org's General Settings as stored, for channels that change
// one of them (the CLI) through UpdateAuthSettings like the Auth page does.
func CurrentAuthSettings(org *Organization, p *AuthProvider) AuthSettings {
	return AuthSettings{RequireSSO: p.RequireSSO, DefaultRole: string(org.DefaultRole), SSOSessionHours: p.SSOSessionHours,
		AllowIdPInitiated: p.AllowIdPInitiated, SCIMEnabled: p.SCIMEnabled, AllowUnsignedLogout: p.AllowUnsignedLogout,
		ClockSkewMinutes: p.ClockSkewMinutes, MaxAssertionMinutes: p.MaxAssertionMinutes}
}

// checkTimePolicy validates the SAML time policy fields.
func checkTimePolicy(v *ValidationError, skew, life int) {
	if skew < 1 || skew > MaxClockSkewMinutes {
		v.Add("clock_skew_minutes", fmt.Sprintf("Enter between 1 and %d minutes.", MaxClockSkewMinutes))
	}
	if life < MinMaxAssertionMinutes || life > MaxMaxAssertionMinutes {
		v.Add("max_assertion_minutes", fmt.Sprintf("Enter between %d and %d minutes (24 hours).", MinMaxAssertionMinutes, MaxMaxAssertionMinutes))
	}
}

// UpdateAuthSettings saves the General Settings: every change is audited with its
// old and new value. Turning Require SSO on ends, at once, the sessions of members
// that did not complete this org's SSO (except keepSession, the acting browser's).
// It returns how many sessions ended.
func UpdateAuthSettings(ctx context.Context, db bun.IDB, orgID int64, actor Actor, in AuthSettings, keepSession string) (int64, error) {
	v := &ValidationError{}
	role, ok := ParseRole(in.DefaultRole)
	if !ok || role == RoleOwner {
		v.Add("default_role", "Choose Member, Admin, Manager or Billing.")
	}
	if in.SSOSessionHours < MinSSOSessionHours || in.SSOSessionHours > MaxSSOSessionHours {
		v.Add("sso_session_hours", fmt.Sprintf("Enter between %d and %d hours (90 days).", MinSSOSessionHours, MaxSSOSessionHours))
	}
	checkTimePolicy(v, in.ClockSkewMinutes, in.MaxAssertionMinutes)
	if err := v.Err(); err != nil {
		return 0, err
	}
	var revoked int64
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := authorizeActor(ctx, tx, orgID, actor, ActAuthSettings, Target{NewRole: role}); err != nil {
			return err
		}
		p := new(AuthProvider)
		if err := tx.NewSelect().Model(p).Where("org_id = ?", orgID).For("UPDATE").Scan(ctx); err != nil {
			return notFound(err, "auth provider")
		}
		org, err := getOrg(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if in.RequireSSO && !p.Active() {
			return Invalid("require_sso", "Finish the setup (activate the provider) before requiring SSO.")
		}
		changes := []struct {
			event, setting string
			old, new       any
		}{
			{EventRequireSSOChanged, "require_sso", p.RequireSSO, in.RequireSSO},
			{EventDefaultRoleChanged, "default_role", org.DefaultRole, role},
			{EventSSOSettingsChanged, "sso_session_hours", p.SSOSessionHours, in.SSOSessionHours},
			{EventSSOSettingsChanged, "allow_idp_initiated", p.AllowIdPInitiated, in.AllowIdPInitiated},
		}
		if !p.IsSAML() {
			in.AllowUnsignedLogout, in.ClockSkewMinutes, in.MaxAssertionMinutes = p.AllowUnsignedLogout, p.ClockSkewMinutes, p.MaxAssertionMinutes
		}
		changes = append(changes, []struct {
			event, setting string
			old, new       any
		}{
			{EventSSOSettingsChanged, "allow_unsigned_logout", p.AllowUnsignedLogout, in.AllowUnsignedLogout},
			{EventSSOSettingsChanged, "clock_skew_minutes", p.ClockSkewMinutes, in.ClockSkewMinutes},
			{EventSSOSettingsChanged, "max_assertion_minutes", p.MaxAssertionMinutes, in.MaxAssertionMinutes},
		}...)
		for _, ch := range changes {
			if fmt.Sprint(ch.old) == fmt.Sprint(ch.new) {
				continue
			}
			details := map[string]any{"setting": ch.setting, "old": ch.old, "new": ch.new}
			if err := audit(ctx, tx, orgID, actor, ch.event, p.DisplayName(), details); err != nil {
				return err
			}
		}
		if _, err := tx.NewUpdate().Model(p).Set("require_sso = ?", in.RequireSSO).Set("sso_session_hours = ?", in.SSOSessionHours).
			Set("allow_idp_initiated = ?", in.AllowIdPInitiated).Set("allow_unsigned_logout = ?", in.AllowUnsignedLogout).
			Set("clock_skew_minutes = ?", in.ClockSkewMinutes).Set("max_assertion_minutes = ?", in.MaxAssertionMinutes).
			Set("updated_at = now()").WherePK().Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Model(org).Set("default_role = ?", role).WherePK().Exec(ctx); err != nil {
			return err
		}
		if err := setSCIM(ctx, tx, p, actor, in.SCIMEnabled); err != nil {
			return err
		}
		if in.RequireSSO && !p.RequireSSO {
			res, err := tx.NewRaw(`UPDATE sessions SET expiry = now()
				WHERE expiry > now() AND token <> ? AND NOT (? = ANY(sso_orgs))
				  AND user_id IN (SELECT user_id FROM members WHERE org_id = ? AND user_id IS NOT NULL)`,
				keepSession, orgID, orgID).Exec(ctx)
			if err != nil {
				return fmt.Errorf("end sessions without SSO: %w", err)
			}
			revoked, _ = res.RowsAffected()
		}
		return nil
	})
	return revoked, err
}

// OwnersLinked counts the org's owners who have linked their account to the IdP.
func OwnersLinked(ctx context.Context, db bun.IDB, orgID int64) (int64, error) {
	return db.NewSelect().Model((*Member)(nil)).Where("org_id = ? AND role = 'owner' AND active AND sso_linked", orgID).Count(ctx)
}

// SSOAccess is the verdict of Require SSO for one member and session.
type SSOAccess int

// Verdicts of CheckSSOAccess.
const (
	AccessAllowed       SSOAccess = iota // no enforcement, or a fresh SSO for this org
	AccessOwnerFallback                  // an unlinked owner while no owner has linked
	AccessNeedsSSO                       // send the browser to the org's SSO
)

// CheckSSOAccess applies Require SSO (SPEC §4): with it on, a member reaches the org
// only with a session that completed this org's SSO within the lifetime (ssoAt is
// that time, zero when never). An owner who has not linked keeps password access
// while no owner has linked, so the org can always be repaired.
func CheckSSOAccess(ctx context.Context, db bun.IDB, p *AuthProvider, m *Member, ssoAt time.Time, now time.Time) (SSOAccess, error) {
	if p == nil || !p.Active() || !p.RequireSSO {
		return AccessAllowed, nil
	}
	if !ssoAt.IsZero() && now.Sub(ssoAt) <= time.Duration(p.SSOSessionHours)*time.Hour && m.SSOLinked {
		return AccessAllowed, nil
	}
	if m.Role == RoleOwner && !m.SSOLinked {
		n, err := OwnersLinked(ctx, db, p.OrgID)
		if err != nil {
			return AccessNeedsSSO, err
		}
		if n == 0 {
			return AccessOwnerFallback, nil
		}
	}
	return AccessNeedsSSO, nil
}

// RecordOwnerFallback audits an owner's password access to an SSO-required org and
// tells the other owners by email (SPEC §4).
func RecordOwnerFallback(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		org, err := getOrg(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if err := audit(ctx, tx, orgID, actor, EventOwnerFallback, actor.Label, map[string]any{"reason": "no owner has linked SSO yet"}); err != nil {
			return err
		}
		var emails []string
		if err := tx.NewRaw(`SELECT u.email FROM members m JOIN users u ON u.id = m.user_id
			WHERE m.org_id = ? AND m.role = 'owner' AND m.active AND u.id <> ?`, orgID, actor.UserID).Scan(ctx, &emails); err != nil {
			return err
		}
		for _, to := range emails {
			if err := mailer.enqueue(ctx, tx, mail.Args{To: to, Template: mail.TemplateOwnerFallback,
				Data: map[string]string{"org_name": org.Name, "org_slug": org.Slug, "owner": actor.Label, "ip": actor.IP}}); err != nil {
				return err
			}
		}
		return nil
	})
}

// UnlinkedMember is a member who has not linked their account to the IdP.
type UnlinkedMember struct {
	MemberID int64  `bun:"member_id"`
	Email    string `bun:"email"`
	Name     string `bun:"name"`
	Role     Role   `bun:"role"`
}

// ListUnlinked returns up to limit unlinked active members of org and how many there are.
func ListUnlinked(ctx context.Context, db bun.IDB, orgID int64, limit int) ([]UnlinkedMember, int, error) {
	var rows []UnlinkedMember
	err := db.NewRaw(`SELECT m.id AS member_id, u.email, u.name, m.role FROM members m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? AND m.active AND NOT m.sso_linked ORDER BY lower(u.email) LIMIT ?`, orgID, limit).Scan(ctx, &rows)
	if err != nil {
		return nil, 0, fmt.Errorf("list unlinked: %w", err)
	}
	var n int
	if err := db.NewRaw(`SELECT count(*) FROM members WHERE org_id = ? AND active AND user_id IS NOT NULL AND NOT sso_linked`, orgID).Scan(ctx, &n); err != nil {
		return nil, 0, err
	}
	return rows, n, nil
}

// SendLinkReminders emails "Action Required for {org}" with the Login URL to every
// unlinked member of org, or only to memberID when it is not zero. It returns how many
// were sent.
func SendLinkReminders(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor, memberID int64) (int, error) {
	var sent int
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := authorizeActor(ctx, tx, orgID, actor, ActSendReminders, Target{}); err != nil {
			return err
		}
		var err error
		sent, err = sendLinkReminders(ctx, tx, mailer, orgID, memberID)
		if err != nil {
			return err
		}
		if memberID != 0 && sent == 0 {
			return fmt.Errorf("unlinked member: %w", ErrNotFound)
		}
		return audit(ctx, tx, orgID, actor, EventSSORemindersSent, "", map[string]any{"recipients": sent})
	})
	return sent, err
}

func sendLinkReminders(ctx context.Context, tx bun.Tx, mailer *Mailer, orgID, memberID int64) (int, error) {
	org, err := getOrg(ctx, tx, orgID)
	if err != nil {
		return 0, err
	}
	q := `SELECT u.email FROM members m JOIN users u ON u.id = m.user_id WHERE m.org_id = ? AND m.active AND NOT m.sso_linked`
	args := []any{orgID}
	if memberID != 0 {
		q += " AND m.id = ?"
		args = append(args, memberID)
	}
	var emails []string
	if err := tx.NewRaw(q, args...).Scan(ctx, &emails); err != nil {
		return 0, err
	}
	for _, to := range emails {
		if err := mailer.enqueue(ctx, tx, mail.Args{To: to, Template: mail.TemplateLinkReminder,
			Data: map[string]string{"org_name": org.Name, "org_slug": org.Slug}}); err != nil {
			return 0, err
		}
	}
	return len(emails), nil
}

// DisableProvider removes org's provider (SPEC §4 last point): all links are cleared,
// every member is emailed how to sign in with a password (with a set/reset link), and
// the provider's settings go with it. It returns how many members were emailed.
func DisableProvider(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor) (int, error) {
	var sent int
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := authorizeActor(ctx, tx, orgID, actor, ActDisableIdP, Target{}); err != nil {
			return err
		}
		p := new(AuthProvider)
		if err := tx.NewSelect().Model(p).Where("org_id = ?", orgID).For("UPDATE").Scan(ctx); err != nil {
			return notFound(err, "auth provider")
		}
		org, err := getOrg(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if err := notifyOwners(ctx, tx, mailer, orgID, actor, "disabled "+p.DisplayName()+" single sign-on"); err != nil {
			return err
		}
		// Members first, then the identities (which reference the provider and go with
		// it): a sign-in's order, so one in flight never deadlocks with this.
		if _, err := tx.NewUpdate().Model((*Member)(nil)).Set("sso_linked = false").Set("sso_invalid = false").
			Where("org_id = ?", orgID).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model(p).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("delete provider: %w", err)
		}
		if err := revokeAllSCIMTokens(ctx, tx, orgID); err != nil {
			return err
		}
		var users []User
		if err := tx.NewRaw(`SELECT u.* FROM members m JOIN users u ON u.id = m.user_id WHERE m.org_id = ? AND m.active`, orgID).Scan(ctx, &users); err != nil {
			return err
		}
		for _, u := range users {
			token, hash := newToken()
			if _, err := tx.NewRaw("INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES (?, ?, ?)",
				hash, u.ID, time.Now().Add(7*24*time.Hour)).Exec(ctx); err != nil {
				return err
			}
			hasPassword := "no"
			if u.PasswordHash != nil {
				hasPassword = "yes"
			}
			if err := mailer.enqueue(ctx, tx, mail.Args{To: u.Email, Template: mail.TemplateSSODisabled,
				Data: map[string]string{"org_name": org.Name, "token": token, "has_password": hasPassword}}); err != nil {
				return err
			}
		}
		sent = len(users)
		return audit(ctx, tx, orgID, actor, EventSSODisabled, p.DisplayName(), map[string]any{"entity_id": p.Config.EntityID, "members_emailed": sent})
	})
	return sent, err
}

// DisableImpact is what disabling org's provider would do, for its confirmation page.
type DisableImpact struct {
	Members    int // active members, each emailed how to sign in with a password
	Linked     int // members whose link to the IdP is cleared
	SCIMTokens int // SCIM tokens revoked
}

// DisableImpactOf counts what DisableProvider would change in org now.
func DisableImpactOf(ctx context.Context, db bun.IDB, orgID int64) (DisableImpact, error) {
	var d DisableImpact
	err := db.NewRaw(`SELECT
		(SELECT count(*) FROM members WHERE org_id = ? AND active AND user_id IS NOT NULL) AS members,
		(SELECT count(*) FROM members WHERE org_id = ? AND sso_linked) AS linked,
		(SELECT count(*) FROM scim_tokens WHERE org_id = ? AND revoked_at IS NULL) AS scim_tokens`,
		orgID, orgID, orgID).Scan(ctx, &d.Members, &d.Linked, &d.SCIMTokens)
	if err != nil {
		return d, fmt.Errorf("disable impact: %w", err)
	}
	return d, nil
}
