package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
)

// BenchmarkMemberAndSCIMLists is the member lists of a large instance: 400,000 users;
// org "small" with 1,000 members and org "acme" with 300,000 (SCIM on). Members page:
// the first page of the small org, a page reached by cursor in the middle of each org
// (keyset), and the big org's first page. SCIM: the first page, a middle page served by
// keyset (the page before it was served) and a middle page by offset (no page before).
//
//	go test ./handlers -run '^$' -bench MemberAndSCIMLists -benchtime 50x
func BenchmarkMemberAndSCIMLists(b *testing.B) {
	a := testapp.New(b, testapp.Options{})
	c := a.Client(b)
	c.Get("/setup/")
	if res := c.Post("/setup/", url.Values{"name": {"Owner"}, "email": {"owner@example.com"}, "password": {"owner password"},
		"org_name": {"Acme"}, "org_slug": {"acme"}}); res.Status != http.StatusSeeOther {
		b.Fatalf("setup: %d", res.Status)
	}
	ctx := context.Background()
	start := time.Now()
	for _, q := range []string{
		`INSERT INTO organizations (name, slug) VALUES ('Small', 'small')`,
		`INSERT INTO members (org_id, user_id, role, joined_via) SELECT o.id, 1, 'owner', 'creator' FROM organizations o WHERE o.slug = 'small'`,
		`INSERT INTO users (email, name) SELECT 'user' || i || '@example.com', 'User Number ' || i FROM generate_series(1, 400000) i`,
		`INSERT INTO members (org_id, user_id, role, joined_via) SELECT (SELECT id FROM organizations WHERE slug = 'acme'), id, 'member', 'scim' FROM users WHERE id > 1 AND id <= 300001`,
		`INSERT INTO members (org_id, user_id, role, joined_via) SELECT (SELECT id FROM organizations WHERE slug = 'small'), id, 'member', 'invite' FROM users WHERE id > 300001 AND id <= 301000`,
		`INSERT INTO auth_providers (org_id, kind, status, config, scim_enabled) SELECT id, 'saml2', 'active', '{}', true FROM organizations WHERE slug = 'acme'`,
		`VACUUM ANALYZE`,
	} {
		if _, err := a.DB.Bun.ExecContext(ctx, q); err != nil {
			b.Fatalf("%.60s: %v", q, err)
		}
	}
	b.Logf("seeded 400,000 users, orgs of 300,000 and 1,000 members in %s", time.Since(start).Round(time.Millisecond))
	var orgID int64
	if err := a.DB.Bun.QueryRowContext(ctx, "SELECT id FROM organizations WHERE slug = 'acme'").Scan(&orgID); err != nil {
		b.Fatal(err)
	}
	token, _, err := models.CreateSCIMToken(ctx, a.DB.Bun, a.Handler.Mailer, orgID, models.System("bench"))
	if err != nil {
		b.Fatal(err)
	}
	cursor := func(slug string, offset int) string {
		var id int64
		if err := a.DB.Bun.QueryRowContext(ctx, `SELECT m.id FROM members m JOIN organizations o ON o.id = m.org_id
			WHERE o.slug = ? AND m.user_id IS NOT NULL ORDER BY lower(m.email), m.id OFFSET ? LIMIT 1`, slug, offset).Scan(&id); err != nil {
			b.Fatal(err)
		}
		return strconv.FormatInt(id, 10)
	}
	page := func(path string) func() int {
		return func() int { return c.Get(path).Status }
	}
	scim := func(path string) func() int {
		return func() int {
			req := httptest.NewRequest(http.MethodGet, "/api/0/organizations/acme/scim/v2"+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := a.Fiber.Test(req, -1)
			if err != nil {
				b.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
	}
	// Join the small org as its owner so its pages can be seen.
	smallMid, bigMid := cursor("small", 500), cursor("acme", 150000)
	for _, bc := range []struct {
		name string
		do   func() int
		prep func()
	}{
		{name: "members-1k-org/first-page", do: page("/settings/small/members/")},
		{name: "members-1k-org/middle-page-cursor", do: page("/settings/small/members/?after=" + smallMid)},
		{name: "members-1k-org/middle-page-before", do: page("/settings/small/members/?before=" + smallMid)},
		{name: "members-300k-org/first-page", do: page("/settings/acme/members/")},
		{name: "members-300k-org/middle-page-cursor", do: page("/settings/acme/members/?after=" + bigMid)},
		{name: "scim-300k/first-page", do: scim("/Users?startIndex=1&count=100")},
		{name: "scim-300k/middle-page-keyset", do: scim("/Users?startIndex=150001&count=100"),
			prep: func() { scim("/Users?startIndex=149901&count=100")() }},
		{name: "scim-300k/middle-page-offset", do: scim("/Users?startIndex=150101&count=99")},
		{name: "scim-300k/filter-userName", do: scim("/Users?filter=" + url.QueryEscape(`userName eq "user77777@example.com"`))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.prep != nil {
				bc.prep()
			}
			durations := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				st := bc.do()
				durations = append(durations, time.Since(t0))
				if st != http.StatusOK {
					b.Fatalf("status %d", st)
				}
			}
			sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
			b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(durations[len(durations)-1].Microseconds())/1000, "max-ms")
		})
	}
}

// BenchmarkSCIMConcurrentMix is an Entra-like steady-state mix from 200 concurrent
// clients (one connection each) against the org of 100,000 members: per round each
// client looks a user up by userName, PATCHes a member (displayName, then active
// true), creates a user, and every tenth round deletes the user it created. Reports
// requests/s, p50 and p99.
//
//	go test ./handlers -run '^$' -bench SCIMConcurrentMix -benchtime 3x
func BenchmarkSCIMConcurrentMix(b *testing.B) {
	l := newSCIMLoad(b)
	const clients, rounds = 200, 10
	l.client = &http.Client{Transport: &http.Transport{MaxConnsPerHost: clients, MaxIdleConnsPerHost: clients}, Timeout: 60 * time.Second}
	var ids []int64
	if err := l.a.DB.Bun.NewRaw("SELECT id FROM members WHERE org_id = 1 AND role = 'member' ORDER BY id LIMIT 20000").Scan(context.Background(), &ids); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var durations []time.Duration
	failures := 0
	requests := 0
	b.ResetTimer()
	start := time.Now()
	for it := 0; it < b.N; it++ {
		var wg sync.WaitGroup
		for cl := 0; cl < clients; cl++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				bad := 0
				rec := func(st int, ok ...int) {
					good := st == 200
					for _, o := range ok {
						good = good || st == o
					}
					if !good {
						bad++
					}
				}
				for r := 0; r < rounds; r++ {
					n := (it*clients+cl)*rounds + r
					id := ids[n%len(ids)]
					st, _, d := l.do("GET", "/Users?filter="+url.QueryEscape(fmt.Sprintf(`userName eq "seed%d@example.com"`, n%100000+1)), "")
					rec(st)
					mine = append(mine, d)
					st, _, d = l.do("PATCH", fmt.Sprintf("/Users/%d", id), `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"displayName","value":"Renamed `+strconv.Itoa(n)+`"},{"op":"Replace","path":"active","value":true}]}`)
					rec(st, 204)
					mine = append(mine, d)
					upn := fmt.Sprintf("mix%d-%d@contoso.example", it, n)
					st, raw, d := l.do("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"active":true,"emails":[{"primary":true,"type":"work","value":%q}]}`, upn, upn))
					rec(st, 201)
					mine = append(mine, d)
					if r%10 == 9 && st == 201 {
						st, _, d = l.do("DELETE", "/Users/"+idOf(raw), "")
						rec(st, 204)
						mine = append(mine, d)
					}
				}
				mu.Lock()
				durations = append(durations, mine...)
				failures += bad
				requests += len(mine)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if failures > 0 {
		b.Fatalf("%d of %d requests failed", failures, requests)
	}
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	b.ReportMetric(float64(requests)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds())/1000, "p99-ms")
}
