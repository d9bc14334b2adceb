package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"testing"
	"time"

	"gatehouse/handlers/testapp"
)

// BenchmarkMembersPage measures the members page server time in an org of 100,000
// members: the first page and a search. Run: go test ./handlers -run '^$' -bench MembersPage
func BenchmarkMembersPage(b *testing.B) {
	a := testapp.New(b, testapp.Options{})
	c := a.Client(b)
	c.Get("/setup/")
	if res := c.Post("/setup/", url.Values{"name": {"Owner"}, "email": {"owner@example.com"}, "password": {"owner password"},
		"org_name": {"Big"}, "org_slug": {"big"}}); res.Status != http.StatusSeeOther {
		b.Fatalf("setup: %d", res.Status)
	}
	ctx := context.Background()
	start := time.Now()
	_, err := a.DB.Bun.NewRaw(`
		WITH u AS (INSERT INTO users (email, name)
			SELECT 'member' || i || '@example.com', 'Member Number ' || i FROM generate_series(1, 100000) i RETURNING id)
		INSERT INTO members (org_id, user_id, role, joined_via) SELECT (SELECT id FROM organizations), id, 'member', 'invite' FROM u`).Exec(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := a.DB.Bun.ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded 100,000 members in %s", time.Since(start).Round(time.Millisecond))
	for _, bc := range []struct{ name, path string }{
		{"first-page", "/settings/big/members/"},
		{"page-100", "/settings/big/members/?page=100"},
		{"search", "/settings/big/members/?q=member4242"},
		{"search-name", "/settings/big/members/?q=number+99999"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			durations := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				res := c.Get(bc.path)
				durations = append(durations, time.Since(t0))
				if res.Status != http.StatusOK {
					b.Fatalf("status %d", res.Status)
				}
			}
			sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
			b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-ms")
		})
	}
}
