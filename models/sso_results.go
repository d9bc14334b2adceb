package models

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"gatehouse/models/samlsp"
)

// An owner's SSO round trip (Test Configuration, activation) ends at the ACS, a
// cross-site POST that carries no session. Its outcome is stored here and the browser
// follows a 303 to a GET inside Settings › Auth that shows it: the page is part of the
// app, survives a reload and is never a re-POST. Only the user who started the round
// trip, in the browser session that started it (its flow), can open it, for
// SSOResultLifetime. It holds what the IdP sent about one person (the test user's
// attributes), never the response XML.

// SSOResultLifetime is how long a round trip's result can be opened (and reloaded).
const SSOResultLifetime = 30 * time.Minute

// SSOResult is the outcome of an owner's round trip.
type SSOResult struct {
	Purpose string `json:"-"` // PurposeTest or PurposeActivate
	// Diagnosis is each check of the response, when one reached the ACS.
	Diagnosis *samlsp.Diagnosis `json:"diagnosis,omitempty"`
	// Problem says what failed after the response was validated (an activation the
	// rules refused), in the sign-in log's words.
	Problem string `json:"problem,omitempty"`
}

// SSOResultStarter is the round trip a result belongs to: the user who started it and
// the flow (HashToken of its RelayState) their browser session holds.
type SSOResultStarter struct {
	UserID *int64
	Flow   string
}

// SaveSSOResult stores r for org and returns the token of the page that shows it.
// A round trip without a starting user (never the case for tests and activations) is
// ErrForbidden.
func SaveSSOResult(ctx context.Context, db bun.IDB, orgID int64, by SSOResultStarter, r SSOResult) (string, error) {
	if by.UserID == nil || by.Flow == "" || (r.Purpose != PurposeTest && r.Purpose != PurposeActivate) {
		return "", fmt.Errorf("SSO result without its owner's round trip: %w", ErrForbidden)
	}
	payload, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	token, hash := newToken()
	if _, err := db.NewRaw(`INSERT INTO sso_results (token_hash, org_id, user_id, flow, purpose, payload, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		hash, orgID, *by.UserID, by.Flow, r.Purpose, string(payload), time.Now().Add(SSOResultLifetime)).Exec(ctx); err != nil {
		return "", fmt.Errorf("store SSO result: %w", err)
	}
	return token, nil
}

// SSOResultFor returns the result of token with purpose in org, when userID started
// it in the session whose flow is flow; anything else (unknown, expired, another
// user, org, purpose or browser) is ErrNotFound, so results are not revealed.
func SSOResultFor(ctx context.Context, db bun.IDB, orgID, userID int64, flow, purpose, token string) (*SSOResult, error) {
	if token == "" || len(token) > 100 || flow == "" {
		return nil, fmt.Errorf("SSO result: %w", ErrNotFound)
	}
	var payload []byte
	err := db.NewRaw(`SELECT payload FROM sso_results WHERE token_hash = ? AND org_id = ? AND user_id = ? AND flow = ? AND purpose = ? AND expires_at > now()`,
		HashToken(token), orgID, userID, flow, purpose).Scan(ctx, &payload)
	if err != nil {
		return nil, notFound(err, "SSO result")
	}
	r := &SSOResult{Purpose: purpose}
	if err := json.Unmarshal(payload, r); err != nil {
		return nil, fmt.Errorf("decode SSO result: %w", err)
	}
	return r, nil
}
