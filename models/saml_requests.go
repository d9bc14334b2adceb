package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

// TakeSAMLRequestByID consumes org's unused, unexpired SP-initiated request whose
// AuthnRequest ID is requestID: the fallback for IdPs that drop or replace RelayState
// (issue 11 item 8). The caller passes the InResponseTo the response names and then
// validates the response against this request's ID, so only a response whose signed
// InResponseTo is this ID can complete it; the request works once, like by RelayState.
// ErrNotFound when there is no such request for this org.
func TakeSAMLRequestByID(ctx context.Context, db bun.IDB, orgID int64, requestID string) (*SAMLRequest, error) {
	if requestID == "" || len(requestID) > 256 {
		return nil, fmt.Errorf("request id: %w", ErrNotFound)
	}
	r := new(SAMLRequest)
	err := db.NewUpdate().Model(r).Set("used_at = now()").
		Where("org_id = ? AND request_id = ? AND used_at IS NULL AND expires_at > now()", orgID, requestID).
		Returning("*").Scan(ctx)
	if err != nil {
		return nil, notFound(err, "SAML request")
	}
	return r, nil
}
