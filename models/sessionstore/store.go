// Package sessionstore is the scs store on PostgreSQL. Unlike scs's postgresstore it
// records the user of each session (so all of a user's sessions can be revoked at once)
// and it revokes by expiring rows: the upsert refuses to write to an expired row, so
// a request still in flight when its session is revoked cannot bring it back.
package sessionstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/uptrace/bun"

	"gatehouse/models/database"
)

// Session keys the store reads out of the session data to fill its columns.
const (
	KeyUserID    = "user_id"
	KeyUserAgent = "ua"
	KeyIP        = "ip"
	// KeySSOPrefix + org id holds the unix time of the session's last SSO for that org.
	KeySSOPrefix = "sso_at:"
)

// KeySSO is the session key of the SSO time for org.
func KeySSO(orgID int64) string { return KeySSOPrefix + strconv.FormatInt(orgID, 10) }

// Store implements scs.CtxStore. Tokens reach it already hashed (HashTokenInStore).
type Store struct {
	DB    bun.IDB
	Codec scs.Codec
}

// New returns a store over db that decodes session data with Codec.
func New(db bun.IDB) *Store { return &Store{DB: db, Codec: Codec{}} }

// Manager is scs on this store: tokens hashed in the store, data in Codec's form.
// The caller sets lifetimes and the cookie.
func Manager(db bun.IDB) *scs.SessionManager {
	sm := scs.New()
	sm.Store = New(db)
	sm.Codec = Codec{}
	sm.HashTokenInStore = true
	return sm
}

type txKey struct{}

// InTx makes the session writes made with the returned context (scs's Commit,
// RenewToken, Destroy) part of tx, so that a sign-in and its session are one commit:
// the session exists exactly when everything the sign-in wrote does (issue 12).
func InTx(ctx context.Context, tx bun.Tx) context.Context { return context.WithValue(ctx, txKey{}, tx) }

// db is the transaction of ctx (InTx), else the store's database.
func (s *Store) db(ctx context.Context) bun.IDB {
	if tx, ok := ctx.Value(txKey{}).(bun.Tx); ok {
		return tx
	}
	return s.DB
}

// FindCtx returns the data of an unexpired session.
func (s *Store) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	r, err := database.SQLOf(s.db(ctx))
	if err != nil {
		return nil, false, err
	}
	var data []byte
	err = r.QueryRowContext(ctx, "SELECT data FROM sessions WHERE token = $1 AND expiry > now()", database.PreparedMode(), token).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// CommitCtx inserts or updates a session. An existing row that has expired (revoked)
// is left alone.
func (s *Store) CommitCtx(ctx context.Context, token string, data []byte, expiry time.Time) error {
	var userID sql.NullInt64
	var ua, ip string
	ssoOrgs := []int64{}
	if _, values, err := s.Codec.Decode(data); err == nil {
		if id, ok := values[KeyUserID].(int64); ok && id != 0 {
			userID = sql.NullInt64{Int64: id, Valid: true}
		}
		ua, _ = values[KeyUserAgent].(string)
		ip, _ = values[KeyIP].(string)
		for k := range values {
			if rest, ok := strings.CutPrefix(k, KeySSOPrefix); ok {
				if id, err := strconv.ParseInt(rest, 10, 64); err == nil {
					ssoOrgs = append(ssoOrgs, id)
				}
			}
		}
	}
	if len(ua) > 300 {
		ua = ua[:300]
	}
	// In a sign-in's transaction, the upsert joins its tail (database.Defer).
	return database.Defer(ctx, s.db(ctx), qCommit, token, data, expiry, userID, ua, ip, ssoOrgs)
}

// qCommit is CommitCtx's upsert, prepared once per connection (the hot paths'
// statements, models/prepared.go).
const qCommit = `INSERT INTO sessions (token, data, expiry, user_id, user_agent, ip, sso_orgs)
	VALUES ($1, $2, $3, $4, $5, $6, $7)
	ON CONFLICT (token) DO UPDATE
	SET data = EXCLUDED.data, expiry = EXCLUDED.expiry, user_id = EXCLUDED.user_id,
	    user_agent = EXCLUDED.user_agent, ip = EXCLUDED.ip, sso_orgs = EXCLUDED.sso_orgs, last_seen = now()
	WHERE sessions.expiry > now()`

// DeleteCtx ends a session. It expires the row rather than deleting it, for the same
// reason as revocation. In a sign-in's transaction (RenewToken's old row), it joins
// the tail (database.Defer): the renewed session's row is another.
func (s *Store) DeleteCtx(ctx context.Context, token string) error {
	return database.Defer(ctx, s.db(ctx), "UPDATE sessions SET expiry = now() WHERE token = $1 AND expiry > now()", token)
}

// Find implements scs.Store.
func (s *Store) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit implements scs.Store.
func (s *Store) Commit(token string, data []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, data, expiry)
}

// Delete implements scs.Store.
func (s *Store) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }

// Cleanup deletes rows that expired more than a day ago (long after any request that
// could have held them has finished).
func Cleanup(ctx context.Context, db bun.IDB) (int64, error) {
	res, err := db.ExecContext(ctx, "DELETE FROM sessions WHERE expiry < now() - interval '1 day'")
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
