package models

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"gatehouse/models/fetch"
	"gatehouse/models/samlsp"
)

// Audit events of the metadata refresh (SPEC §3.10).
const (
	// EventSSOMetadataRefreshed: a refresh adopted new signing certificates or SSO/SLO URLs.
	EventSSOMetadataRefreshed = "sso.metadata_refreshed"
	// EventSSOMetadataEntityChanged: the metadata announces another entity ID; held back.
	EventSSOMetadataEntityChanged = "sso.metadata_entity_changed"
)

// The refresh schedule (SPEC §3.10). After a successful fetch the next one is due at
//
//	fetch time + min(MetadataRefreshInterval, cacheDuration, validUntil − fetch time)
//
// (cacheDuration and validUntil only when the metadata states them), but never sooner
// than MetadataRefreshMinimum after it. After a failed fetch it is retried
// MetadataRetryInterval later. A URL registration that was never refreshed (only
// fetched when the owner registered it, without NextRefreshAt) is due
// MetadataRefreshInterval after that fetch.
const (
	MetadataRefreshInterval = 24 * time.Hour
	MetadataRefreshMinimum  = time.Hour
	MetadataRetryInterval   = time.Hour
	// metadataFetchTimeout bounds one download (the fetcher has its own 10 s limit).
	metadataFetchTimeout = 15 * time.Second
	// metadataRefreshSlack lets the hourly job take providers due a little after it
	// runs, so that an hourly schedule does not slip to every other run.
	metadataRefreshSlack = 5 * time.Minute
	// metadataRefreshWorkers is how many providers one job refreshes at once.
	metadataRefreshWorkers = 4
	// maxRefreshErrorLen bounds the stored failure text.
	maxRefreshErrorLen = 300
)

// NextMetadataRefresh is when metadata fetched at fetchedAt is due again (the rule
// above). idp is the parsed metadata (its ValidUntil and CacheDuration).
func NextMetadataRefresh(idp *samlsp.IdP, fetchedAt time.Time) time.Time {
	d := MetadataRefreshInterval
	if idp != nil {
		if idp.CacheDuration > 0 && idp.CacheDuration < d {
			d = idp.CacheDuration
		}
		if !idp.ValidUntil.IsZero() {
			if left := idp.ValidUntil.Sub(fetchedAt); left < d {
				d = left
			}
		}
	}
	if d < MetadataRefreshMinimum {
		d = MetadataRefreshMinimum
	}
	return fetchedAt.Add(d)
}

// Refreshable reports whether the registration is refreshed from its metadata URL.
func (c ProviderConfig) Refreshable() bool {
	return c.MetadataSource == MethodMetadataURL && c.MetadataURL != ""
}

// LastRefresh is when the metadata in use was last fetched: the last successful
// refresh, else the fetch at registration; zero when unknown.
func (c ProviderConfig) LastRefresh() time.Time {
	switch {
	case c.RefreshedAt != nil:
		return *c.RefreshedAt
	case c.FetchedAt != nil:
		return *c.FetchedAt
	}
	return time.Time{}
}

// NextRefresh is when the metadata is due again (the schedule above; DueForRefresh
// applies the same rule in SQL); zero when the registration is not refreshable or
// the time is unknown, which DueForRefresh treats as due.
func (c ProviderConfig) NextRefresh() time.Time {
	if !c.Refreshable() {
		return time.Time{}
	}
	switch {
	case c.NextRefreshAt != nil:
		return *c.NextRefreshAt
	case c.FetchedAt != nil:
		return c.FetchedAt.Add(MetadataRefreshInterval)
	}
	return time.Time{}
}

// DueForRefresh returns the IDs of the providers registered by metadata URL whose next
// refresh time (ProviderConfig.NextRefresh) is at or before now, oldest first.
func DueForRefresh(ctx context.Context, db bun.IDB, now time.Time) ([]int64, error) {
	var ids []int64
	err := db.NewRaw(`SELECT id FROM auth_providers
		WHERE config->>'metadata_source' = ? AND coalesce(config->>'metadata_url', '') <> ''
		  AND coalesce((config->>'next_refresh_at')::timestamptz,
		               (config->>'fetched_at')::timestamptz + make_interval(secs => ?),
		               '-infinity'::timestamptz) <= ?
		ORDER BY id`, MethodMetadataURL, MetadataRefreshInterval.Seconds(), now.UTC()).Scan(ctx, &ids)
	if err != nil {
		return nil, fmt.Errorf("providers due for refresh: %w", err)
	}
	return ids, nil
}

// MetadataRefreshError is a refresh that could not get usable metadata. It has been
// recorded on the provider (RefreshError, RefreshFailedAt), which keeps its old
// registration.
type MetadataRefreshError struct{ Msg string }

func (e *MetadataRefreshError) Error() string { return "metadata refresh failed: " + e.Msg }

// ErrNotRefreshable is returned for a provider that is not registered by metadata URL.
var ErrNotRefreshable = errors.New("the provider is not registered by metadata URL")

// refreshFailure words a fetch or parse failure for the Auth page: the fetcher's and
// the metadata parser's messages (which never carry a response body), else a generic
// one.
func refreshFailure(err error) string {
	var fe *fetch.Error
	var me *samlsp.MetadataError
	msg := "the metadata could not be downloaded"
	switch {
	case errors.As(err, &fe):
		msg = fe.Msg
	case errors.As(err, &me):
		msg = me.Msg
	case errors.Is(err, context.DeadlineExceeded):
		msg = "the URL did not answer in time"
	}
	if r := []rune(msg); len(r) > maxRefreshErrorLen {
		msg = string(r[:maxRefreshErrorLen]) + "…"
	}
	return msg
}

// RefreshMetadata fetches the metadata of one provider registered by URL (through the
// SSRF-guarded fetcher) and applies it:
//   - same entity ID: new signing certificates and SSO/SLO URLs are adopted (audited
//     as EventSSOMetadataRefreshed when anything changed), the failure and any pending
//     entity ID are cleared;
//   - another entity ID: nothing is applied; the new one is recorded as
//     PendingEntityID (audited once as EventSSOMetadataEntityChanged) until the owner
//     registers the IdP again;
//   - no usable metadata (download or parse failure): the old registration stays, the
//     failure is recorded and returned as a *MetadataRefreshError.
//
// The next refresh time is set in every case. The download happens outside the
// transaction; the update locks the provider row and does nothing when the owner
// changed the registration meanwhile.
func RefreshMetadata(ctx context.Context, db bun.IDB, fetcher MetadataGetter, providerID int64, now time.Time) error {
	p := new(AuthProvider)
	if err := db.NewSelect().Model(p).Where("id = ?", providerID).Scan(ctx); err != nil {
		return notFound(err, "auth provider")
	}
	if !p.Config.Refreshable() {
		return ErrNotRefreshable
	}
	metadataURL := p.Config.MetadataURL
	var idp *samlsp.IdP
	var failure string
	if fetcher == nil {
		failure = "fetching metadata is not available on this instance"
	} else {
		fctx, cancel := context.WithTimeout(ctx, metadataFetchTimeout)
		data, err := fetcher.Get(fctx, metadataURL)
		cancel()
		if err == nil {
			idp, err = samlsp.ParseMetadata(data, now)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // shutting down: not the IdP's fault, record nothing
			}
			failure = refreshFailure(err)
		}
	}

	var result error
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		result = nil
		p := new(AuthProvider)
		if err := tx.NewSelect().Model(p).Where("id = ?", providerID).For("UPDATE").Scan(ctx); err != nil {
			return notFound(err, "auth provider")
		}
		if !p.Config.Refreshable() || p.Config.MetadataURL != metadataURL {
			return nil // re-registered while we fetched: the new registration stands
		}
		cfg := p.Config
		at := now
		if failure != "" {
			cfg.RefreshError, cfg.RefreshFailedAt = failure, &at
			next := now.Add(MetadataRetryInterval)
			cfg.NextRefreshAt = &next
			result = &MetadataRefreshError{Msg: failure}
			return saveConfig(ctx, tx, p, cfg, false)
		}
		next := NextMetadataRefresh(idp, now)
		cfg.NextRefreshAt = &next
		cfg.RefreshError, cfg.RefreshFailedAt = "", nil

		if idp.EntityID != cfg.EntityID {
			announced := cfg.PendingEntityID != idp.EntityID
			cfg.PendingEntityID = idp.EntityID
			if err := saveConfig(ctx, tx, p, cfg, false); err != nil {
				return err
			}
			if !announced {
				return nil
			}
			return audit(ctx, tx, p.OrgID, System("metadata refresh"), EventSSOMetadataEntityChanged, p.DisplayName(), map[string]any{
				"entity_id": cfg.EntityID, "new_entity_id": idp.EntityID, "metadata_url": metadataURL, "applied": false})
		}

		details := metadataChanges(cfg, idp)
		cfg.PendingEntityID = ""
		cfg.Certs, cfg.SSOURL, cfg.SLOURL = idp.Certs, idp.SSOURL, idp.SLOURL
		cfg.SSOBinding, cfg.SLOBinding = idp.SSOBinding, idp.SLOBinding
		cfg.RefreshedAt, cfg.FetchedAt = &at, &at
		if err := saveConfig(ctx, tx, p, cfg, details != nil); err != nil {
			return err
		}
		if details == nil {
			return nil
		}
		details["metadata_url"] = metadataURL
		return audit(ctx, tx, p.OrgID, System("metadata refresh"), EventSSOMetadataRefreshed, p.DisplayName(), details)
	})
	if err != nil {
		return err
	}
	return result
}

// saveConfig stores cfg as p's config; changed marks an IdP registration change
// (updated_at).
func saveConfig(ctx context.Context, tx bun.Tx, p *AuthProvider, cfg ProviderConfig, changed bool) error {
	p.Config = cfg
	q := tx.NewUpdate().Model(p).Column("config").WherePK()
	if changed {
		q.Set("updated_at = now()")
	}
	if _, err := q.Exec(ctx); err != nil {
		return fmt.Errorf("update provider config: %w", err)
	}
	return nil
}

// metadataChanges describes what idp changes in cfg for the audit log, or nil when it
// changes nothing (the order of certificates does not count).
func metadataChanges(cfg ProviderConfig, idp *samlsp.IdP) map[string]any {
	d := map[string]any{}
	had, has := map[string]bool{}, map[string]bool{}
	for _, c := range cfg.Certs {
		had[string(c)] = true
	}
	added, removed := []string{}, []string{}
	for _, c := range idp.Certs {
		has[string(c)] = true
		if !had[string(c)] {
			added = append(added, samlsp.Fingerprint(c))
		}
	}
	for _, c := range cfg.Certs {
		if !has[string(c)] {
			removed = append(removed, samlsp.Fingerprint(c))
		}
	}
	if len(added) > 0 || len(removed) > 0 {
		sort.Strings(added)
		sort.Strings(removed)
		d["certs_added"], d["certs_removed"] = added, removed
	}
	if cfg.SSOURL != idp.SSOURL {
		d["sso_url"] = map[string]string{"old": cfg.SSOURL, "new": idp.SSOURL}
	}
	if cfg.SLOURL != idp.SLOURL {
		d["slo_url"] = map[string]string{"old": cfg.SLOURL, "new": idp.SLOURL}
	}
	if len(d) == 0 {
		return nil
	}
	return d
}

// MetadataRefreshArgs is the periodic job that refreshes the metadata of providers
// registered by URL when they are due (SPEC §3.10).
type MetadataRefreshArgs struct{}

// Kind implements river.JobArgs.
func (MetadataRefreshArgs) Kind() string { return "metadata_refresh" }

// MetadataRefreshWorker runs MetadataRefreshArgs: every due provider is refreshed on
// its own; a failure is recorded on that provider and does not stop the others.
type MetadataRefreshWorker struct {
	river.WorkerDefaults[MetadataRefreshArgs]
	DB      bun.IDB
	Fetcher MetadataGetter
}

// Timeout implements river.Worker: a run may download many documents, but must end
// before RescueStuckJobsAfter; an unfinished run is retried and picks up the providers
// still due.
func (w *MetadataRefreshWorker) Timeout(*river.Job[MetadataRefreshArgs]) time.Duration {
	return RescueStuckJobsAfter - time.Minute
}

// Work implements river.Worker. It returns the errors it could not record (database
// trouble), joined, so that River retries; recorded fetch failures are not errors.
func (w *MetadataRefreshWorker) Work(ctx context.Context, _ *river.Job[MetadataRefreshArgs]) error {
	ids, err := DueForRefresh(ctx, w.DB, time.Now().Add(metadataRefreshSlack))
	if err != nil {
		return err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, metadataRefreshWorkers)
	)
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := RefreshMetadata(ctx, w.DB, w.Fetcher, id, time.Now())
			var rf *MetadataRefreshError
			if err == nil || errors.As(err, &rf) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotRefreshable) {
				return
			}
			mu.Lock()
			errs = append(errs, fmt.Errorf("refresh metadata of provider %d: %w", id, err))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
