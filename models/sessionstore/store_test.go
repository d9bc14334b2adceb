package sessionstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/sessionstore"
)

// login starts a session for userID and returns its cookie token.
func login(t *testing.T, sm *scs.SessionManager, userID int64) string {
	t.Helper()
	ctx, err := sm.Load(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	sm.Put(ctx, sessionstore.KeyUserID, userID)
	sm.Put(ctx, sessionstore.KeyUserAgent, "test-agent")
	token, _, err := sm.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func userOf(t *testing.T, sm *scs.SessionManager, token string) int64 {
	t.Helper()
	ctx, err := sm.Load(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	return sm.GetInt64(ctx, sessionstore.KeyUserID)
}

func TestSessionStore(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	sm := sessionstore.Manager(db.Bun)
	sm.Lifetime = time.Hour

	// Login persists, and the row knows its user (never the raw cookie token).
	a1 := login(t, sm, 7)
	if got := userOf(t, sm, a1); got != 7 {
		t.Fatalf("session user = %d, want 7", got)
	}
	var rowUser int64
	var ua string
	if err := db.Pool.QueryRow(ctx, "SELECT user_id, user_agent FROM sessions WHERE token = $1", models.SessionHash(a1)).Scan(&rowUser, &ua); err != nil {
		t.Fatalf("row by hashed token: %v", err)
	}
	if rowUser != 7 || ua != "test-agent" {
		t.Fatalf("row user=%d ua=%q", rowUser, ua)
	}
	var raw int
	_ = db.Pool.QueryRow(ctx, "SELECT count(*) FROM sessions WHERE token = $1", a1).Scan(&raw)
	if raw != 0 {
		t.Fatal("the raw cookie token is stored")
	}

	// Revoke ends every session of the user at once, and only theirs.
	a2, a3 := login(t, sm, 7), login(t, sm, 7)
	b1 := login(t, sm, 8)
	n, err := models.RevokeUserSessions(ctx, db.Bun, 7, "")
	if err != nil || n != 3 {
		t.Fatalf("revoked %d (%v), want 3", n, err)
	}
	for _, tok := range []string{a1, a2, a3} {
		if got := userOf(t, sm, tok); got != 0 {
			t.Fatalf("revoked session still signed in as %d", got)
		}
	}
	if got := userOf(t, sm, b1); got != 8 {
		t.Fatalf("other user's session ended: %d", got)
	}

	// "Sign out everywhere else" keeps the current session.
	c1, c2 := login(t, sm, 9), login(t, sm, 9)
	if _, err := models.RevokeUserSessions(ctx, db.Bun, 9, models.SessionHash(c1)); err != nil {
		t.Fatal(err)
	}
	if userOf(t, sm, c1) != 9 || userOf(t, sm, c2) != 0 {
		t.Fatal("keep-current revocation wrong")
	}
}

func TestInFlightRequestCannotReviveRevokedSession(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	sm := sessionstore.Manager(db.Bun)
	sm.Lifetime = time.Hour

	token := login(t, sm, 7)
	// A request loads the session...
	reqCtx, err := sm.Load(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	// ...the session is revoked while it runs...
	if _, err := models.RevokeUserSessions(ctx, db.Bun, 7, ""); err != nil {
		t.Fatal(err)
	}
	// ...and the request then writes the session back.
	sm.Put(reqCtx, "flash", "hello")
	if _, _, err := sm.Commit(reqCtx); err != nil {
		t.Fatal(err)
	}
	if got := userOf(t, sm, token); got != 0 {
		t.Fatalf("revoked session revived for user %d", got)
	}
	// Destroy (logout) uses the same expiry, and a write afterwards cannot revive it either.
	t2 := login(t, sm, 8)
	c2, _ := sm.Load(ctx, t2)
	c3, _ := sm.Load(ctx, t2)
	if err := sm.Destroy(c2); err != nil {
		t.Fatal(err)
	}
	sm.Put(c3, "x", "y")
	if _, _, err := sm.Commit(c3); err != nil {
		t.Fatal(err)
	}
	if got := userOf(t, sm, t2); got != 0 {
		t.Fatalf("destroyed session revived for %d", got)
	}
}
