package sessionstore_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/sessionstore"
)

func TestCodecRoundTrip(t *testing.T) {
	deadline := time.Date(2026, 12, 5, 13, 0, 0, 123, time.UTC)
	values := map[string]any{"user_id": int64(42), "ua": "Mozilla/5.0 (X11; Linux x86_64) ünïcödé", "ip": "", "sso_at:7": int64(-1),
		"csrf": "abc", "flash_seen": true, "off": false, "": "empty key"}
	c := sessionstore.Codec{}
	b, err := c.Encode(deadline, values)
	if err != nil {
		t.Fatal(err)
	}
	gotDeadline, got, err := c.Decode(b)
	if err != nil || !gotDeadline.Equal(deadline) || !reflect.DeepEqual(got, values) {
		t.Fatalf("round trip: %v %v %v", gotDeadline, got, err)
	}
	// Every truncation and every single-byte change is an error or another valid
	// session, never a panic.
	for i := range b {
		_, _, _ = c.Decode(b[:i])
		for _, x := range []byte{0, 1, 0x7f, 0x80, 0xff} {
			m := append([]byte(nil), b...)
			m[i] = x
			_, _, _ = c.Decode(m)
		}
	}
	if _, _, err := c.Decode(b[:len(b)-1]); err == nil {
		t.Fatal("truncated data decoded")
	}
	if _, _, err := c.Decode(append(b, 0)); err == nil {
		t.Fatal("trailing data decoded")
	}

	// A value of another type is kept, in gob.
	other := map[string]any{"n": 3, "s": "x"}
	b, err = c.Encode(deadline, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Decode(b); err != nil || !reflect.DeepEqual(got, other) {
		t.Fatalf("gob fallback: %v %v", got, err)
	}
}

// Sessions written by an earlier version (scs's gob codec) stay signed in.
func TestGobSessionsStillLoad(t *testing.T) {
	db := dbtest.New(t)
	old := scs.New()
	old.Store = sessionstore.New(db.Bun)
	old.Codec = scs.GobCodec{}
	old.HashTokenInStore = true
	token := login(t, old, 9)
	sm := sessionstore.Manager(db.Bun)
	if got := userOf(t, sm, token); got != 9 {
		t.Fatalf("gob session: user %d, want 9", got)
	}
	// Written again in the compact form, the row keeps its columns.
	ctx, err := sm.Load(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	sm.Put(ctx, "csrf", "t")
	if _, _, err := sm.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var user int64
	var data []byte
	if err := db.Pool.QueryRow(context.Background(), "SELECT user_id, data FROM sessions WHERE token = $1", models.SessionHash(token)).Scan(&user, &data); err != nil || user != 9 || data[0] != 0 {
		t.Fatalf("rewritten row: user %d, %v, data %q", user, err, data[:4])
	}
	if got := userOf(t, sm, token); got != 9 {
		t.Fatalf("rewritten session: user %d", got)
	}
}
