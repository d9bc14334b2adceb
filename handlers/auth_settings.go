package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/models"
	"gatehouse/models/samlsp"
	"gatehouse/views/pages"
)

// spValues are what the owner copies into the IdP.
func (h *Handler) spValues(org *models.Organization) pages.SPValues {
	sp := samlsp.NewSP(h.baseURL(), org.Slug)
	return pages.SPValues{EntityID: sp.EntityID, ACSURL: sp.ACSURL, SLSURL: sp.SLSURL,
		SignOnURL: h.baseURL() + "/auth/login/" + org.Slug + "/", RelayState: h.baseURL() + "/organizations/" + org.Slug + "/"}
}

// submitKeyField is the hidden field of the owner's forms that must act once
// (models.NewSubmitKey).
const submitKeyField = "submit_key"

// keyNewSCIMToken carries a just-generated SCIM token from its POST to the GET that
// shows it, once (POST → 303 → GET: the address bar holds a URL that reloads, and the
// secret is never in a URL).
const keyNewSCIMToken = "scim_new_token"

func (h *Handler) authSettings(c *fiber.Ctx) error {
	secret := h.Sessions.PopString(c.UserContext(), keyNewSCIMToken)
	if secret != "" {
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
	return h.renderAuthSettings(c, http.StatusOK, nil, secret)
}

// The Auth page's logs (recent sign-ins, SPEC §3.9; the SCIM provisioning log) show
// their last logMax entries, logPerPage at a time.
const (
	logPerPage = 50
	logMax     = 200
)

// logPage is one page of such a log: its number comes from the query parameter param.
type logPage struct {
	no                  int
	param, base, anchor string
}

func newLogPage(c *fiber.Ctx, param, base, anchor string) logPage {
	no, _ := strconv.Atoi(c.Query(param))
	if no < 1 || no > logMax/logPerPage {
		no = 1
	}
	return logPage{no: no, param: param, base: base, anchor: anchor}
}

// limit asks for one row more than a page, to know whether another follows.
func (p logPage) limit() int  { return logPerPage + 1 }
func (p logPage) offset() int { return (p.no - 1) * logPerPage }

func (p logPage) url(no int) string {
	return p.base + "?" + p.param + "=" + strconv.Itoa(no) + p.anchor
}

// pageOf trims rows to the page and returns the previous and next page links.
func pageOf[T any](p logPage, rows []T) (page []T, prev, next string) {
	if len(rows) > logPerPage {
		rows = rows[:logPerPage]
		if p.no*logPerPage < logMax {
			next = p.url(p.no + 1)
		}
	}
	if p.no > 1 {
		prev = p.url(p.no - 1)
	}
	return rows, prev, next
}

// renderAuthSettings shows the Auth page; form, when set, replaces General Settings'
// stored values (a rejected submission with its errors); newToken is a SCIM token
// just generated, shown this once.
func (h *Handler) renderAuthSettings(c *fiber.Ctx, status int, form *pages.SettingsForm, newToken string) error {
	ctx := c.UserContext()
	org, _ := currentOrg(c)
	v := pages.AuthView{Slug: org.Slug, SP: h.spValues(org), LoginURL: h.baseURL() + "/auth/login/" + org.Slug + "/", SubmitKey: models.NewSubmitKey()}
	if u := currentUser(c); u != nil {
		v.Operator = u.IsSuperuser
	}
	p, err := models.ProviderOf(ctx, h.DB.Bun, org.ID)
	switch {
	case errors.Is(err, models.ErrNotFound):
		v.Choices = h.providerChoices(nil)
	case err != nil:
		return err
	default:
		v.Provider = p
		v.Choices = h.providerChoices(p)
		allowFormTo(c, h.providerSignInURL(c, p))
		idp := p.Config.IdP()
		certs, err := idp.Certificates()
		if err != nil {
			return err
		}
		for _, c := range certs {
			stage := models.CertStage(c.NotAfter, time.Now())
			v.CertInfo = append(v.CertInfo, pages.CertInfo{Subject: c.Subject.String(), Fingerprint: samlsp.Fingerprint(c.Raw),
				Expires: c.NotAfter.UTC().Format("2006-01-02"), Warning: stage != ""})
			switch stage {
			case models.CertExpired:
				v.CertAlert = "The identity provider's signing certificate " + samlsp.Fingerprint(c.Raw) + " expired on " + c.NotAfter.UTC().Format("2006-01-02") +
					". Sign-ins still work (Gatehouse trusts the registered key, not the certificate's dates), but renew the certificate in your identity provider and update the registration."
			case models.CertExpiring:
				if v.CertAlert == "" {
					v.CertAlert = "The identity provider's signing certificate " + samlsp.Fingerprint(c.Raw) + " expires on " + c.NotAfter.UTC().Format("2006-01-02") +
						". Sign-ins will keep working after that date, but renew the certificate in your identity provider and update the registration."
				}
			}
		}
		pg := newLogPage(c, "signins", "/settings/"+org.Slug+"/auth/", "#recent-sign-ins")
		if v.Attempts, err = models.ListSSOAttempts(ctx, h.DB.Bun, org.ID, pg.limit(), pg.offset()); err != nil {
			return err
		}
		v.Attempts, v.AttemptsPrev, v.AttemptsNext = pageOf(pg, v.Attempts)
		v.Settings = pages.SettingsForm{RequireSSO: p.RequireSSO, DefaultRole: string(org.DefaultRole),
			SSOSessionHours: strconv.Itoa(p.SSOSessionHours), AllowIdPInitiated: p.AllowIdPInitiated, SCIMEnabled: p.SCIMEnabled,
			AllowUnsignedLogout: p.AllowUnsignedLogout, ClockSkewMinutes: strconv.Itoa(p.ClockSkewMinutes), MaxAssertionMinutes: strconv.Itoa(p.MaxAssertionMinutes)}
		if p.SCIMEnabled {
			if err := h.scimView(c, &v, org, newToken); err != nil {
				return err
			}
		}
		if form != nil {
			v.Settings = *form
		}
		if v.OwnersLinked, err = models.OwnersLinked(ctx, h.DB.Bun, org.ID); err != nil {
			return err
		}
		if v.Unlinked, v.UnlinkedCount, err = models.ListUnlinked(ctx, h.DB.Bun, org.ID, 50); err != nil {
			return err
		}
	}
	if err := h.domainsView(c, org, &v); err != nil {
		return err
	}
	pg := h.page(c, "Auth")
	pg.Section = "auth"
	return h.render(c, status, pages.AuthSettings(pg, v))
}

// providerChoices is the provider list (SPEC §2): with a provider in place the others
// are listed too, unavailable while it is active.
func (h *Handler) providerChoices(current *models.AuthProvider) []pages.ProviderChoice {
	var out []pages.ProviderChoice
	add := func(kind, name string) {
		if current != nil && current.Kind == kind {
			return
		}
		ch := pages.ProviderChoice{Kind: kind, Name: name}
		if reason, hint := h.oauthUnavailable(kind); reason != "" {
			ch.Disabled, ch.Hint = reason, hint
		} else if current != nil && current.Active() {
			ch.Disabled = "Disable " + current.DisplayName() + " first."
		}
		out = append(out, ch)
	}
	for _, pr := range samlsp.Presets {
		add(pr.Kind, pr.Name)
	}
	add(models.KindGoogle, "Google Workspace")
	add(models.KindGitHub, "GitHub")
	return out
}

func (h *Handler) saveAuthSettings(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	form := pages.SettingsForm{RequireSSO: c.FormValue("require_sso") != "", DefaultRole: c.FormValue("default_role"),
		SSOSessionHours: strings.TrimSpace(c.FormValue("sso_session_hours")), AllowIdPInitiated: c.FormValue("allow_idp_initiated") != "",
		SCIMEnabled: c.FormValue("scim_enabled") != "", AllowUnsignedLogout: c.FormValue("allow_unsigned_logout") != "",
		ClockSkewMinutes: strings.TrimSpace(c.FormValue("clock_skew_minutes")), MaxAssertionMinutes: strings.TrimSpace(c.FormValue("max_assertion_minutes"))}
	hours, err := strconv.Atoi(form.SSOSessionHours)
	if err != nil {
		hours = -1 // reported as out of range
	}
	skew, life := formMinutes(form.ClockSkewMinutes, models.DefaultClockSkewMinutes), formMinutes(form.MaxAssertionMinutes, models.DefaultMaxAssertionMinutes)
	keep := models.SessionHash(h.Sessions.Token(c.UserContext()))
	revoked, err := models.UpdateAuthSettings(c.UserContext(), h.DB.Bun, org.ID, actor(c), models.AuthSettings{
		RequireSSO: form.RequireSSO, DefaultRole: form.DefaultRole, SSOSessionHours: hours, AllowIdPInitiated: form.AllowIdPInitiated,
		SCIMEnabled: form.SCIMEnabled, AllowUnsignedLogout: form.AllowUnsignedLogout, ClockSkewMinutes: skew, MaxAssertionMinutes: life}, keep)
	if errs, ferr := formErrors(err); err != nil {
		if ferr != nil {
			return ferr
		}
		form.Errors = errs
		return h.renderAuthSettings(c, http.StatusUnprocessableEntity, &form, "")
	}
	msg := "Settings saved."
	if revoked > 0 {
		verb := "were"
		if revoked == 1 {
			verb = "was"
		}
		msg += fmt.Sprintf(" %s of members without SSO %s signed out.", countOf(int(revoked), "open session", "open sessions"), verb)
	}
	h.flash(c, msg)
	return h.redirect(c, "/settings/"+org.Slug+"/auth/")
}

func (h *Handler) sendReminders(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	var memberID int64
	if c.Params("id") != "" {
		id, err := paramID(c, "id")
		if err != nil {
			return err
		}
		memberID = id
	}
	n, err := models.SendLinkReminders(c.UserContext(), h.DB.Bun, h.Mailer, org.ID, actor(c), memberID)
	if err != nil {
		return err
	}
	h.flash(c, fmt.Sprintf("Reminder sent to %s.", countOf(n, "member", "members")))
	return h.redirect(c, "/settings/"+org.Slug+"/auth/")
}

// disablePage asks for confirmation and says what disabling does, in numbers.
func (h *Handler) disablePage(c *fiber.Ctx) error {
	ctx := c.UserContext()
	org, _ := currentOrg(c)
	p, err := models.ProviderOf(ctx, h.DB.Bun, org.ID)
	if errors.Is(err, models.ErrNotFound) {
		h.flash(c, "Single sign-on is not set up: there is nothing to disable.")
		return h.redirect(c, "/settings/"+org.Slug+"/auth/")
	}
	if err != nil {
		return err
	}
	impact, err := models.DisableImpactOf(ctx, h.DB.Bun, org.ID)
	if err != nil {
		return err
	}
	pg := h.page(c, "Disable single sign-on")
	pg.Section = "auth"
	return h.render(c, http.StatusOK, pages.AuthDisable(pg, pages.DisableView{Slug: org.Slug, ProviderName: p.DisplayName(),
		Members: impact.Members, Linked: impact.Linked, SCIMTokens: impact.SCIMTokens, RequireSSO: p.RequireSSO}))
}

func (h *Handler) disableProvider(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	n, err := models.DisableProvider(c.UserContext(), h.DB.Bun, h.Mailer, org.ID, actor(c))
	if errors.Is(err, models.ErrNotFound) {
		// Already disabled (a second click, another tab): the outcome is the same.
		h.flash(c, "Single sign-on is disabled.")
		return h.redirect(c, "/settings/"+org.Slug+"/auth/")
	}
	if err != nil {
		return err
	}
	h.flash(c, fmt.Sprintf("Single sign-on is disabled. %s emailed how to sign in with a password.", countOf(n, "member was", "members were")))
	return h.redirect(c, "/settings/"+org.Slug+"/auth/")
}

func (h *Handler) configureView(c *fiber.Ctx, org *models.Organization, kind string) (pages.ConfigureView, error) {
	preset, ok := samlsp.PresetOf(kind)
	if !ok {
		return pages.ConfigureView{}, models.ErrNotFound
	}
	v := pages.ConfigureView{Slug: org.Slug, Kind: kind, PresetName: preset.Name, SP: h.spValues(org)}
	p, err := models.ProviderOf(c.UserContext(), h.DB.Bun, org.ID)
	switch {
	case err == nil && p.Kind == kind:
		v.Editing = true
		cfg := p.Config
		v.Current = &p.Config
		// Editing keeps the registration in use unless the owner picks another method.
		v.Form = pages.ConfigureForm{Method: models.MethodKeep, MetadataURL: cfg.MetadataURL, EntityID: cfg.EntityID,
			SSOURL: cfg.SSOURL, SLOURL: cfg.SLOURL, Certificate: samlsp.EncodePEM(cfg.Certs),
			MapID: cfg.Mapping.Identifier, MapEmail: cfg.Mapping.Email, MapFirst: cfg.Mapping.FirstName, MapLast: cfg.Mapping.LastName}
	case err == nil && p.Active():
		return v, models.ErrProviderActive
	case err != nil && !errors.Is(err, models.ErrNotFound):
		return v, err
	default:
		m := preset.Mapping
		v.Form = pages.ConfigureForm{Method: models.MethodMetadataURL, MapID: m.Identifier, MapEmail: m.Email, MapFirst: m.FirstName, MapLast: m.LastName}
	}
	return v, nil
}

func (h *Handler) configurePage(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	if kind := c.Params("kind"); kind == models.KindGoogle || kind == models.KindGitHub {
		return h.oauthConfigure(c, org, copyString(kind), false)
	}
	v, err := h.configureView(c, org, copyString(c.Params("kind")))
	if errors.Is(err, models.ErrProviderActive) {
		return h.providerActive(c, org)
	}
	if err != nil {
		return err
	}
	pg := h.page(c, "Configure "+v.PresetName)
	pg.Section = "auth"
	return h.render(c, http.StatusOK, pages.AuthConfigure(pg, v))
}

// providerActive sends an owner who opened another provider's setup back to the Auth
// page, which says to disable the active provider first.
func (h *Handler) providerActive(c *fiber.Ctx, org *models.Organization) error {
	msg := "An organization uses one provider at a time: disable the current one first."
	if p, err := models.ProviderOf(c.UserContext(), h.DB.Bun, org.ID); err == nil {
		msg = "An organization uses one provider at a time: disable " + p.DisplayName() + " first (Danger zone, below)."
	}
	h.flashError(c, msg)
	return h.redirect(c, "/settings/"+org.Slug+"/auth/#other-providers")
}

func (h *Handler) configure(c *fiber.Ctx) error {
	ctx := c.UserContext()
	org, _ := currentOrg(c)
	kind := copyString(c.Params("kind"))
	if kind == models.KindGoogle || kind == models.KindGitHub {
		return h.oauthConfigure(c, org, kind, true)
	}
	v, err := h.configureView(c, org, kind)
	if errors.Is(err, models.ErrProviderActive) {
		return h.providerActive(c, org)
	}
	if err != nil {
		return err
	}
	f := pages.ConfigureForm{Method: c.FormValue("method"), MetadataURL: strings.TrimSpace(c.FormValue("metadata_url")),
		MetadataXML: c.FormValue("metadata_xml"), EntityID: c.FormValue("entity_id"), SSOURL: c.FormValue("sso_url"),
		SLOURL: c.FormValue("slo_url"), Certificate: c.FormValue("certificate"), MapID: strings.TrimSpace(c.FormValue("map_identifier")),
		MapEmail: strings.TrimSpace(c.FormValue("map_email")), MapFirst: strings.TrimSpace(c.FormValue("map_first_name")),
		MapLast: strings.TrimSpace(c.FormValue("map_last_name"))}
	setup := models.SAMLSetup{Current: v.Current, Kind: kind, Method: f.Method, MetadataURL: f.MetadataURL, MetadataXML: f.MetadataXML,
		EntityID: f.EntityID, SSOURL: f.SSOURL, SLOURL: f.SLOURL, Certificate: f.Certificate,
		Mapping: samlsp.Mapping{Identifier: f.MapID, Email: f.MapEmail, FirstName: f.MapFirst, LastName: f.MapLast}}
	cfg, err := models.ResolveIdP(ctx, h.Fetcher, setup, time.Now())
	if err == nil {
		_, err = models.SaveSAMLProvider(ctx, h.DB.Bun, h.Mailer, org.ID, actor(c), kind, cfg)
	}
	if errs, ferr := formErrors(err); err != nil {
		if ferr != nil {
			return ferr
		}
		v.Form = f
		v.Form.Errors = errs
		pg := h.page(c, "Configure "+v.PresetName)
		pg.Section = "auth"
		return h.render(c, http.StatusUnprocessableEntity, pages.AuthConfigure(pg, v))
	}
	h.flash(c, "Identity provider saved.")
	return h.redirect(c, "/settings/"+org.Slug+"/auth/")
}

// activate starts the owner's SSO round trip that activates a pending provider.
func (h *Handler) activate(c *fiber.Ctx) error { return h.startOwnerSSO(c, models.PurposeActivate) }

// testConfiguration starts a round trip whose ACS shows diagnostics (SPEC §3.8).
func (h *Handler) testConfiguration(c *fiber.Ctx) error {
	return h.startOwnerSSO(c, models.PurposeTest)
}

func (h *Handler) startOwnerSSO(c *fiber.Ctx, purpose string) error {
	org, _ := currentOrg(c)
	p, err := models.ProviderOf(c.UserContext(), h.DB.Bun, org.ID)
	if err != nil {
		return err
	}
	if purpose == models.PurposeTest && !p.IsSAML() {
		return fiber.ErrNotFound
	}
	return h.startSSO(c, org, p, purpose, currentUser(c).ID, "")
}

// scimBaseURL is the SCIM base URL of org (SPEC §5).
func (h *Handler) scimBaseURL(org *models.Organization) string {
	return h.baseURL() + "/api/0/organizations/" + org.Slug + "/scim/v2"
}

func (h *Handler) scimView(c *fiber.Ctx, v *pages.AuthView, org *models.Organization, newToken string) error {
	ctx := c.UserContext()
	v.SCIMBaseURL, v.NewSCIMToken = h.scimBaseURL(org), newToken
	var err error
	if v.SCIMTokens, err = models.ListSCIMTokens(ctx, h.DB.Bun, org.ID); err != nil {
		return err
	}
	pg := newLogPage(c, "scimlog", "/settings/"+org.Slug+"/auth/", "#provisioning-log")
	if v.SCIMLog, err = models.ListSCIMRequests(ctx, h.DB.Bun, org.ID, pg.limit(), pg.offset()); err != nil {
		return err
	}
	v.SCIMLog, v.SCIMLogPrev, v.SCIMLogNext = pageOf(pg, v.SCIMLog)
	return nil
}

// createSCIMToken shows the new token on the page, once (it is never stored in clear).
func (h *Handler) createSCIMToken(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	secret, _, err := models.CreateSCIMTokenOnce(c.UserContext(), h.DB.Bun, h.Mailer, org.ID, actor(c), models.ValidSubmitKey(c.FormValue(submitKeyField)))
	if errors.Is(err, models.ErrAlreadySubmitted) {
		// A second click of the same form: the first submission's answer shows the
		// token; this one changes nothing (not even the session, which holds it).
		return h.redirect(c, "/settings/"+org.Slug+"/auth/#scim")
	}
	var forbidden *models.ForbiddenError
	if errors.As(err, &forbidden) {
		h.flashError(c, forbidden.Reason)
		return h.redirect(c, "/settings/"+org.Slug+"/auth/#scim")
	}
	if err != nil {
		return err
	}
	h.Sessions.Put(c.UserContext(), keyNewSCIMToken, secret)
	h.flash(c, "New SCIM token generated.")
	return h.redirect(c, "/settings/"+org.Slug+"/auth/#scim")
}

func (h *Handler) revokeSCIMToken(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	if err := models.RevokeSCIMToken(c.UserContext(), h.DB.Bun, h.Mailer, org.ID, actor(c), id); err != nil {
		return err
	}
	h.flash(c, "Token revoked.")
	return h.redirect(c, "/settings/"+org.Slug+"/auth/#scim")
}

// oauthConfigure shows (or, on submit, saves) the Google Workspace or GitHub setup.
func (h *Handler) oauthConfigure(c *fiber.Ctx, org *models.Organization, kind string, submit bool) error {
	if reason, _ := h.oauthUnavailable(kind); reason != "" {
		return fiber.NewError(http.StatusNotFound, reason)
	}
	v := pages.OAuthConfigureView{Operator: currentUser(c).IsSuperuser, Slug: org.Slug, Kind: kind, Name: (&models.AuthProvider{Kind: kind}).DisplayName(),
		CallbackURL: h.baseURL() + OAuthCallbackPath}
	p, err := models.ProviderOf(c.UserContext(), h.DB.Bun, org.ID)
	switch {
	case err == nil && p.Kind == kind:
		v.Domains, v.GitHubOrg = strings.Join(p.Config.Domains, "\n"), p.Config.GitHubOrg
	case err == nil && p.Active():
		return h.providerActive(c, org)
	case err != nil && !errors.Is(err, models.ErrNotFound):
		return err
	}
	status := http.StatusOK
	if submit {
		v.Domains, v.GitHubOrg = c.FormValue("domains"), c.FormValue("github_org")
		cfg, err := models.ResolveOAuth(models.OAuthSetup{Kind: kind, Domains: v.Domains, GitHubOrg: v.GitHubOrg})
		if err == nil {
			_, err = models.SaveOAuthProvider(c.UserContext(), h.DB.Bun, h.Mailer, org.ID, actor(c), kind, cfg)
		}
		errs, ferr := formErrors(err)
		if err != nil && ferr != nil {
			return ferr
		}
		if err == nil {
			h.flash(c, v.Name+" saved.")
			return h.redirect(c, "/settings/"+org.Slug+"/auth/")
		}
		v.Errors, status = errs, http.StatusUnprocessableEntity
	}
	pg := h.page(c, "Configure "+v.Name)
	pg.Section = "auth"
	return h.render(c, status, pages.OAuthConfigure(pg, v))
}

// saveSPKeys turns signed AuthnRequests and required encrypted assertions on or off
// (SPEC §3.10); the org's SP key pair is made the first time.
func (h *Handler) saveSPKeys(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	in := models.SPKeyOptions{SignRequests: c.FormValue("sign_requests") != "", RequireEncrypted: c.FormValue("require_encrypted") != ""}
	err := models.ConfigureSPKeys(c.UserContext(), h.DB.Bun, h.Secrets, org.ID, actor(c), in, h.spValues(org).EntityID)
	if v, ok := models.AsValidation(err); ok {
		h.flashError(c, v.Error())
		return h.redirect(c, "/settings/"+org.Slug+"/auth/")
	}
	if err != nil {
		return err
	}
	h.flash(c, "Saved. Give your IdP the updated SP metadata ("+h.spValues(org).EntityID+"): it now carries this organization's certificate.")
	return h.redirect(c, "/settings/"+org.Slug+"/auth/")
}

// formMinutes reads a minutes field: empty is the default, anything unreadable is
// out of range (reported beside the field).
func formMinutes(v string, def int) int {
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}
