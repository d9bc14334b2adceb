package models

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// SessionInfo is one of a user's active sessions, for the account page.
type SessionInfo struct {
	Token     string    `bun:"token"` // the hashed token, never the cookie value
	CreatedAt time.Time `bun:"created_at"`
	LastSeen  time.Time `bun:"last_seen"`
	Expiry    time.Time `bun:"expiry"`
	UserAgent string    `bun:"user_agent"`
	IP        string    `bun:"ip"`
}

// SessionHash is how the store keys a session cookie value (scs's HashTokenInStore).
func SessionHash(cookieToken string) string {
	sum := sha256.Sum256([]byte(cookieToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ListUserSessions returns the user's unexpired sessions, most recent first.
func ListUserSessions(ctx context.Context, db bun.IDB, userID int64) ([]SessionInfo, error) {
	var out []SessionInfo
	err := db.NewSelect().TableExpr("sessions").Column("token", "created_at", "last_seen", "expiry", "user_agent", "ip").
		Where("user_id = ? AND expiry > now()", userID).OrderExpr("last_seen DESC").Limit(100).Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// RevokeUserSessions ends every session of the user at once, except the one whose
// hashed token is keep (empty keeps none). It returns how many ended.
func RevokeUserSessions(ctx context.Context, db bun.IDB, userID int64, keep string) (int64, error) {
	res, err := db.NewUpdate().TableExpr("sessions").Set("expiry = now()").
		Where("user_id = ? AND expiry > now() AND token <> ?", userID, keep).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	return res.RowsAffected()
}

// RevokeSSOSessions ends the user's sessions that signed in through org's SSO (single
// logout, SCIM deprovisioning). It returns how many ended.
func RevokeSSOSessions(ctx context.Context, db bun.IDB, orgID, userID int64) (int64, error) {
	res, err := db.NewUpdate().TableExpr("sessions").Set("expiry = now()").
		Where("user_id = ? AND expiry > now() AND ? = ANY(sso_orgs)", userID, orgID).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("revoke SSO sessions: %w", err)
	}
	return res.RowsAffected()
}
