package models

import (
	"context"
	"fmt"
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
