package models_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/riverqueue/river"

	"gatehouse/models"
	"gatehouse/models/fetch"
	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
	"gatehouse/views/pages"
)

// metaServer serves IdP metadata whose content (or failure) a test changes.
type metaServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	status int
	body   []byte
}

func newMetaServer(t *testing.T) *metaServer {
	m := &metaServer{status: http.StatusOK}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		m.mu.Lock()
		status, body := m.status, m.body
		m.mu.Unlock()
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *metaServer) serve(status int, body []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status, m.body = status, body
}

func (m *metaServer) url() string { return m.srv.URL + "/metadata" }

// idpFor is an IdP named by the metadata server (entity ID = its metadata URL).
func (m *metaServer) idpFor(key *rsa.PrivateKey, cert *x509.Certificate) *samltest.IdP {
	return samltest.NewWithKey(m.srv.URL, key, cert)
}

// metadataOf is idp's metadata, with the signing certificates of extra added (a
// rollover) and edit applied to the descriptor.
func metadataOf(t *testing.T, idp *samltest.IdP, extra []*x509.Certificate, edit func(*saml.EntityDescriptor)) []byte {
	t.Helper()
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(idp.Metadata(), &ed); err != nil {
		t.Fatal(err)
	}
	for _, c := range extra {
		kd := saml.KeyDescriptor{Use: "signing"}
		kd.KeyInfo.X509Data.X509Certificates = []saml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(c.Raw)}}
		ed.IDPSSODescriptors[0].KeyDescriptors = append(ed.IDPSSODescriptors[0].KeyDescriptors, kd)
	}
	if edit != nil {
		edit(&ed)
	}
	b, err := xml.Marshal(&ed)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var refreshMapping = samlsp.Mapping{Identifier: samlsp.NameIDKey, Email: "email"}

// mustRegisterByURL registers the IdP at m as org's provider, fetched at fetchedAt.
func (f *fixture) mustRegisterByURL(org *models.Organization, owner *models.User, m *metaServer, fetchedAt time.Time) *models.AuthProvider {
	f.t.Helper()
	cfg, err := models.ResolveIdP(f.ctx, fetch.New(true), models.SAMLSetup{Kind: "okta", Method: models.MethodMetadataURL,
		MetadataURL: m.url(), Mapping: refreshMapping}, fetchedAt)
	if err != nil {
		f.t.Fatalf("register by URL: %v", err)
	}
	p, err := models.SaveSAMLProvider(f.ctx, f.db.Bun, f.mailer, org.ID, actorOf(owner), "okta", cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) provider(org *models.Organization) *models.AuthProvider {
	f.t.Helper()
	p, err := models.ProviderOf(f.ctx, f.db.Bun, org.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) events(org *models.Organization, event string) []models.AuditEvent {
	f.t.Helper()
	ev, _, err := models.ListAuditEvents(f.ctx, f.db.Bun, org.ID, models.AuditFilter{Event: event})
	if err != nil {
		f.t.Fatal(err)
	}
	return ev
}

// signsIn reports whether a response from idp is accepted for org's provider p.
func signsIn(t *testing.T, org *models.Organization, p *models.AuthProvider, idp *samltest.IdP) error {
	t.Helper()
	s := models.SAMLSettings("https://gatehouse.test", org, p)
	raw := idp.Response(t, s.SP, samltest.User{NameID: "u1", Attributes: map[string][]string{"email": {"u1@example.com"}}}, samltest.Options{})
	_, err := samlsp.ValidateResponse(s, raw, "")
	return err
}

func hasCert(p *models.AuthProvider, c *x509.Certificate) bool {
	return slices.ContainsFunc(p.Config.Certs, func(der []byte) bool { return bytes.Equal(der, c.Raw) })
}

func TestMetadataRefreshCertificateRollover(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	org := f.mustCreateOrg(owner, "acme")
	m := newMetaServer(t)
	oldKey, oldCert := samltest.NewKeyPair(t)
	newKey, newCert := samltest.NewKeyPair(t)
	oldIdP, newIdP := m.idpFor(oldKey, oldCert), m.idpFor(newKey, newCert)
	m.serve(http.StatusOK, oldIdP.Metadata())
	p := f.mustRegisterByURL(org, owner, m, time.Now())
	if err := signsIn(t, org, p, newIdP); err == nil {
		t.Fatal("the new key is accepted before the refresh")
	}
	fetcher := fetch.New(true)

	// Unchanged metadata: a refresh, no audit event.
	now := time.Now()
	if err := models.RefreshMetadata(f.ctx, f.db.Bun, fetcher, p.ID, now); err != nil {
		t.Fatal(err)
	}
	p = f.provider(org)
	if p.Config.RefreshedAt == nil || !p.Config.RefreshedAt.Equal(now) || p.Config.NextRefreshAt == nil || p.Config.RefreshError != "" {
		t.Fatalf("after an unchanged refresh: %+v", p.Config)
	}
	if ev := f.events(org, models.EventSSOMetadataRefreshed); len(ev) != 0 {
		t.Fatalf("unchanged metadata audited: %+v", ev)
	}

	// Rollover, phase 1: the IdP publishes both certificates.
	m.serve(http.StatusOK, metadataOf(t, oldIdP, []*x509.Certificate{newCert}, nil))
	if err := models.RefreshMetadata(f.ctx, f.db.Bun, fetcher, p.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	p = f.provider(org)
	if len(p.Config.Certs) != 2 || !hasCert(p, oldCert) || !hasCert(p, newCert) {
		t.Fatalf("certs after phase 1: %d", len(p.Config.Certs))
	}
	for name, idp := range map[string]*samltest.IdP{"old": oldIdP, "new": newIdP} {
		if err := signsIn(t, org, p, idp); err != nil {
			t.Fatalf("response signed with the %s key refused: %v", name, err)
		}
	}
	ev := f.events(org, models.EventSSOMetadataRefreshed)
	if len(ev) != 1 || ev[0].ActorUserID != nil {
		t.Fatalf("audit after phase 1: %+v", ev)
	}
	if added, _ := ev[0].Details["certs_added"].([]any); len(added) != 1 || added[0] != samlsp.Fingerprint(newCert.Raw) {
		t.Fatalf("certs_added %v", ev[0].Details)
	}

	// Phase 2: only the new certificate, and a new SSO URL.
	m.serve(http.StatusOK, metadataOf(t, newIdP, nil, func(ed *saml.EntityDescriptor) {
		for i := range ed.IDPSSODescriptors[0].SingleSignOnServices {
			ed.IDPSSODescriptors[0].SingleSignOnServices[i].Location = m.srv.URL + "/sso/v2"
		}
	}))
	if err := models.RefreshMetadata(f.ctx, f.db.Bun, fetcher, p.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	p = f.provider(org)
	if len(p.Config.Certs) != 1 || !hasCert(p, newCert) || p.Config.SSOURL != m.srv.URL+"/sso/v2" {
		t.Fatalf("after phase 2: certs %d, SSO URL %s", len(p.Config.Certs), p.Config.SSOURL)
	}
	if err := signsIn(t, org, p, newIdP); err != nil {
		t.Fatalf("response signed with the new key refused: %v", err)
	}
	if err := signsIn(t, org, p, oldIdP); err == nil {
		t.Fatal("the retired key is still accepted")
	}
	ev = f.events(org, models.EventSSOMetadataRefreshed)
	if len(ev) != 2 || ev[0].Details["sso_url"] == nil || ev[0].Details["certs_removed"] == nil {
		t.Fatalf("audit after phase 2: %+v", ev)
	}
}

func TestMetadataRefreshFailureKeepsOldConfig(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	org := f.mustCreateOrg(owner, "acme")
	m := newMetaServer(t)
	key, cert := samltest.NewKeyPair(t)
	idp := m.idpFor(key, cert)
	m.serve(http.StatusOK, idp.Metadata())
	p := f.mustRegisterByURL(org, owner, m, time.Now())
	before := p.Config
	fetcher := fetch.New(true)

	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"server error", http.StatusInternalServerError, "secret internal stack trace", "the URL answered 500"},
		{"not XML", http.StatusOK, "secret internal page, not XML", "not valid XML"},
		{"HTML", http.StatusOK, "<html><body>secret internal page</body></html>", "not SAML metadata"},
		{"expired certificate only", http.StatusOK, "", "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			if tc.name == "expired certificate only" {
				body = idp.Metadata()
			}
			m.serve(tc.status, body)
			now := time.Now()
			if tc.name == "expired certificate only" {
				now = cert.NotAfter.Add(time.Hour) // the IdP still publishes a certificate that expired
			}
			err := models.RefreshMetadata(f.ctx, f.db.Bun, fetcher, p.ID, now)
			var rf *models.MetadataRefreshError
			if !errors.As(err, &rf) {
				t.Fatalf("got %v, want a MetadataRefreshError", err)
			}
			got := f.provider(org)
			c := got.Config
			if !strings.Contains(c.RefreshError, tc.want) || strings.Contains(c.RefreshError, "secret") {
				t.Fatalf("recorded error %q, want it to name %q and carry no body", c.RefreshError, tc.want)
			}
			if c.RefreshFailedAt == nil || !c.RefreshFailedAt.Equal(now) || c.NextRefreshAt == nil || !c.NextRefreshAt.Equal(now.Add(models.MetadataRetryInterval)) {
				t.Fatalf("failure time %v, next %v", c.RefreshFailedAt, c.NextRefreshAt)
			}
			if c.EntityID != before.EntityID || c.SSOURL != before.SSOURL || len(c.Certs) != 1 || !bytes.Equal(c.Certs[0], before.Certs[0]) || c.RefreshedAt != nil {
				t.Fatalf("the registration changed after a failed refresh: %+v", c)
			}
			if err := signsIn(t, org, got, idp); err != nil {
				t.Fatalf("sign-in after a failed refresh: %v", err)
			}
		})
	}

	// The page shows the failure.
	var buf bytes.Buffer
	if err := pages.MetadataStatus(f.provider(org)).Render(f.ctx, &buf); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	if !strings.Contains(html, `data-testid="metadata-refresh-error"`) || !strings.Contains(html, `class="flash error"`) ||
		!strings.Contains(html, "expired") || strings.Contains(html, "metadata-entity-changed") {
		t.Fatalf("status after a failure:\n%s", html)
	}

	// A later success clears the failure.
	m.serve(http.StatusOK, idp.Metadata())
	if err := models.RefreshMetadata(f.ctx, f.db.Bun, fetcher, p.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if c := f.provider(org).Config; c.RefreshError != "" || c.RefreshFailedAt != nil || c.RefreshedAt == nil {
		t.Fatalf("after recovery: %+v", c)
	}
	if ev := f.events(org, models.EventSSOMetadataRefreshed); len(ev) != 0 {
		t.Fatalf("failures or an unchanged refresh audited: %+v", ev)
	}
}

func TestMetadataRefreshEntityIDChangeHeldBack(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	org := f.mustCreateOrg(owner, "acme")
	m := newMetaServer(t)
	key, cert := samltest.NewKeyPair(t)
	idp := m.idpFor(key, cert)
	m.serve(http.StatusOK, idp.Metadata())
	p := f.mustRegisterByURL(org, owner, m, time.Now())
	before := p.Config

	// The URL now serves another IdP: other entity ID, key and URLs.
	otherKey, otherCert := samltest.NewKeyPair(t)
	other := samltest.NewWithKey("https://evil.example", otherKey, otherCert)
	m.serve(http.StatusOK, other.Metadata())
	fetcher := fetch.New(true)
	for range 2 {
		if err := models.RefreshMetadata(f.ctx, f.db.Bun, fetcher, p.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	p = f.provider(org)
	c := p.Config
	if c.PendingEntityID != other.EntityID || c.EntityID != before.EntityID || c.SSOURL != before.SSOURL || c.SLOURL != before.SLOURL ||
		len(c.Certs) != 1 || !hasCert(p, cert) || c.RefreshedAt != nil {
		t.Fatalf("entity ID change applied: %+v", c)
	}
	if err := signsIn(t, org, p, idp); err != nil {
		t.Fatalf("the registered IdP no longer signs in: %v", err)
	}
	if err := signsIn(t, org, p, other); err == nil {
		t.Fatal("the IdP with the new entity ID is accepted")
	}
	ev := f.events(org, models.EventSSOMetadataEntityChanged)
	if len(ev) != 1 || ev[0].Details["new_entity_id"] != other.EntityID {
		t.Fatalf("want one audit event for the held-back change, got %+v", ev)
	}
	if ev := f.events(org, models.EventSSOMetadataRefreshed); len(ev) != 0 {
		t.Fatalf("held-back change audited as applied: %+v", ev)
	}

	var buf bytes.Buffer
	if err := pages.MetadataStatus(p).Render(f.ctx, &buf); err != nil {
		t.Fatal(err)
	}
	if html := buf.String(); !strings.Contains(html, `data-testid="metadata-entity-changed"`) || !strings.Contains(html, other.EntityID) ||
		strings.Contains(html, "metadata-refresh-error") {
		t.Fatalf("status with a pending entity ID:\n%s", html)
	}

	// The IdP goes back to its entity ID: the warning goes away and changes apply again.
	m.serve(http.StatusOK, idp.Metadata())
	if err := models.RefreshMetadata(f.ctx, f.db.Bun, fetcher, p.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if c := f.provider(org).Config; c.PendingEntityID != "" || c.RefreshedAt == nil {
		t.Fatalf("after the IdP reverted: %+v", c)
	}
}

func TestNextMetadataRefresh(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		idp  *samlsp.IdP
		want time.Duration
	}{
		{"nothing stated", &samlsp.IdP{}, 24 * time.Hour},
		{"long cacheDuration", &samlsp.IdP{CacheDuration: 7 * 24 * time.Hour}, 24 * time.Hour},
		{"short cacheDuration", &samlsp.IdP{CacheDuration: 3 * time.Hour}, 3 * time.Hour},
		{"validUntil sooner than cacheDuration", &samlsp.IdP{CacheDuration: 6 * time.Hour, ValidUntil: t0.Add(2 * time.Hour)}, 2 * time.Hour},
		{"validUntil later than a day", &samlsp.IdP{ValidUntil: t0.Add(48 * time.Hour)}, 24 * time.Hour},
		{"tiny cacheDuration floored", &samlsp.IdP{CacheDuration: time.Second}, time.Hour},
		{"validUntil past floored", &samlsp.IdP{ValidUntil: t0.Add(-time.Hour)}, time.Hour},
	} {
		if got := models.NextMetadataRefresh(tc.idp, t0).Sub(t0); got != tc.want {
			t.Errorf("%s: next refresh after %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDueForRefresh(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	t0 := time.Now().Truncate(time.Second)
	fetcher := fetch.New(true)

	// acme: registered by URL at t0; its metadata says cacheDuration 3h.
	acme := f.mustCreateOrg(owner, "acme")
	m := newMetaServer(t)
	key, cert := samltest.NewKeyPair(t)
	idp := m.idpFor(key, cert)
	m.serve(http.StatusOK, idp.Metadata())
	p := f.mustRegisterByURL(acme, owner, m, t0)

	// globex: registered by fields, never refreshed.
	globex := f.mustCreateOrg(owner, "globex")
	fields := samltest.New(t, "https://idp.globex.example")
	cfg, err := models.ResolveIdP(f.ctx, nil, models.SAMLSetup{Method: models.MethodFields, EntityID: fields.EntityID, SSOURL: fields.SSOURL,
		Certificate: samlsp.EncodePEM([][]byte{fields.Cert.Raw}), Mapping: refreshMapping}, t0)
	if err != nil {
		t.Fatal(err)
	}
	g, err := models.SaveSAMLProvider(f.ctx, f.db.Bun, f.mailer, globex.ID, actorOf(owner), "saml2", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := models.RefreshMetadata(f.ctx, f.db.Bun, fetcher, g.ID, t0); !errors.Is(err, models.ErrNotRefreshable) {
		t.Fatalf("refresh of a fields registration: %v", err)
	}

	due := func(at time.Time) []int64 {
		t.Helper()
		ids, err := models.DueForRefresh(f.ctx, f.db.Bun, at)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	// Registered without a schedule: due a day after the fetch.
	if ids := due(t0.Add(23 * time.Hour)); len(ids) != 0 {
		t.Fatalf("due 23h after registration: %v", ids)
	}
	if ids := due(t0.Add(24 * time.Hour)); !slices.Equal(ids, []int64{p.ID}) {
		t.Fatalf("due 24h after registration: %v, want [%d]", ids, p.ID)
	}

	// A refresh at t1 of metadata with cacheDuration 3h: due 3h later.
	m.serve(http.StatusOK, metadataOf(t, idp, nil, func(ed *saml.EntityDescriptor) { ed.CacheDuration = 3 * time.Hour }))
	t1 := t0.Add(24 * time.Hour)
	if err := models.RefreshMetadata(f.ctx, f.db.Bun, fetcher, p.ID, t1); err != nil {
		t.Fatal(err)
	}
	if next := f.provider(acme).Config.NextRefresh(); !next.Equal(t1.Add(3 * time.Hour)) {
		t.Fatalf("next refresh %v, want %v", next, t1.Add(3*time.Hour))
	}
	if ids := due(t1.Add(3*time.Hour - time.Second)); len(ids) != 0 {
		t.Fatalf("due before cacheDuration ran out: %v", ids)
	}
	if ids := due(t1.Add(3 * time.Hour)); !slices.Equal(ids, []int64{p.ID}) {
		t.Fatalf("not due when cacheDuration ran out: %v", ids)
	}

	// validUntil sooner than cacheDuration wins.
	t2 := t1.Add(3 * time.Hour)
	m.serve(http.StatusOK, metadataOf(t, idp, nil, func(ed *saml.EntityDescriptor) {
		ed.CacheDuration = 12 * time.Hour
		ed.ValidUntil = t2.Add(90 * time.Minute)
	}))
	if err := models.RefreshMetadata(f.ctx, f.db.Bun, fetcher, p.ID, t2); err != nil {
		t.Fatal(err)
	}
	if ids := due(t2.Add(89 * time.Minute)); len(ids) != 0 {
		t.Fatalf("due before validUntil: %v", ids)
	}
	if ids := due(t2.Add(90 * time.Minute)); !slices.Equal(ids, []int64{p.ID}) {
		t.Fatalf("not due at validUntil: %v", ids)
	}

	// A failed refresh is retried an hour later.
	t3 := t2.Add(90 * time.Minute)
	m.serve(http.StatusServiceUnavailable, nil)
	if err := models.RefreshMetadata(f.ctx, f.db.Bun, fetcher, p.ID, t3); err == nil {
		t.Fatal("a 503 refreshed the metadata")
	}
	if ids := due(t3.Add(59 * time.Minute)); len(ids) != 0 {
		t.Fatalf("retried too soon: %v", ids)
	}
	if ids := due(t3.Add(time.Hour)); !slices.Equal(ids, []int64{p.ID}) {
		t.Fatalf("not retried after an hour: %v", ids)
	}
}

func TestMetadataRefreshWorker(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	longAgo := time.Now().Add(-25 * time.Hour)

	// acme: due, and its IdP rolled its key over.
	acme := f.mustCreateOrg(owner, "acme")
	ma := newMetaServer(t)
	oldKey, oldCert := samltest.NewKeyPair(t)
	ma.serve(http.StatusOK, ma.idpFor(oldKey, oldCert).Metadata())
	f.mustRegisterByURL(acme, owner, ma, longAgo)
	newKey, newCert := samltest.NewKeyPair(t)
	newIdP := ma.idpFor(newKey, newCert)
	ma.serve(http.StatusOK, newIdP.Metadata())

	// globex: due, and its metadata URL now fails.
	globex := f.mustCreateOrg(owner, "globex")
	mg := newMetaServer(t)
	gKey, gCert := samltest.NewKeyPair(t)
	gIdP := mg.idpFor(gKey, gCert)
	mg.serve(http.StatusOK, gIdP.Metadata())
	f.mustRegisterByURL(globex, owner, mg, longAgo)
	mg.serve(http.StatusInternalServerError, []byte("boom"))

	// initech: registered just now, not due; its IdP rolled over too.
	initech := f.mustCreateOrg(owner, "initech")
	mi := newMetaServer(t)
	iKey, iCert := samltest.NewKeyPair(t)
	mi.serve(http.StatusOK, mi.idpFor(iKey, iCert).Metadata())
	f.mustRegisterByURL(initech, owner, mi, time.Now())
	i2Key, i2Cert := samltest.NewKeyPair(t)
	mi.serve(http.StatusOK, mi.idpFor(i2Key, i2Cert).Metadata())

	w := &models.MetadataRefreshWorker{DB: f.db.Bun, Fetcher: fetch.New(true)}
	ctx, cancel := context.WithTimeout(f.ctx, time.Minute)
	defer cancel()
	if err := w.Work(ctx, &river.Job[models.MetadataRefreshArgs]{}); err != nil {
		t.Fatalf("worker: %v (a recorded fetch failure is not a job error)", err)
	}

	pa := f.provider(acme)
	if len(pa.Config.Certs) != 1 || !hasCert(pa, newCert) || pa.Config.RefreshedAt == nil {
		t.Fatalf("acme not refreshed: %+v", pa.Config)
	}
	if err := signsIn(t, acme, pa, newIdP); err != nil {
		t.Fatalf("acme with the new key: %v", err)
	}
	pg := f.provider(globex)
	if pg.Config.RefreshError != "the URL answered 500" || !hasCert(pg, gCert) {
		t.Fatalf("globex: %+v", pg.Config)
	}
	if err := signsIn(t, globex, pg, gIdP); err != nil {
		t.Fatalf("globex after a failed refresh: %v", err)
	}
	if pi := f.provider(initech); !hasCert(pi, iCert) || hasCert(pi, i2Cert) || pi.Config.RefreshedAt != nil || pi.Config.RefreshFailedAt != nil {
		t.Fatalf("initech refreshed before it was due: %+v", pi.Config)
	}

	// Nothing is due any more: a second run fetches nothing.
	ids, err := models.DueForRefresh(f.ctx, f.db.Bun, time.Now())
	if err != nil || len(ids) != 0 {
		t.Fatalf("due after the run: %v %v", ids, err)
	}
}
