package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"gatehouse/models/samlsp"
)

// A SAML response arrives as a cross-site POST from the IdP, which carries no
// SameSite=Lax cookie: the ACS cannot tell which browser session it lands in. So the
// ACS only validates it and hands it off; the browser follows a 303 to a same-site GET
// (CompleteSSOHandoff), which carries the session cookie and completes the sign-in in
// one transaction. There an SP-initiated response is accepted only by the session
// that started the request (no login CSRF), and an IdP-initiated one never silently
// replaces another user's session (SECURITY.md "Web").

// HandoffLifetime is how long a validated response waits for its browser.
const HandoffLifetime = 2 * time.Minute

// SAMLHandoff is a validated SAML sign-in waiting for its browser.
type SAMLHandoff struct {
	RelayState  string              `json:"relay_state,omitempty"` // the SP-initiated request's ("" unsolicited)
	Issuer      string              `json:"issuer"`
	AssertionID string              `json:"assertion_id"`
	ReplayUntil time.Time           `json:"replay_until"`
	Identity    samlsp.Identity     `json:"identity"`
	NameID      string              `json:"name_id"`
	NameRef     string              `json:"name_ref,omitempty"` // samlsp.NameRef.Encode: the IdP session, for SP-initiated logout
	Attributes  map[string][]string `json:"attributes"`
	Next        string              `json:"next"`
}

// HandOffSAML stores a validated assertion for org and returns the single-use token
// of the GET that completes it.
func HandOffSAML(ctx context.Context, db bun.IDB, orgID int64, h SAMLHandoff) (string, error) {
	payload, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	token, hash := newToken()
	var relay any
	if h.RelayState != "" {
		relay = h.RelayState
	}
	if _, err := db.NewRaw("INSERT INTO sso_handoffs (token_hash, org_id, relay_state, payload, expires_at) VALUES (?, ?, ?, ?, ?)",
		hash, orgID, relay, string(payload), time.Now().Add(HandoffLifetime)).Exec(ctx); err != nil {
		return "", fmt.Errorf("store SSO handoff: %w", err)
	}
	return token, nil
}

// HandoffBrowser is the browser that opens a handoff: its session's sign-in flow
// (HashToken of the RelayState it started) and who it is signed in as.
type HandoffBrowser struct {
	Flow           string
	SignedInUserID int64
	// Confirmed: the person chose "Continue as …" for an IdP-initiated sign-in that
	// replaces another user's session.
	Confirmed bool
	IP        string
}

// ErrHandoffInvalid is returned for an unknown, used or expired handoff.
var ErrHandoffInvalid = errors.New("this sign-in is unknown, already used or expired")

// ConfirmSwitch is returned, with nothing written, when an IdP-initiated sign-in
// would replace the signed-in user's session with another user's.
type ConfirmSwitch struct {
	Org   *Organization
	Email string // who the IdP signs in
}

func (c *ConfirmSwitch) Error() string { return "sign-in as " + c.Email + " needs confirmation" }

// HandoffResult is a completed handoff.
type HandoffResult struct {
	Org      *Organization
	Provider *AuthProvider
	Outcome  *SSOOutcome
	Attempt  SSOAttempt
	NameID   string
	NameRef  string // how the IdP named the session (samlsp.NameRef.Encode), else the NameID
	Next     string
	// Activation is the owner's activation round trip this completes (nil otherwise).
	Activation *SSOResultStarter
}

var qTakeHandoff = prepare(func(bun.IDB) string {
	return "DELETE FROM sso_handoffs WHERE token_hash = $1 AND expires_at > now() RETURNING org_id, relay_state, payload"
})

// CompleteSSOHandoff completes a handed-off SAML sign-in in the browser b, in one
// transaction: the handoff is used once, the request state (SP-initiated) must
// belong to b's session, the assertion enters the replay cache, then the identity is
// linked, provisioned or signed in. Errors: ErrHandoffInvalid, *SSOError (with the
// result's Attempt filled for the sign-in log), *ConfirmSwitch. then (if not nil) runs
// last in the same transaction, with res complete (SSOThen).
func CompleteSSOHandoff(ctx context.Context, db bun.IDB, mailer *Mailer, token string, b HandoffBrowser, then func(ctx context.Context, tx bun.Tx, res *HandoffResult) error) (*HandoffResult, error) {
	res := &HandoffResult{}
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var row struct {
			OrgID      int64   `bun:"org_id"`
			RelayState *string `bun:"relay_state"`
			Payload    []byte  `bun:"payload"`
		}
		if err := qTakeHandoff.scanOne(ctx, tx, &row, HashToken(token)); err != nil {
			if IsNotFound(notFound(err, "")) {
				return ErrHandoffInvalid
			}
			return err
		}
		var h SAMLHandoff
		if err := json.Unmarshal(row.Payload, &h); err != nil {
			return fmt.Errorf("decode SSO handoff: %w", err)
		}
		org, p, err := OrgAndProviderByID(ctx, tx, row.OrgID)
		if err != nil {
			return err
		}
		res.Org, res.Provider, res.NameID, res.Next = org, p, h.NameID, h.Next
		if res.NameRef = h.NameRef; res.NameRef == "" {
			res.NameRef = h.NameID
		}
		res.Attempt = SSOAttempt{OrgID: org.ID, Outcome: "failure", IP: b.IP, IDPUserID: h.Identity.ID, Email: h.Identity.Email}
		var start *SSOStart
		if h.RelayState != "" {
			// SP-initiated: only the session that started the request may finish it.
			if b.Flow == "" || b.Flow != HashToken(h.RelayState) {
				return &SSOError{Reason: ReasonOtherBrowser, Message: "This sign-in was started in another browser. Start again from your organization's login page.",
					Hint: "The response answered a request this browser did not make (login CSRF or a link opened elsewhere)."}
			}
			req, err := TakeSAMLRequest(ctx, tx, org.ID, h.RelayState)
			if err != nil {
				if IsNotFound(err) {
					return &SSOError{Reason: samlsp.ReasonRequest, Hint: "The request was already answered or expired."}
				}
				return err
			}
			start = &SSOStart{Purpose: req.Purpose, UserID: req.UserID, Flow: b.Flow}
			if req.Purpose == PurposeActivate {
				res.Activation = &SSOResultStarter{UserID: req.UserID, Flow: b.Flow}
			}
		}
		ins, err := tx.NewRaw(`INSERT INTO saml_replay (org_id, issuer, assertion_id, expires_at) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, org.ID, h.Issuer, h.AssertionID, h.ReplayUntil).Exec(ctx)
		if err != nil {
			return fmt.Errorf("replay cache: %w", err)
		}
		if n, _ := ins.RowsAffected(); n == 0 {
			return &SSOError{Reason: ReasonReplay, Hint: "This assertion was already used: each response is accepted once."}
		}
		id := SSOIdentity{Identity: h.Identity, NameID: h.NameID, NameRef: h.NameRef, Attributes: h.Attributes}
		out, err := completeSSO(ctx, tx, mailer, org, p, start, id, h.Next, b.IP)
		if err != nil {
			return err
		}
		if start == nil && out.User != nil && b.SignedInUserID != 0 && out.User.ID != b.SignedInUserID && !b.Confirmed {
			// Nothing is written: the person chooses, and the handoff stays usable.
			return &ConfirmSwitch{Org: org, Email: out.User.Email}
		}
		res.Outcome = out
		if then != nil {
			return then(ctx, tx, res)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	return res, nil
}
