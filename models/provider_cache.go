package models

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/uptrace/bun"
)

// The ACS reads an org's provider for every response it receives. ProviderCache lets
// it reuse what it read for ProviderCacheTTL, so a sign-in is one database commit
// (the completion's) instead of two, and one database round trip fewer of ten.
//
// A cached provider can be older than the row: an owner may have changed it (a
// certificate, IdP-initiated sign-in, the mapping) a moment ago, on this instance or
// another. So the cache only ever helps the ACS *validate*; it never decides. The
// ACS seals the version it validated under into the handoff (SAMLHandoff.
// ProviderVersion), and the completing transaction reads the provider row itself and
// refuses the sign-in unless the row is still that version (ReasonSettingsChanged).
// The version is the row's id and settings_version, which a trigger bumps on every
// UPDATE that changes a setting, whichever code path makes it (the settings pages,
// the CLI, metadata refresh, another instance), so no writer has to remember to
// invalidate anything; bookkeeping (refresh times, certificate warnings) leaves it
// alone. A sign-in is therefore accepted only under the provider settings in the
// database when it completes, as without the cache; the cost of a stale entry is
// that a response arriving within ProviderCacheTTL of a change is refused at
// completion and the person signs in again. (The completion reads the provider
// without locking it: a change that commits while a sign-in is completing, within
// milliseconds, does not stop that sign-in; one that committed before it does.)
//
// A change made through this instance is seen at once: the cache watches this
// instance's statements (a bun query hook) and, after any that writes auth_providers,
// forgets everything and reads afresh for ProviderCacheTTL (the change's transaction
// commits within it; until then the old row is what a read would see anyway). Only
// another instance's change waits for the entry to age out.
//
// Only found providers are kept (an unknown slug does not grow the cache), at most
// providerCacheMax of them.

// ProviderCacheTTL is how long the ACS reuses a provider it read.
const ProviderCacheTTL = time.Second

// providerCacheMax bounds the entries; past it the cache starts over.
const providerCacheMax = 4096

// ProviderCache is the ACS's short memory of org providers, by org slug. A nil
// *ProviderCache reads every time.
type ProviderCache struct {
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]providerEntry
	// bypassUntil: a provider was written through this instance; read afresh until.
	bypassUntil time.Time
}

type providerEntry struct {
	org     Organization
	p       AuthProvider
	version string
	read    time.Time
}

// NewProviderCache returns an empty cache that watches db's statements for writes to
// providers (call it before db serves requests: bun adds hooks unsynchronised).
func NewProviderCache(db *bun.DB) *ProviderCache {
	c := &ProviderCache{entries: map[string]providerEntry{}}
	db.AddQueryHook(providerWrites{c})
	return c
}

// providerWrites is the query hook that tells the cache of writes to providers.
type providerWrites struct{ c *ProviderCache }

func (providerWrites) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

func (h providerWrites) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if writesProviders(e.Query) {
		h.c.invalidate()
	}
}

// writesProviders reports whether a statement may write auth_providers: it names the
// table and is not a SELECT. (bun calls every raw statement a SELECT, so the text
// decides; a WITH that only reads counts as a write, which costs a cache refill.)
func writesProviders(query string) bool {
	if !strings.Contains(query, "auth_providers") {
		return false
	}
	first, _, _ := strings.Cut(strings.TrimLeftFunc(query, unicode.IsSpace), " ")
	return !strings.EqualFold(first, "SELECT")
}

// invalidate forgets every entry and reads afresh for ProviderCacheTTL.
func (c *ProviderCache) invalidate() {
	now := c.now()
	c.mu.Lock()
	clear(c.entries)
	c.bypassUntil = now.Add(ProviderCacheTTL)
	c.mu.Unlock()
}

// OrgAndProvider is models.OrgAndProvider with the provider's version, served from
// the cache when it was read less than ProviderCacheTTL ago. The org and provider
// returned are the caller's copies; their maps and slices are shared and read-only.
func (c *ProviderCache) OrgAndProvider(ctx context.Context, db bun.IDB, slug string) (*Organization, *AuthProvider, string, error) {
	if c == nil {
		return OrgAndProviderVersion(ctx, db, slug)
	}
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[slug]
	bypass := now.Before(c.bypassUntil)
	c.mu.Unlock()
	if ok && !bypass && now.Sub(e.read) < ProviderCacheTTL && !now.Before(e.read) {
		org, p := e.org, e.p
		return &org, &p, e.version, nil
	}
	org, p, version, err := OrgAndProviderVersion(ctx, db, slug)
	if err != nil || p == nil || bypass {
		return org, p, version, err
	}
	c.mu.Lock()
	if now.Before(c.bypassUntil) { // a write went by while this read ran
		c.mu.Unlock()
		return org, p, version, nil
	}
	if len(c.entries) >= providerCacheMax {
		clear(c.entries)
	}
	c.entries[slug] = providerEntry{org: *org, p: *p, version: version, read: now}
	c.mu.Unlock()
	return org, p, version, nil
}

func (c *ProviderCache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
