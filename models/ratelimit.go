package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Allow counts one hit against key in a fixed window and reports whether the hit is
// within limit, and when the window resets. The counter lives in PostgreSQL, so every
// instance shares it.
func Allow(ctx context.Context, db bun.IDB, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	var hits int
	var start time.Time
	err := db.NewRaw(`
		INSERT INTO rate_limits AS r (key, window_start, hits) VALUES (?, now(), 1)
		ON CONFLICT (key) DO UPDATE SET
		  hits = CASE WHEN r.window_start < now() - ? * interval '1 second' THEN 1 ELSE r.hits + 1 END,
		  window_start = CASE WHEN r.window_start < now() - ? * interval '1 second' THEN now() ELSE r.window_start END
		RETURNING hits, window_start`, key, window.Seconds(), window.Seconds()).Scan(ctx, &hits, &start)
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %w", key, err)
	}
	retry := time.Until(start.Add(window))
	if retry < 0 {
		retry = 0
	}
	return hits <= limit, retry, nil
}

// Password attempts (SECURITY.md "Powers": limits slow an attacker without locking
// the owner out). Every place that checks a password (the login form, the link page's
// proof) counts against the same keys:
//   - per source address: PasswordLimitPerIP per window;
//   - per source address and account: PasswordLimitPerEmail per window — one source
//     cannot guess on, and cannot lock, an account from anywhere else;
//   - per account from all sources: past PasswordLimitPerEmail attempts in a window,
//     one attempt per PasswordSlowInterval for the account — a distributed guesser is
//     slowed to a crawl while the owner waits seconds, not 15 minutes (and the reset
//     link always works).
const (
	PasswordWindow        = 15 * time.Minute
	PasswordLimitPerIP    = 30
	PasswordLimitPerEmail = 10
	PasswordSlowInterval  = 10 * time.Second
)

// AllowPasswordAttempt counts one password attempt for email from ip and reports
// whether it is within the limits, and else how long to wait.
func AllowPasswordAttempt(ctx context.Context, db bun.IDB, email, ip string) (bool, time.Duration, error) {
	ip = ClientKeyOf(ip) // an IPv6 client counts as its /64
	account := strings.ToLower(NormalizeEmail(email))
	for _, lim := range []struct {
		key string
		n   int
	}{{"login:ip:" + ip, PasswordLimitPerIP}, {"login:ip-email:" + ip + ":" + account, PasswordLimitPerEmail}} {
		ok, retry, err := Allow(ctx, db, lim.key, lim.n, PasswordWindow)
		if err != nil || !ok {
			return false, retry, err
		}
	}
	ok, _, err := Allow(ctx, db, "login:email:"+account, PasswordLimitPerEmail, PasswordWindow)
	if err != nil || ok {
		return ok, 0, err
	}
	return Allow(ctx, db, "login:email-slow:"+account, 1, PasswordSlowInterval)
}

// Sign-ups allowed per address and window.
const (
	RegisterWindow     = time.Hour
	RegisterLimitPerIP = 10
)
