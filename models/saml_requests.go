package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

// PeekSAMLRequestByID is PeekSAMLRequest by the AuthnRequest ID instead of the
// RelayState: the fallback for IdPs that drop or replace RelayState (issue 11 item 8).
// The caller passes the InResponseTo the response names and then validates the
// response against this request's ID, so only a response whose signed InResponseTo
// is this ID goes on; the request is then used up, and bound to the browser that
// started it, exactly as when found by its RelayState (CompleteSSOHandoff).
// ErrNotFound when org has no such unused, unexpired request.
func PeekSAMLRequestByID(ctx context.Context, db bun.IDB, orgID int64, requestID string) (*SAMLRequest, error) {
	if requestID == "" || len(requestID) > 256 {
		return nil, fmt.Errorf("request id: %w", ErrNotFound)
	}
	r := new(SAMLRequest)
	err := db.NewSelect().Model(r).
		Where("org_id = ? AND request_id = ? AND used_at IS NULL AND expires_at > now()", orgID, requestID).Scan(ctx)
	if err != nil {
		return nil, notFound(err, "SAML request")
	}
	return r, nil
}
