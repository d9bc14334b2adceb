package models

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"gatehouse/models/samlsp"
)

// Provider statuses.
const (
	ProviderPending = "pending"
	ProviderActive  = "active"
)

// AuthProvider is an org's sign-in provider (at most one).
type AuthProvider struct {
	bun.BaseModel `bun:"table:auth_providers"`

	ID                  int64          `bun:"id,pk,autoincrement"`
	OrgID               int64          `bun:"org_id"`
	Kind                string         `bun:"kind"`
	Status              string         `bun:"status"`
	Config              ProviderConfig `bun:"config,type:jsonb"`
	RequireSSO          bool           `bun:"require_sso"`
	SCIMEnabled         bool           `bun:"scim_enabled"`
	AllowIdPInitiated   bool           `bun:"allow_idp_initiated"`
	AllowUnsignedLogout bool           `bun:"allow_unsigned_logout"`
	ClockSkewMinutes    int            `bun:"clock_skew_minutes"`    // SAML time checks' allowed skew
	MaxAssertionMinutes int            `bun:"max_assertion_minutes"` // longest SAML assertion accepted
	SSOSessionHours     int            `bun:"sso_session_hours"`
	SPKeySealed         string         `bun:"sp_key_sealed"`     // see Keyring
	SPCert              []byte         `bun:"sp_cert"`           // DER, published in the SP metadata
	SignRequests        bool           `bun:"sign_requests"`     // sign AuthnRequests (RSA-SHA256)
	RequireEncrypted    bool           `bun:"require_encrypted"` // refuse plaintext assertions
	CreatedByID         *int64         `bun:"created_by_id"`
	ActivatedAt         *time.Time     `bun:"activated_at"`
	CreatedAt           time.Time      `bun:"created_at,nullzero,default:now()"`
	UpdatedAt           time.Time      `bun:"updated_at,nullzero,default:now()"`
	// SettingsVersion is kept by a trigger (orgWithProvider.Version); scanned when a
	// statement returns it, never written.
	SettingsVersion int64 `bun:"settings_version,scanonly"`
}

// ProviderConfig is the stored registration of a SAML IdP and its attribute mapping.
type ProviderConfig struct {
	EntityID       string         `json:"entity_id"`
	SSOURL         string         `json:"sso_url"`
	SLOURL         string         `json:"slo_url,omitempty"`
	SSOBinding     string         `json:"sso_binding,omitempty"` // as published; "" = HTTP-Redirect
	SLOBinding     string         `json:"slo_binding,omitempty"`
	Certs          [][]byte       `json:"certs"`
	MetadataSource string         `json:"metadata_source"` // url, xml, fields
	MetadataURL    string         `json:"metadata_url,omitempty"`
	FetchedAt      *time.Time     `json:"fetched_at,omitempty"`
	Mapping        samlsp.Mapping `json:"mapping"`
	// Google Workspace: the allowed domains; GitHub: the organization (SPEC §6).
	Domains   []string `json:"domains,omitempty"`
	GitHubOrg string   `json:"github_org,omitempty"`
	// Metadata refresh (SPEC §3.10, metadata_refresh.go), for URL registrations.
	RefreshedAt     *time.Time `json:"refreshed_at,omitempty"`      // last successful refresh
	RefreshError    string     `json:"refresh_error,omitempty"`     // why the last refresh failed ("" when it did not)
	RefreshFailedAt *time.Time `json:"refresh_failed_at,omitempty"` // when it failed
	PendingEntityID string     `json:"pending_entity_id,omitempty"` // entity ID the metadata now announces, held back
	NextRefreshAt   *time.Time `json:"next_refresh_at,omitempty"`   // when the metadata is due again
	// CertWarnings is the expiry warning last emailed per certificate fingerprint
	// ("expiring" or "expired", cert_expiry.go).
	CertWarnings map[string]string `json:"cert_warnings,omitempty"`
}

// Active reports whether members can sign in with it.
func (p *AuthProvider) Active() bool { return p.Status == ProviderActive }

// IsSAML reports whether the provider is one of the SAML kinds.
func (p *AuthProvider) IsSAML() bool {
	_, ok := samlsp.PresetOf(p.Kind)
	return ok
}

// DisplayName is the provider's name as the pages show it.
func (p *AuthProvider) DisplayName() string {
	if pr, ok := samlsp.PresetOf(p.Kind); ok {
		return pr.Name
	}
	switch p.Kind {
	case KindGoogle:
		return "Google Workspace"
	case KindGitHub:
		return "GitHub"
	}
	return p.Kind
}

// IdPName names the identity provider for the people who sign in through it: the
// preset's name (Okta, Microsoft Entra ID …), or "single sign-on" for a generic SAML2
// registration, whose protocol is not a provider's name ("Log in with single sign-on").
func (p *AuthProvider) IdPName() string {
	if p.Kind == "saml2" {
		return "single sign-on"
	}
	return p.DisplayName()
}

// IdP is the registration in samlsp's terms.
func (c ProviderConfig) IdP() samlsp.IdP {
	return samlsp.IdP{EntityID: c.EntityID, SSOURL: c.SSOURL, SLOURL: c.SLOURL, Certs: c.Certs, SSOBinding: c.SSOBinding, SLOBinding: c.SLOBinding}
}

// SAMLSettings is what samlsp needs to talk to this org's IdP.
func SAMLSettings(baseURL string, org *Organization, p *AuthProvider) samlsp.Settings {
	return samlsp.Settings{SP: samlsp.NewSP(baseURL, org.Slug), IdP: p.Config.IdP(),
		ClockSkew: time.Duration(p.ClockSkewMinutes) * time.Minute, MaxAssertionLife: time.Duration(p.MaxAssertionMinutes) * time.Minute}
}

// OrgAndProvider returns the org of slug and its provider in one statement (the SSO
// endpoints' first read). An org without a provider is returned with an error that
// IsNotFound; a missing org is ErrNotFound with no org.
func OrgAndProvider(ctx context.Context, db bun.IDB, slug string) (*Organization, *AuthProvider, error) {
	org, p, _, err := OrgAndProviderVersion(ctx, db, slug)
	return org, p, err
}

// OrgAndProviderVersion is OrgAndProvider with the provider's version
// (orgWithProvider.Version), read now: ProviderCache.OrgAndProvider without the cache.
func OrgAndProviderVersion(ctx context.Context, db bun.IDB, slug string) (*Organization, *AuthProvider, string, error) {
	return orgAndProvider(ctx, db, qOrgProviderBySlug, slug, func() (*Organization, error) { return OrgBySlug(ctx, db, slug) })
}

// OrgAndProviderByID is OrgAndProvider by the org's id.
func OrgAndProviderByID(ctx context.Context, db bun.IDB, orgID int64) (*Organization, *AuthProvider, error) {
	org, p, _, err := orgAndProvider(ctx, db, qOrgProviderByID, orgID, func() (*Organization, error) { return getOrg(ctx, db, orgID) })
	return org, p, err
}

// orgWithProvider is one row of both (a prepared statement: see prepared.go).
type orgWithProvider struct {
	P AuthProvider `bun:"embed:p_"`
	O Organization `bun:"embed:o_"`
	// Version names this version of the provider's settings: its id and
	// settings_version, which a trigger bumps on every UPDATE that changes them,
	// whichever code path makes it (migration 20261206120000). A sign-in validated
	// under one version completes only under the same one (CompleteSSOHandoff).
	Version string `bun:"version"`
	// Fresh: the assertion was new to the replay cache (qOpenHandoff only).
	Fresh bool `bun:"fresh"`
}

var (
	qOrgProviderBySlug = prepareOrgProvider("o.slug = $1")
	qOrgProviderByID   = prepareOrgProvider("p.org_id = $1")
)

func prepareOrgProvider(where string) *preparedQuery {
	return prepare(func(db bun.IDB) string { return orgProviderSQL(db, "", "", where) })
}

// orgProviderSQL selects one orgWithProvider row where where holds, with extra
// columns ("" or ", …") after the version and join ("" or " … JOIN …") after the
// provider and its org.
func orgProviderSQL(db bun.IDB, extra, join, where string) string {
	return "SELECT " + columnsOf(db, (*AuthProvider)(nil), "p", "p_") + ", " + columnsOf(db, (*Organization)(nil), "o", "o_") +
		", p.id::text || '.' || p.settings_version::text AS version" + extra +
		" FROM auth_providers AS p JOIN organizations AS o ON o.id = p.org_id" + join + " WHERE " + where
}

func orgAndProvider(ctx context.Context, db bun.IDB, q *preparedQuery, arg any, orgOnly func() (*Organization, error)) (*Organization, *AuthProvider, string, error) {
	var row orgWithProvider
	return scanOrgProvider(ctx, db, q, &row, &row, orgOnly, arg)
}

// scanOrgProvider runs q with args into dest, which is row or a struct that embeds
// it; without a provider it returns the org alone (orgOnly) and ErrNotFound.
func scanOrgProvider(ctx context.Context, db bun.IDB, q *preparedQuery, dest any, row *orgWithProvider, orgOnly func() (*Organization, error), args ...any) (*Organization, *AuthProvider, string, error) {
	err := q.scanOne(ctx, db, dest, args...)
	if err == nil {
		return &row.O, &row.P, row.Version, nil
	}
	if err = notFound(err, "auth provider"); !IsNotFound(err) {
		return nil, nil, "", err
	}
	// No provider (rare on these paths): the org alone, or not found.
	org, oerr := orgOnly()
	if oerr != nil {
		return nil, nil, "", oerr
	}
	return org, nil, "", err
}

// ProviderOf returns org's provider, or ErrNotFound.
func ProviderOf(ctx context.Context, db bun.IDB, orgID int64) (*AuthProvider, error) {
	p := new(AuthProvider)
	if err := db.NewSelect().Model(p).Where("org_id = ?", orgID).Scan(ctx); err != nil {
		return nil, notFound(err, "auth provider")
	}
	return p, nil
}

// Registration methods (SPEC §3.2).
const (
	MethodMetadataURL = "url"
	MethodMetadataXML = "xml"
	MethodFields      = "fields"
	// MethodKeep keeps the registration in use when an existing provider is edited
	// (only the attribute mapping changes).
	MethodKeep = "keep"
)

// SAMLSetup is the input of ConfigureSAML.
type SAMLSetup struct {
	// Current is the registration in use (editing); MethodKeep keeps it.
	Current     *ProviderConfig
	Kind        string
	Method      string
	MetadataURL string
	MetadataXML string
	EntityID    string
	SSOURL      string
	SLOURL      string
	Certificate string
	Mapping     samlsp.Mapping
}

// MetadataGetter downloads metadata (fetch.Fetcher, SSRF-guarded).
type MetadataGetter interface {
	Get(ctx context.Context, url string) ([]byte, error)
}

// ResolveIdP turns a setup form into an IdP registration, fetching metadata when the
// method is a URL. Problems are field errors with messages a person can act on.
func ResolveIdP(ctx context.Context, fetcher MetadataGetter, in SAMLSetup, now time.Time) (*ProviderConfig, error) {
	v := &ValidationError{}
	checkMapping(v, in.Mapping)
	cfg := &ProviderConfig{MetadataSource: in.Method, Mapping: in.Mapping}
	idp := resolveRegistration(ctx, fetcher, in, now, cfg, v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	cfg.EntityID, cfg.SSOURL, cfg.SLOURL, cfg.Certs = idp.EntityID, idp.SSOURL, idp.SLOURL, idp.Certs
	cfg.SSOBinding, cfg.SLOBinding = idp.SSOBinding, idp.SLOBinding
	return cfg, nil
}

// resolveRegistration reads the IdP by the chosen method, adding field errors to v.
func resolveRegistration(ctx context.Context, fetcher MetadataGetter, in SAMLSetup, now time.Time, cfg *ProviderConfig, v *ValidationError) *samlsp.IdP {
	switch in.Method {
	case MethodKeep:
		if in.Current == nil {
			v.Add("method", "There is no registration to keep yet: choose how to register your IdP.")
			return nil
		}
		// The registration and how it is kept fresh stay as they are; only the
		// mapping (set by ResolveIdP) changes.
		mapping := cfg.Mapping
		*cfg = *in.Current
		cfg.Mapping = mapping
		idp := in.Current.IdP()
		return &idp
	case MethodMetadataURL:
		u := strings.TrimSpace(in.MetadataURL)
		if u == "" {
			v.Add("metadata_url", "Enter the metadata URL your IdP shows.")
			return nil
		}
		if fetcher == nil {
			v.Add("metadata_url", "Fetching metadata is not available here; paste the XML instead.")
			return nil
		}
		data, err := fetcher.Get(ctx, u)
		if err != nil {
			v.Add("metadata_url", "Could not get the metadata: "+err.Error()+".")
			return nil
		}
		idp, err := samlsp.ParseMetadata(data, now)
		if err != nil {
			v.Add("metadata_url", "The metadata at this URL cannot be used: "+err.Error()+".")
			return nil
		}
		cfg.MetadataURL = u
		fetched := now
		cfg.FetchedAt = &fetched
		next := NextMetadataRefresh(idp, now)
		cfg.NextRefreshAt = &next
		return idp
	case MethodMetadataXML:
		if strings.TrimSpace(in.MetadataXML) == "" {
			v.Add("metadata_xml", "Paste the metadata XML your IdP shows.")
			return nil
		}
		idp, err := samlsp.ParseMetadata([]byte(in.MetadataXML), now)
		if err != nil {
			v.Add("metadata_xml", "This metadata cannot be used: "+err.Error()+".")
			return nil
		}
		return idp
	case MethodFields:
		idp := &samlsp.IdP{EntityID: strings.TrimSpace(in.EntityID), SSOURL: strings.TrimSpace(in.SSOURL), SLOURL: strings.TrimSpace(in.SLOURL)}
		if idp.EntityID == "" {
			v.Add("entity_id", "Enter the IdP entity ID (issuer).")
		}
		if idp.SSOURL == "" {
			v.Add("sso_url", "Enter the IdP single sign-on URL.")
		}
		certs, err := samlsp.ParseCertificates(in.Certificate)
		if err != nil {
			v.Add("certificate", sentence(err.Error()))
		}
		idp.Certs = certs
		if len(v.Fields) > 0 {
			return idp
		}
		if err := idp.Check(now); err != nil {
			field := "certificate"
			switch {
			case strings.Contains(err.Error(), "SSO URL"):
				field = "sso_url"
			case strings.Contains(err.Error(), "SLO URL"):
				field = "slo_url"
			case strings.Contains(err.Error(), "entity ID"):
				field = "entity_id"
			}
			v.Add(field, sentence(err.Error()))
		}
		return idp
	}
	v.Add("method", "Choose how to register your IdP.")
	return nil
}

// sentence capitalises msg and ends it with a full stop.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

func checkMapping(v *ValidationError, m samlsp.Mapping) {
	for field, val := range map[string]string{"map_identifier": m.Identifier, "map_email": m.Email, "map_first_name": m.FirstName, "map_last_name": m.LastName} {
		if len(val) > 300 {
			v.Add(field, "At most 300 characters.")
		}
	}
	if strings.TrimSpace(m.Identifier) == "" {
		v.Add("map_identifier", "Enter the attribute that holds the IdP user ID (or NameID).")
	}
	if strings.TrimSpace(m.Email) == "" {
		v.Add("map_email", "Enter the attribute that holds the user's email (or NameID).")
	}
}

// ErrProviderActive is returned when setup would replace an active provider's kind.
var ErrProviderActive = Forbidden("Disable the current provider before choosing another one.")

// SaveSAMLProvider stores cfg as org's SAML provider of kind. A new provider is
// pending until the owner's round trip; an existing one keeps its status (editing an
// active provider keeps it active, but its kind cannot change).
//
// Who may (SECURITY.md "Powers"): managers and owners set up an org's first provider;
// once the org has trusted an IdP, setting up another, or changing an active one's
// IdP, is owner-only, and the other owners are emailed.
func SaveSAMLProvider(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor, kind string, cfg *ProviderConfig) (*AuthProvider, error) {
	if _, ok := samlsp.PresetOf(kind); !ok {
		return nil, Invalid("kind", "Choose one of the listed providers.")
	}
	return saveProvider(ctx, db, mailer, orgID, actor, kind, cfg)
}

func saveProvider(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor, kind string, cfg *ProviderConfig) (*AuthProvider, error) {
	p := new(AuthProvider)
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		org, err := getOrg(ctx, tx, orgID)
		if err != nil {
			return err
		}
		err = tx.NewSelect().Model(p).Where("org_id = ?", orgID).For("UPDATE").Scan(ctx)
		if errors.Is(notFound(err, ""), ErrNotFound) {
			if err := authorizeActor(ctx, tx, orgID, actor, ActConfigureIdP, Target{IdPTrustedBefore: org.IdPTrustedBefore}); err != nil {
				return err
			}
			// Two submissions at once (a double click on a slow "Save and continue")
			// both find no provider: the second insert yields to the first and goes on
			// as an edit of it, instead of failing on the unique org_id.
			np := &AuthProvider{OrgID: orgID, Kind: kind, Status: ProviderPending, Config: *cfg, AllowIdPInitiated: true,
				SSOSessionHours: 168, CreatedByID: &actor.UserID, ClockSkewMinutes: DefaultClockSkewMinutes, MaxAssertionMinutes: DefaultMaxAssertionMinutes}
			if actor.UserID == 0 {
				np.CreatedByID = nil
			}
			res, ierr := tx.NewInsert().Model(np).On("CONFLICT (org_id) DO NOTHING").Returning("*").Exec(ctx)
			inserted := ierr == nil
			if ierr == nil {
				n, _ := res.RowsAffected()
				inserted = n == 1
			} else if !errors.Is(ierr, sql.ErrNoRows) { // RETURNING nothing: the other one won
				return fmt.Errorf("insert provider: %w", ierr)
			}
			if inserted {
				p = np
				if err := audit(ctx, tx, orgID, actor, EventSSOConfigured, p.DisplayName(), map[string]any{"config": configSummary(*cfg)}); err != nil {
					return err
				}
				if org.IdPTrustedBefore {
					return notifyOwners(ctx, tx, mailer, orgID, actor, "set up "+p.DisplayName()+" single sign-on (pending activation)")
				}
				return nil
			}
			p = new(AuthProvider)
			err = tx.NewSelect().Model(p).Where("org_id = ?", orgID).For("UPDATE").Scan(ctx)
		}
		if err != nil {
			return err
		}
		if p.Kind != kind && p.Active() {
			return ErrProviderActive
		}
		old := p.Config
		trust := trustChanged(old, *cfg)
		if p.Active() && trust {
			// A new IdP (entity ID, signing certificates or user id attribute) could
			// assert any linked user's id: only an owner may make the change, and the
			// provider goes back to pending with every link cleared, until an owner's
			// round trip activates it again.
			if err := authorizeActor(ctx, tx, orgID, actor, ActChangeIdPTrust, Target{}); err != nil {
				return Forbidden("Only an owner can change the identity provider or the user ID attribute of an active provider.")
			}
			if err := resetProviderTrust(ctx, tx, p); err != nil {
				return err
			}
		} else if err := authorizeActor(ctx, tx, orgID, actor, ActConfigureIdP, Target{IdPTrustedBefore: org.IdPTrustedBefore && trust}); err != nil {
			return err
		}
		same := p.Kind == kind && sameRegistration(old, *cfg)
		p.Kind, p.Config = kind, *cfg
		if _, err := tx.NewUpdate().Model(p).Column("kind", "config").Set("updated_at = now()").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("update provider: %w", err)
		}
		if same {
			return nil // a repeated submission: nothing changed, nothing to audit
		}
		if err := audit(ctx, tx, orgID, actor, EventSSOEdited, p.DisplayName(), map[string]any{
			"old": configSummary(old), "new": configSummary(*cfg)}); err != nil {
			return err
		}
		if trust && org.IdPTrustedBefore {
			return notifyOwners(ctx, tx, mailer, orgID, actor, "changed the identity provider of "+p.DisplayName()+" single sign-on")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// markProviderActive activates p (locked by the caller) and remembers that the org
// has trusted an IdP.
func markProviderActive(ctx context.Context, tx bun.Tx, p *AuthProvider) error {
	if _, err := tx.NewUpdate().Model(p).Set("status = ?", ProviderActive).Set("activated_at = now()").Set("updated_at = now()").WherePK().Exec(ctx); err != nil {
		return err
	}
	p.Status = ProviderActive
	if _, err := tx.NewRaw("UPDATE organizations SET idp_trusted_before = true WHERE id = ?", p.OrgID).Exec(ctx); err != nil {
		return err
	}
	// Domain capture takes effect with the provider: the captured domains' sessions
	// without this org's SSO end now (the activating owner's browser signs in anew).
	_, err := endCapturedSessions(ctx, tx, p.OrgID, "", "")
	return err
}

// sameRegistration reports whether a and b register the same IdP with the same mapping
// (fetch times aside).
func sameRegistration(a, b ProviderConfig) bool {
	if a.EntityID != b.EntityID || a.SSOURL != b.SSOURL || a.SLOURL != b.SLOURL || a.SSOBinding != b.SSOBinding ||
		a.SLOBinding != b.SLOBinding || a.MetadataSource != b.MetadataSource ||
		a.MetadataURL != b.MetadataURL || a.Mapping != b.Mapping || a.GitHubOrg != b.GitHubOrg ||
		!slices.Equal(a.Domains, b.Domains) || len(a.Certs) != len(b.Certs) {
		return false
	}
	for i := range a.Certs {
		if !bytes.Equal(a.Certs[i], b.Certs[i]) {
			return false
		}
	}
	return true
}

func configSummary(c ProviderConfig) string {
	switch {
	case len(c.Domains) > 0:
		return "domains=" + strings.Join(c.Domains, ",")
	case c.GitHubOrg != "":
		return "github_org=" + c.GitHubOrg
	}
	return fmt.Sprintf("entity_id=%s sso_url=%s certs=%d mapping=%s/%s", c.EntityID, c.SSOURL, len(c.Certs), c.Mapping.Identifier, c.Mapping.Email)
}

// ActivateProvider makes org's provider active without the owner's round trip (CLI
// --activate, for automation). It is audited, and members are reminded to link, like
// an activation through the browser.
func ActivateProvider(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		p := new(AuthProvider)
		if err := tx.NewSelect().Model(p).Where("org_id = ?", orgID).For("UPDATE").Scan(ctx); err != nil {
			return notFound(err, "auth provider")
		}
		if p.Active() {
			return nil
		}
		org, err := getOrg(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if err := authorizeActor(ctx, tx, orgID, actor, ActActivateIdP, Target{IdPTrustedBefore: org.IdPTrustedBefore}); err != nil {
			return err
		}
		if err := markProviderActive(ctx, tx, p); err != nil {
			return err
		}
		if err := audit(ctx, tx, orgID, actor, EventSSOEnabled, p.DisplayName(), map[string]any{"entity_id": p.Config.EntityID, "via": "cli --activate"}); err != nil {
			return err
		}
		if org.IdPTrustedBefore {
			if err := notifyOwners(ctx, tx, mailer, orgID, actor, "activated "+p.DisplayName()+" single sign-on"); err != nil {
				return err
			}
		}
		_, err = sendLinkReminders(ctx, tx, mailer, orgID, 0)
		return err
	})
}

// trustChanged reports whether an edit changes who the provider trusts: the IdP's
// entity ID, its set of signing certificates, or the attribute that identifies users.
func trustChanged(old, next ProviderConfig) bool {
	if old.EntityID != next.EntityID || old.Mapping.Identifier != next.Mapping.Identifier || len(old.Certs) != len(next.Certs) {
		return true
	}
	seen := map[string]bool{}
	for _, c := range old.Certs {
		seen[string(c)] = true
	}
	for _, c := range next.Certs {
		if !seen[string(c)] {
			return true
		}
	}
	return false
}

// resetProviderTrust makes p pending again and clears every link to it. Members
// first, then identities: a sign-in's order, so one in flight never deadlocks with it.
func resetProviderTrust(ctx context.Context, tx bun.Tx, p *AuthProvider) error {
	// Members who were linked show as "invalid" until they sign in through the new IdP.
	if _, err := tx.NewRaw("UPDATE members SET sso_invalid = sso_linked, sso_linked = false WHERE org_id = ?", p.OrgID).Exec(ctx); err != nil {
		return err
	}
	for _, q := range []string{
		"DELETE FROM auth_identities WHERE provider_id = ?",
		"DELETE FROM pending_links WHERE provider_id = ?",
	} {
		if _, err := tx.NewRaw(q, p.ID).Exec(ctx); err != nil {
			return err
		}
	}
	if _, err := tx.NewRaw("UPDATE auth_providers SET status = 'pending', activated_at = NULL WHERE id = ?", p.ID).Exec(ctx); err != nil {
		return err
	}
	p.Status = ProviderPending
	return nil
}
