package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
)

// scimLoad is a served app with org acme (active SSO, SCIM on), 100,000 members and
// 1,000 teams, and an HTTP client keeping 8 connections.
type scimLoad struct {
	a      *testapp.App
	token  string
	client *http.Client
	base   string
}

func newSCIMLoad(b *testing.B) *scimLoad {
	a := testapp.Serve(b, testapp.Options{})
	ctx := context.Background()
	c := a.Client(b)
	c.Get("/setup/")
	c.Post("/setup/", url.Values{"name": {"Owner"}, "email": {"owner@example.com"}, "password": {"owner password"}, "org_name": {"Acme"}, "org_slug": {"acme"}})
	for _, q := range []string{
		`INSERT INTO auth_providers (org_id, kind, status, config, scim_enabled) VALUES (1, 'saml2', 'active', '{}', true)`,
		// Seeding may outlast the 15 s statement timeout of the app (the SET stays on that pooled connection).
		`SET statement_timeout = 0; WITH u AS (INSERT INTO users (email, name) SELECT 'seed' || i || '@example.com', 'Seed ' || i FROM generate_series(1, 100000) i RETURNING id)
		 INSERT INTO members (org_id, user_id, role, joined_via) SELECT 1, id, 'member', 'scim' FROM u`,
		`INSERT INTO teams (org_id, slug, name) SELECT 1, 'team-' || i, 'Team ' || i FROM generate_series(1, 1000) i`,
		`ANALYZE`,
	} {
		if _, err := a.DB.Bun.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	token, _, err := models.CreateSCIMToken(ctx, a.DB.Bun, a.Handler.Mailer, 1, models.System("load"))
	if err != nil {
		b.Fatal(err)
	}
	return &scimLoad{a: a, token: token, base: a.BaseURL + "/api/0/organizations/acme/scim/v2",
		client: &http.Client{Transport: &http.Transport{MaxConnsPerHost: 8, MaxIdleConnsPerHost: 8}, Timeout: 30 * time.Second}}
}

func (l *scimLoad) do(method, path, body string) (int, string, time.Duration) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, l.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+l.token)
	req.Header.Set("Content-Type", "application/scim+json")
	t0 := time.Now()
	res, err := l.client.Do(req)
	if err != nil {
		return 0, err.Error(), time.Since(t0)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res.StatusCode, string(raw), time.Since(t0)
}

func percentiles(b *testing.B, name string, ds []time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	p50, p99 := ds[len(ds)/2], ds[len(ds)*99/100]
	b.ReportMetric(float64(p50.Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, name+"-p99-ms")
}

func idOf(raw string) string {
	i := strings.Index(raw, `"id":"`)
	if i < 0 {
		return ""
	}
	rest := raw[i+6:]
	return rest[:strings.IndexByte(rest, '"')]
}

// BenchmarkSCIMSingleOps measures single-resource operations in an org of 100,000
// members and 1,000 teams. Run: go test ./handlers -run '^$' -bench SCIMSingleOps -benchtime 1x
func BenchmarkSCIMSingleOps(b *testing.B) {
	l := newSCIMLoad(b)
	const n = 200
	var get, post, deact, group []time.Duration
	var ids []string
	for i := 0; i < n; i++ {
		st, _, d := l.do("GET", "/Users?filter="+url.QueryEscape(fmt.Sprintf(`userName eq "seed%d@example.com"`, i*397+1)), "")
		if st != 200 {
			b.Fatalf("GET %d", st)
		}
		get = append(get, d)
		st, raw, d := l.do("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new%d@example.com","active":true}`, i))
		if st != 201 {
			b.Fatalf("POST %d %s", st, raw)
		}
		post = append(post, d)
		ids = append(ids, idOf(raw))
	}
	for _, id := range ids {
		st, raw, d := l.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`)
		if st != 200 {
			b.Fatalf("PATCH %d %s", st, raw)
		}
		deact = append(deact, d)
	}
	for i := 0; i < 50; i++ {
		var vals []string
		for j := 0; j < 100; j++ {
			vals = append(vals, fmt.Sprintf(`{"value":"%d"}`, 2+i*1000+j))
		}
		st, raw, d := l.do("PATCH", fmt.Sprintf("/Groups/%d?excludedAttributes=members", i+1),
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[`+strings.Join(vals, ",")+`]}]}`)
		if st != 200 {
			b.Fatalf("group PATCH %d %s", st, raw)
		}
		group = append(group, d)
	}
	percentiles(b, "get-filter", get)
	percentiles(b, "post-user", post)
	percentiles(b, "patch-deactivate", deact)
	percentiles(b, "group-add-100", group)
}

// BenchmarkSCIMEntraSync is an Entra-like initial sync of 10,000 users and 100
// groups (look-up, create; groups created then filled by PATCH) from 8 connections,
// into the org of 100,000 members. Run: go test ./handlers -run '^$' -bench SCIMEntraSync -benchtime 1x
func BenchmarkSCIMEntraSync(b *testing.B) {
	l := newSCIMLoad(b)
	const users, groups, workers = 10000, 100, 8
	ids := make([]string, users)
	var failed sync.Map
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				upn := fmt.Sprintf("sync%d@contoso.example", i)
				if st, raw, _ := l.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+upn+`"`), ""); st != 200 {
					failed.Store(upn, raw)
					continue
				}
				st, raw, _ := l.do("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"externalId":"e%d","userName":%q,"active":true,"displayName":"Sync %d","emails":[{"primary":true,"type":"work","value":%q}],"name":{"givenName":"Sync","familyName":"%d"}}`, i, upn, i, upn, i))
				if st != 201 {
					failed.Store(upn, raw)
					continue
				}
				ids[i] = idOf(raw)
			}
		}()
	}
	for i := 0; i < users; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	gwork := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range gwork {
				name := fmt.Sprintf("Sync Group %d", g)
				l.do("GET", "/Groups?excludedAttributes=members&filter="+url.QueryEscape(`displayName eq "`+name+`"`), "")
				st, raw, _ := l.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"`+name+`","members":[]}`)
				if st != 201 {
					failed.Store(name, raw)
					continue
				}
				gid := idOf(raw)
				var vals []string
				for j := g * 100; j < g*100+100; j++ {
					if ids[j] != "" {
						vals = append(vals, `{"value":"`+ids[j]+`"}`)
					}
				}
				if st, raw, _ := l.do("PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[`+strings.Join(vals, ",")+`]}]}`); st != 200 && st != 204 {
					failed.Store(name+" members", raw)
				}
			}
		}()
	}
	for g := 0; g < groups; g++ {
		gwork <- g
	}
	close(gwork)
	wg.Wait()
	elapsed := time.Since(start)
	n := 0
	failed.Range(func(k, v any) bool {
		if n < 3 {
			b.Logf("failed %v: %.200v", k, v)
		}
		n++
		return true
	})
	if n > 0 {
		b.Fatalf("%d operations failed", n)
	}
	b.ReportMetric(elapsed.Seconds(), "sync-s")
}
