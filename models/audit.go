package models

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Audit event names (SPEC §8).
const (
	EventOrgCreated         = "org.created"
	EventMemberInvited      = "member.invited"
	EventInviteResent       = "member.invite_resent"
	EventInviteCanceled     = "member.invite_canceled"
	EventMemberJoined       = "member.joined"
	EventMemberRoleChanged  = "member.role_changed"
	EventMemberRemoved      = "member.removed"
	EventMemberLeft         = "member.left"
	EventTeamCreated        = "team.created"
	EventTeamRenamed        = "team.renamed"
	EventTeamDeleted        = "team.deleted"
	EventTeamMemberAdded    = "team.member_added"
	EventTeamMemberRemoved  = "team.member_removed"
	EventSSOConfigured      = "sso.configured"
	EventSSOEdited          = "sso.edited"
	EventSSOEnabled         = "sso.enabled"
	EventSSOLinked          = "sso.identity_linked"
	EventSSODisabled        = "sso.disabled"
	EventRequireSSOChanged  = "sso.require_sso_changed"
	EventDefaultRoleChanged = "org.default_role_changed"
	EventSSOSettingsChanged = "sso.settings_changed"
	EventSSORemindersSent   = "sso.reminders_sent"
	EventOwnerFallback      = "sso.owner_fallback_access"
	EventSCIMChanged        = "scim.enabled_changed"
	EventSCIMTokenCreated   = "scim.token_created"
	EventSCIMTokenRevoked   = "scim.token_revoked"
	EventMemberDeactivated  = "member.deactivated"
	EventMemberReactivated  = "member.reactivated"
	EventMemberUpdated      = "member.updated"
	EventDomainAdded        = "domain.added"
	EventDomainVerified     = "domain.verified"
	EventDomainLost         = "domain.lost"
	EventDomainRemoved      = "domain.removed"
	EventDomainCapture      = "domain.capture_changed"
)

// AuditEvents lists the event names a person can filter on.
var AuditEvents = []string{
	EventOrgCreated, EventMemberInvited, EventInviteResent, EventInviteCanceled, EventMemberJoined,
	EventMemberRoleChanged, EventMemberRemoved, EventMemberLeft, EventTeamCreated, EventTeamRenamed,
	EventTeamDeleted, EventTeamMemberAdded, EventTeamMemberRemoved,
	EventSSOConfigured, EventSSOEdited, EventSSOEnabled, EventSSOLinked, EventSSODisabled,
	EventRequireSSOChanged, EventDefaultRoleChanged, EventSSOSettingsChanged, EventSSORemindersSent, EventOwnerFallback,
	EventSCIMChanged, EventSCIMTokenCreated, EventSCIMTokenRevoked, EventMemberDeactivated, EventMemberReactivated, EventMemberUpdated,
	EventSSOMetadataRefreshed, EventSSOMetadataEntityChanged,
	EventDomainAdded, EventDomainVerified, EventDomainLost, EventDomainRemoved, EventDomainCapture,
}

// AuditEvent is one entry of an org's audit log.
type AuditEvent struct {
	bun.BaseModel `bun:"table:audit_events"`

	ID          int64          `bun:"id,pk,autoincrement"`
	OrgID       int64          `bun:"org_id"`
	ActorUserID *int64         `bun:"actor_user_id"`
	ActorLabel  string         `bun:"actor_label"`
	Event       string         `bun:"event"`
	TargetLabel string         `bun:"target_label"`
	Details     map[string]any `bun:"details,type:jsonb"`
	IP          string         `bun:"ip"`
	CreatedAt   time.Time      `bun:"created_at,nullzero,default:now()"`
}

// Actor says who performs an operation: a person (with their address) or a system
// actor such as a SCIM token.
type Actor struct {
	UserID int64
	Label  string
	IP     string
	// Channel is ChannelSCIM for a SCIM token (whose creator is UserID); otherwise a
	// UserID is a person on the UI and zero is the operator (CLI) or the system.
	Channel Channel
	// Session is the acting browser's session (SessionHash of its token): an action
	// that ends sessions keeps this one, as Require SSO does.
	Session string
}

// System returns an actor that is not a person.
func System(label string) Actor { return Actor{Label: label} }

func audit(ctx context.Context, db bun.IDB, orgID int64, actor Actor, event, target string, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	e := &AuditEvent{OrgID: orgID, ActorLabel: actor.Label, Event: event, TargetLabel: target, Details: details, IP: actor.IP}
	if actor.UserID != 0 {
		e.ActorUserID = &actor.UserID
	}
	if _, err := db.NewInsert().Model(e).Exec(ctx); err != nil {
		return fmt.Errorf("audit %s: %w", event, err)
	}
	return nil
}

// AuditFilter selects audit events; zero values match everything.
type AuditFilter struct {
	Event    string
	Actor    string // substring of the actor label, case-insensitive
	BeforeID int64  // keyset cursor: events older than this id
	Limit    int
}

// ListAuditEvents returns one page of org's events, newest first, and whether more follow.
func ListAuditEvents(ctx context.Context, db bun.IDB, orgID int64, f AuditFilter) ([]AuditEvent, bool, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	var events []AuditEvent
	q := db.NewSelect().Model(&events).Where("org_id = ?", orgID).OrderExpr("id DESC").Limit(int64(f.Limit + 1))
	if f.Event != "" {
		q.Where("event = ?", f.Event)
	}
	if f.Actor != "" {
		q.Where("actor_label ILIKE ?", "%"+escapeLike(f.Actor)+"%")
	}
	if f.BeforeID > 0 {
		q.Where("id < ?", f.BeforeID)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, false, fmt.Errorf("list audit events: %w", err)
	}
	more := len(events) > f.Limit
	if more {
		events = events[:f.Limit]
	}
	return events, more, nil
}

func escapeLike(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '%' || r == '_' || r == '\\' {
			out = append(out, '\\')
		}
		out = append(out, r)
	}
	return string(out)
}
