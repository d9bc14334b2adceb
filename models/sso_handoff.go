package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// The handoff travels sealed in the completion URL (AES-256-GCM under a key derived
// from GATEHOUSE_SECRET_KEY, bound to its purpose, with its org and expiry inside), so
// the ACS writes nothing and a login is one writing transaction. Opening it proves
// only that this server validated it less than HandoffLifetime ago; what makes it
// single-use is the completing transaction itself: the assertion enters the replay
// cache there (kept at least as long as the token opens), and an SP-initiated one
// also takes its request state, which is bound to the session that started it. The
// token also names the provider version the ACS validated under, and the completing
// transaction accepts only that version (ProviderCache explains why the ACS may have
// read it a moment earlier). A handoff too long for a URL (hundreds of group values)
// waits in the unlogged sso_handoffs table instead, under a random token deleted
// when used.

// HandoffLifetime is how long a validated response waits for its browser.
const HandoffLifetime = 2 * time.Minute

// MaxSealedHandoff is the longest completion token carried in the URL. With the
// browser's cookies the request line must fit the server's 4 KiB header buffer and
// common proxies' limits (nginx: 8 KiB); a few dozen attributes fit.
const MaxSealedHandoff = 2048

// sealedHandoffPrefix marks a sealed token (a table token is 43 base64url characters).
const sealedHandoffPrefix = "s."

// handoffPurpose binds sealed handoffs to this use of the transit key.
const handoffPurpose = "gatehouse sso handoff v1"

// SAMLHandoff is a validated SAML sign-in waiting for its browser.
type SAMLHandoff struct {
	RelayState  string              `json:"relay_state,omitempty"` // the SP-initiated request's ("" unsolicited)
	Purpose     string              `json:"purpose,omitempty"`     // the SP-initiated request's, as the ACS read it
	Issuer      string              `json:"issuer"`
	AssertionID string              `json:"assertion_id"`
	ReplayUntil time.Time           `json:"replay_until"`
	Identity    samlsp.Identity     `json:"identity"`
	NameID      string              `json:"name_id"`
	NameRef     string              `json:"name_ref,omitempty"` // samlsp.NameRef.Encode: the IdP session, for SP-initiated logout
	Attributes  map[string][]string `json:"attributes"`
	Next        string              `json:"next"`
	// ProviderVersion is the version of the provider row the ACS validated with
	// (ProviderCache explains): the completion refuses any other.
	ProviderVersion string `json:"provider_version"`
}

// sealedHandoff is what a sealed token carries.
type sealedHandoff struct {
	OrgID   int64 `json:"org"`
	Expires int64 `json:"exp"` // Unix seconds
	SAMLHandoff
}

// HandOffSAML hands a validated assertion for org to the GET that completes it and
// returns that GET's single-use token: sealed (nothing written) when keys is set and
// it fits MaxSealedHandoff, else stored in the unlogged table.
func HandOffSAML(ctx context.Context, db bun.IDB, keys *Keyring, orgID int64, h SAMLHandoff) (string, error) {
	expires := time.Now().Add(HandoffLifetime)
	if h.ReplayUntil.Before(expires) {
		h.ReplayUntil = expires // the replay cache outlives every token that carries the assertion
	}
	if keys != nil {
		payload, err := json.Marshal(sealedHandoff{OrgID: orgID, Expires: expires.Unix(), SAMLHandoff: h})
		if err != nil {
			return "", err
		}
		if token := sealedHandoffPrefix + keys.SealTransit(handoffPurpose, payload); len(token) <= MaxSealedHandoff {
			return token, nil
		}
	}
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
		hash, orgID, relay, string(payload), expires).Exec(ctx); err != nil {
		return "", fmt.Errorf("store SSO handoff: %w", err)
	}
	return token, nil
}

// openSealedHandoff opens a sealed token at now: ErrHandoffInvalid when it is damaged,
// forged, sealed under another key or expired.
func openSealedHandoff(keys *Keyring, token string, now time.Time) (int64, SAMLHandoff, error) {
	if keys == nil {
		return 0, SAMLHandoff{}, ErrHandoffInvalid
	}
	payload, err := keys.OpenTransit(handoffPurpose, strings.TrimPrefix(token, sealedHandoffPrefix))
	if err != nil {
		return 0, SAMLHandoff{}, ErrHandoffInvalid
	}
	var sh sealedHandoff
	if err := json.Unmarshal(payload, &sh); err != nil {
		return 0, SAMLHandoff{}, fmt.Errorf("decode SSO handoff: %w", err)
	}
	if now.Unix() >= sh.Expires || sh.OrgID == 0 {
		return 0, SAMLHandoff{}, ErrHandoffInvalid
	}
	return sh.OrgID, sh.SAMLHandoff, nil
}

// takeStoredHandoff uses a table token once, in tx.
func takeStoredHandoff(ctx context.Context, tx bun.Tx, token string) (int64, SAMLHandoff, error) {
	var row struct {
		OrgID   int64  `bun:"org_id"`
		Payload []byte `bun:"payload"`
	}
	if err := qTakeHandoff.scanOne(ctx, tx, &row, HashToken(token)); err != nil {
		if IsNotFound(notFound(err, "")) {
			return 0, SAMLHandoff{}, ErrHandoffInvalid
		}
		return 0, SAMLHandoff{}, err
	}
	var h SAMLHandoff
	if err := json.Unmarshal(row.Payload, &h); err != nil {
		return 0, SAMLHandoff{}, fmt.Errorf("decode SSO handoff: %w", err)
	}
	return row.OrgID, h, nil
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

// qOpenHandoff is the completion's first statement, one round trip: the org $1 with
// its provider and the provider's version (as qOrgProviderByID), and the assertion
// ($2 issuer, $3 id, kept until $4) entered into the replay cache, "fresh" when it
// was new there. The entry stands only if the transaction commits, which it does
// only after every other check has passed (SECURITY.md, SAML 7); a second use waits
// on the first's entry and then finds it.
var qOpenHandoff = prepare(func(db bun.IDB) string {
	return replayEntrySQL + orgProviderSQL(db, ", EXISTS (SELECT 1 FROM replay) AS fresh", "", "p.org_id = $1")
})

// qOpenSignIn is qOpenHandoff with a plain login's first read (signInLookupSQL) of the
// asserted person — $5 the address's domain, $6 the IdP user id, $7 the address — at
// the provider found: one round trip for both. The lookup depends on the replay
// entry's result, so it runs after it, as in two statements (the replay entry, then
// the member's row lock), and only for a fresh assertion: a replay locks nobody's row
// (its lookup columns are NULL). A fresh sign-in that a later check refuses rolls back
// and releases the lock.
var qOpenSignIn = prepare(func(db bun.IDB) string {
	look := signInLookupSQL(db, lookupArgs{domain: "$5", provider: "p.id", idp: "$6", org: "$1", email: "$7"})
	return replayEntrySQL + orgProviderSQL(db, ", f.fresh, look.*",
		" CROSS JOIN (SELECT EXISTS (SELECT 1 FROM replay) AS fresh) AS f"+
			" LEFT JOIN LATERAL (SELECT * FROM ("+look+") AS l WHERE f.fresh) AS look ON true", "p.org_id = $1")
})

// replayEntrySQL enters the assertion ($2 issuer, $3 id, kept until $4) of org $1
// into the replay cache, as the WITH clause "replay" (a row when it was new there).
const replayEntrySQL = "WITH replay AS (INSERT INTO saml_replay (org_id, issuer, assertion_id, expires_at)" +
	" SELECT id, $2::text, $3::text, $4::timestamptz FROM organizations WHERE id = $1 ON CONFLICT DO NOTHING RETURNING 1) "

// openedSignIn is qOpenSignIn's row.
type openedSignIn struct {
	orgWithProvider
	signInLookup
}

var qTakeHandoff = prepare(func(bun.IDB) string {
	return "DELETE FROM sso_handoffs WHERE token_hash = $1 AND expires_at > now() RETURNING org_id, payload"
})

// CompleteSSOHandoff completes a handed-off SAML sign-in in the browser b, in one
// transaction: the handoff is used once (keys opens sealed ones), the request state (SP-initiated) must
// belong to b's session, the assertion enters the replay cache, then the identity is
// linked, provisioned or signed in. Errors: ErrHandoffInvalid, *SSOError (with the
// result's Attempt filled for the sign-in log), *ConfirmSwitch. then (if not nil) runs
// last in the same transaction, with res complete (SSOThen).
func CompleteSSOHandoff(ctx context.Context, db bun.IDB, keys *Keyring, mailer *Mailer, token string, b HandoffBrowser, then func(ctx context.Context, tx bun.Tx, res *HandoffResult) error) (*HandoffResult, error) {
	res := &HandoffResult{}
	sealed := strings.HasPrefix(token, sealedHandoffPrefix)
	var orgID int64
	var h SAMLHandoff
	if sealed {
		var err error
		if orgID, h, err = openSealedHandoff(keys, token, time.Now()); err != nil {
			return res, err
		}
	}
	err := signInTx(ctx, db, func(ctx context.Context, tx bun.Tx) error {
		if !sealed {
			var err error
			if orgID, h, err = takeStoredHandoff(ctx, tx, token); err != nil {
				return err
			}
		}
		// A plain login (IdP-initiated, or SP-initiated from a login page) reads the
		// person in the handoff's first statement; other sign-ins (an owner's
		// activation, a handoff sealed before Purpose existed) read it in completeSSO.
		var opened openedSignIn
		var look *signInLookup
		q, args := qOpenHandoff, []any{orgID, h.Issuer, h.AssertionID, h.ReplayUntil}
		if h.RelayState == "" || h.Purpose == PurposeLogin {
			q, args, look = qOpenSignIn, append(args, EmailDomain(h.Identity.Email), h.Identity.ID, h.Identity.Email), &opened.signInLookup
		}
		row := &opened.orgWithProvider
		org, p, version, err := scanOrgProvider(ctx, tx, q, &opened, row, func() (*Organization, error) { return getOrg(ctx, tx, orgID) }, args...)
		if err != nil {
			return err
		}
		res.Org, res.Provider, res.NameID, res.Next = org, p, h.NameID, h.Next
		if res.NameRef = h.NameRef; res.NameRef == "" {
			res.NameRef = h.NameID
		}
		res.Attempt = SSOAttempt{OrgID: org.ID, Outcome: "failure", IP: b.IP, IDPUserID: h.Identity.ID, Email: h.Identity.Email}
		if version != h.ProviderVersion {
			// The ACS validated under other settings (changed since, or read from
			// its cache before a change): nothing it concluded stands.
			return &SSOError{Reason: ReasonSettingsChanged,
				Message: "Your organization's single sign-on settings changed while you were signing in. Please sign in again.",
				Hint:    "The provider was changed between the ACS's validation and this step; the response was validated under the previous settings."}
		}
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
			if req.Purpose != PurposeLogin {
				look = nil // not a plain login after all: completeSSO reads what it needs
			}
			if req.Purpose == PurposeActivate {
				res.Activation = &SSOResultStarter{UserID: req.UserID, Flow: b.Flow}
			}
		}
		if !row.Fresh { // entered into the replay cache by the first statement
			return &SSOError{Reason: ReasonReplay, Hint: "This assertion was already used: each response is accepted once."}
		}
		id := SSOIdentity{Identity: h.Identity, NameID: h.NameID, NameRef: h.NameRef, Attributes: h.Attributes}
		out, err := completeSSO(ctx, tx, mailer, org, p, start, id, h.Next, b.IP, look)
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
