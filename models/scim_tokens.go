package models

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// MaxActiveSCIMTokens is how many tokens an org may have at once: two, so the IdP can
// be switched to a new one without downtime.
const MaxActiveSCIMTokens = 2

// SCIMToken is a bearer token of one org (SPEC §5). Only its hash is stored.
type SCIMToken struct {
	bun.BaseModel `bun:"table:scim_tokens"`

	ID          int64  `bun:"id,pk,autoincrement"`
	OrgID       int64  `bun:"org_id"`
	TokenHash   string `bun:"token_hash"`
	Prefix      string `bun:"prefix"`
	CreatedByID *int64 `bun:"created_by_id"`
	// OperatorIssued marks a token the operator generated (CLI): it acts for the
	// operator. Any other token works only while CreatedByID is an active owner.
	OperatorIssued bool       `bun:"operator_issued"`
	CreatedAt      time.Time  `bun:"created_at,nullzero,default:now()"`
	LastUsedAt     *time.Time `bun:"last_used_at"`
	RevokedAt      *time.Time `bun:"revoked_at"`
	SubmitKey      *string    `bun:"submit_key"`             // the form submission that generated it (NewSubmitKey)
	CreatedBy      string     `bun:"creator_email,scanonly"` // the creator's email (AuthenticateSCIM)
	// CreatorRole is the creator's role while an active member ("" otherwise).
	CreatorRole Role `bun:"creator_role,scanonly"`
}

// scimTokenPrefix marks Gatehouse SCIM tokens (secret scanners can find them).
const scimTokenPrefix = "ghscim_"

// CreateSCIMToken issues a new token for org and returns it once, in clear. Only an
// owner may (SECURITY.md "Powers"), only while SCIM is enabled, and at most
// MaxActiveSCIMTokens at once. The other owners are emailed.
func CreateSCIMToken(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor) (string, *SCIMToken, error) {
	return CreateSCIMTokenOnce(ctx, db, mailer, orgID, actor, "")
}

// CreateSCIMTokenOnce is CreateSCIMToken for the submission submitKey of the owner's
// form (see NewSubmitKey; "" for none): when that submission already generated a
// token (a double click, two at once, Back and submit) it returns ErrAlreadySubmitted
// and changes nothing — the secret was shown to the first submission only.
func CreateSCIMTokenOnce(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor, submitKey string) (string, *SCIMToken, error) {
	var secret string
	var tok *SCIMToken
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := authorizeActor(ctx, tx, orgID, actor, ActCreateSCIMToken, Target{}); err != nil {
			return err
		}
		p := new(AuthProvider)
		if err := tx.NewSelect().Model(p).Where("org_id = ?", orgID).For("UPDATE").Scan(ctx); err != nil || !p.SCIMEnabled {
			return Forbidden("Enable SCIM in the General Settings first.")
		}
		// The provider row's lock orders simultaneous submissions: the second sees the first's token.
		if submitKey != "" {
			seen, err := tx.NewSelect().Model((*SCIMToken)(nil)).Where("org_id = ? AND submit_key = ?", orgID, submitKey).Exists(ctx)
			if err != nil {
				return err
			}
			if seen {
				return ErrAlreadySubmitted
			}
		}
		n, err := tx.NewSelect().Model((*SCIMToken)(nil)).Where("org_id = ? AND revoked_at IS NULL", orgID).Count(ctx)
		if err != nil {
			return err
		}
		if n >= MaxActiveSCIMTokens {
			return Forbidden(fmt.Sprintf("An organization can have %d active SCIM tokens: revoke one first.", MaxActiveSCIMTokens))
		}
		raw, _ := newToken()
		secret = scimTokenPrefix + raw
		tok = &SCIMToken{OrgID: orgID, TokenHash: HashToken(secret), Prefix: secret[:len(scimTokenPrefix)+6]}
		if actor.UserID != 0 {
			tok.CreatedByID = &actor.UserID
		} else {
			tok.OperatorIssued = true // authorizeActor let only the operator through without a person
		}
		if submitKey != "" {
			tok.SubmitKey = &submitKey
		}
		if _, err := tx.NewInsert().Model(tok).Returning("*").Exec(ctx); err != nil {
			if isUniqueViolation(err, "scim_tokens_submit_key_idx") {
				return ErrAlreadySubmitted
			}
			return fmt.Errorf("store SCIM token: %w", err)
		}
		if err := audit(ctx, tx, orgID, actor, EventSCIMTokenCreated, tok.Prefix+"…", nil); err != nil {
			return err
		}
		return notifyOwners(ctx, tx, mailer, orgID, actor, "generated the SCIM token "+tok.Prefix+"…")
	})
	if err != nil {
		return "", nil, err
	}
	return secret, tok, nil
}

// RevokeSCIMToken ends a token of org at once (owners only; the other owners are emailed).
func RevokeSCIMToken(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor, tokenID int64) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := authorizeActor(ctx, tx, orgID, actor, ActRevokeSCIMToken, Target{}); err != nil {
			return err
		}
		tok := new(SCIMToken)
		err := tx.NewUpdate().Model(tok).Set("revoked_at = now()").
			Where("id = ? AND org_id = ? AND revoked_at IS NULL", tokenID, orgID).Returning("*").Scan(ctx)
		if err != nil {
			return notFound(err, "SCIM token")
		}
		if err := audit(ctx, tx, orgID, actor, EventSCIMTokenRevoked, tok.Prefix+"…", nil); err != nil {
			return err
		}
		return notifyOwners(ctx, tx, mailer, orgID, actor, "revoked the SCIM token "+tok.Prefix+"…")
	})
}

// ListSCIMTokens returns org's active tokens, oldest first.
func ListSCIMTokens(ctx context.Context, db bun.IDB, orgID int64) ([]SCIMToken, error) {
	var out []SCIMToken
	err := db.NewSelect().Model(&out).Where("org_id = ? AND revoked_at IS NULL", orgID).OrderExpr("id").Scan(ctx)
	return out, err
}

// ErrSCIMTokenPowerless is returned for a token whose creator is no longer an owner of
// its org: a token never has more power than the person who made it.
var ErrSCIMTokenPowerless = errors.New("the person who generated this SCIM token is no longer an owner of the organization: an owner must generate a new token")

// qSCIMToken reads a token and its creator's power, prepared (prepared.go): every
// SCIM request runs it.
var qSCIMToken = prepare(func(db bun.IDB) string {
	return db.NewSelect().Model((*SCIMToken)(nil)).ModelTableExpr("scim_tokens AS t").
		Column("t.id", "t.org_id", "t.token_hash", "t.prefix", "t.created_by_id", "t.operator_issued", "t.created_at", "t.last_used_at", "t.revoked_at").
		ColumnExpr("m.email AS creator_email, m.role AS creator_role").
		Join("LEFT JOIN members m ON m.org_id = t.org_id AND m.user_id = t.created_by_id AND m.active").
		Where("t.token_hash = ? AND t.revoked_at IS NULL", param(1)).String()
})

// AuthenticateSCIM finds the active token for secret in org (the org of the URL):
// ErrNotFound for an unknown, revoked or other org's token, ErrSCIMTokenPowerless when
// its creator is no longer an active owner. The stored hash is compared in constant
// time, and the last use is recorded. CreatedBy is the creator's email ("" for the CLI).
func AuthenticateSCIM(ctx context.Context, db bun.IDB, orgID int64, secret string) (*SCIMToken, error) {
	hash := HashToken(secret)
	tok := new(SCIMToken)
	// One statement per request for the token and the power behind it. The columns are
	// named, so a column added by a later migration does not break a running binary.
	if err := qSCIMToken.scanOne(ctx, db, tok, hash); err != nil {
		return nil, notFound(err, "SCIM token")
	}
	if subtle.ConstantTimeCompare([]byte(tok.TokenHash), []byte(hash)) != 1 || tok.OrgID != orgID {
		return nil, fmt.Errorf("SCIM token: %w", ErrNotFound)
	}
	// A person's token has their power while they are an active owner; a token whose
	// creator's account is gone (created_by_id set NULL) has nobody's.
	if !tok.OperatorIssued && (tok.CreatedByID == nil || tok.CreatorRole != RoleOwner) {
		return nil, ErrSCIMTokenPowerless
	}
	if tok.LastUsedAt == nil || time.Since(*tok.LastUsedAt) > time.Minute {
		if _, err := db.NewUpdate().Model(tok).Set("last_used_at = now()").WherePK().
			Where("last_used_at IS NULL OR last_used_at < now() - interval '1 minute'").Exec(ctx); err != nil {
			return nil, err
		}
	}
	return tok, nil
}

// Actor is who acts through the token in the audit log: the token and the person
// behind it.
func (t *SCIMToken) Actor(ip string) Actor {
	label := "SCIM token " + t.Prefix + "…"
	if t.CreatedBy != "" {
		label += " (generated by " + t.CreatedBy + ")"
	}
	a := Actor{Label: label, IP: ip, Channel: ChannelSCIM}
	if t.CreatedByID != nil {
		a.UserID = *t.CreatedByID
	}
	return a
}

// SetSCIMEnabled turns SCIM on or off for org's provider (SAML only). Turning it off
// revokes every token.
func SetSCIMEnabled(ctx context.Context, db bun.IDB, orgID int64, actor Actor, enabled bool) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		p := new(AuthProvider)
		if err := tx.NewSelect().Model(p).Where("org_id = ?", orgID).For("UPDATE").Scan(ctx); err != nil {
			return notFound(err, "auth provider")
		}
		return setSCIM(ctx, tx, p, actor, enabled)
	})
}

// setSCIM changes p's SCIM switch (p is locked by the caller).
func setSCIM(ctx context.Context, tx bun.Tx, p *AuthProvider, actor Actor, enabled bool) error {
	if enabled && (!p.IsSAML() || !p.Active()) {
		return Invalid("scim_enabled", "SCIM needs an active SAML provider.")
	}
	if p.SCIMEnabled == enabled {
		return nil
	}
	if _, err := tx.NewUpdate().Model(p).Set("scim_enabled = ?", enabled).Set("updated_at = now()").WherePK().Exec(ctx); err != nil {
		return err
	}
	if !enabled {
		if err := revokeAllSCIMTokens(ctx, tx, p.OrgID); err != nil {
			return err
		}
	}
	p.SCIMEnabled = enabled
	return audit(ctx, tx, p.OrgID, actor, EventSCIMChanged, p.DisplayName(), map[string]any{"setting": "scim_enabled", "old": !enabled, "new": enabled})
}

func revokeAllSCIMTokens(ctx context.Context, tx bun.IDB, orgID int64) error {
	_, err := tx.NewUpdate().Model((*SCIMToken)(nil)).Set("revoked_at = now()").Where("org_id = ? AND revoked_at IS NULL", orgID).Exec(ctx)
	return err
}

// SCIMRequest is one line of the provisioning log.
type SCIMRequest struct {
	bun.BaseModel `bun:"table:scim_requests"`

	ID         int64     `bun:"id,pk,autoincrement"`
	OrgID      int64     `bun:"org_id"`
	TokenID    *int64    `bun:"token_id"`
	Method     string    `bun:"method"`
	Path       string    `bun:"path"`
	Status     int       `bun:"status"`
	DurationMS int       `bun:"duration_ms"`
	Error      string    `bun:"error"`
	CreatedAt  time.Time `bun:"created_at,nullzero,default:now()"`
}

// LogSCIMRequest appends to org's provisioning log.
func LogSCIMRequest(ctx context.Context, db bun.IDB, r SCIMRequest) error {
	if len(r.Path) > 500 {
		r.Path = r.Path[:500]
	}
	if len(r.Error) > 500 {
		r.Error = r.Error[:500]
	}
	_, err := db.NewInsert().Model(&r).Exec(ctx)
	return err
}

// ListSCIMRequests returns org's provisioning log, newest first.
func ListSCIMRequests(ctx context.Context, db bun.IDB, orgID int64, limit, offset int) ([]SCIMRequest, error) {
	var out []SCIMRequest
	err := db.NewSelect().Model(&out).Where("org_id = ?", orgID).OrderExpr("id DESC").Limit(int64(limit)).Offset(int64(offset)).Scan(ctx)
	return out, err
}
