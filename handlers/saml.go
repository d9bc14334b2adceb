package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"

	"gatehouse/models"
	"gatehouse/models/samlsp"
	"gatehouse/models/sessionstore"
	"gatehouse/views/pages"
)

// linkCookie binds a pending account link to the browser that signed in.
const linkCookie = "gatehouse_link"

func (h *Handler) baseURL() string { return h.Config.BaseURL.String() }

// samlSettings are the org's SAML settings, with its SP key pair when it has one.
func (h *Handler) samlSettings(org *models.Organization, p *models.AuthProvider) (samlsp.Settings, error) {
	return models.WithSPKeys(models.SAMLSettings(h.baseURL(), org, p), p, h.Secrets)
}

// samlOrg loads the org of :slug and its provider; a missing org or a non-SAML
// provider is ErrNotFound (the same answer for both, so slugs are not revealed).
func (h *Handler) samlOrg(c *fiber.Ctx) (*models.Organization, *models.AuthProvider, error) {
	org, p, err := models.OrgAndProvider(c.UserContext(), h.DB.Bun, copyString(c.Params("slug")))
	if err != nil {
		return org, nil, err
	}
	if !p.IsSAML() {
		return org, nil, models.ErrNotFound
	}
	return org, p, nil
}

// samlMetadata serves the SP metadata; its URL is the SP entity ID.
func (h *Handler) samlMetadata(c *fiber.Ctx) error {
	org, err := models.OrgBySlug(c.UserContext(), h.DB.Bun, copyString(c.Params("slug")))
	if err != nil {
		return err
	}
	sp := samlsp.NewSP(h.baseURL(), org.Slug)
	if p, err := models.ProviderOf(c.UserContext(), h.DB.Bun, org.ID); err == nil && p.IsSAML() {
		if s, err := h.samlSettings(org, p); err == nil {
			sp = s.SP // with the org's certificate when it has a key pair
		}
	}
	md, err := samlsp.Metadata(sp)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/samlmetadata+xml")
	return c.Send(md)
}

// ssoOrg loads the org of :slug and its provider of any kind (ErrNotFound without one).
func (h *Handler) ssoOrg(c *fiber.Ctx) (*models.Organization, *models.AuthProvider, error) {
	return models.OrgAndProvider(c.UserContext(), h.DB.Bun, copyString(c.Params("slug")))
}

// orgLoginPage is /auth/login/{slug}/: it starts SP-initiated SSO.
func (h *Handler) orgLoginPage(c *fiber.Ctx) error {
	org, p, err := h.ssoOrg(c)
	if models.DatabaseUnavailable(err) {
		return err // 503 + Retry-After, not "no SSO here"
	}
	if org == nil {
		return h.renderOrgLogin(c, http.StatusNotFound, pages.OrgLoginView{OrgName: "your organization", Error: samlsp.MsgNoSSO})
	}
	v := pages.OrgLoginView{Slug: org.Slug, OrgName: org.Name, Next: safeNext(c.Query("next"), "")}
	if err == nil && p.Active() {
		v.Available, v.ProviderName, v.RequireSSO = true, p.IdPName(), p.RequireSSO
		if v.OwnerFallback, err = models.OwnerFallbackOpen(c.UserContext(), h.DB.Bun, p); err != nil {
			return err
		}
		allowFormTo(c, h.providerSignInURL(c, p))
	} else if err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	return h.renderOrgLogin(c, http.StatusOK, v)
}

func (h *Handler) renderOrgLogin(c *fiber.Ctx, status int, v pages.OrgLoginView) error {
	return h.render(c, status, pages.OrgLogin(h.page(c, "Sign in to "+v.OrgName), v))
}

func (h *Handler) startOrgLogin(c *fiber.Ctx) error {
	org, p, err := h.ssoOrg(c)
	if models.DatabaseUnavailable(err) {
		return err
	}
	if err != nil || !p.Active() {
		if org == nil || errors.Is(err, models.ErrNotFound) || (p != nil && !p.Active()) {
			return h.renderOrgLogin(c, http.StatusNotFound, pages.OrgLoginView{OrgName: orgName(org), Error: samlsp.MsgNoSSO})
		}
		return err
	}
	return h.startSSO(c, org, p, models.PurposeLogin, 0, safeNext(c.FormValue("next"), ""))
}

// startSSO sends the browser to the org's IdP (SAML AuthnRequest, or an OAuth2/OIDC
// authorization request with state, PKCE and nonce). The page that posted here allows
// forms to the IdP (allowFormTo), so a redirect may follow the POST.
func (h *Handler) startSSO(c *fiber.Ctx, org *models.Organization, p *models.AuthProvider, purpose string, userID int64, next string) error {
	to, post, err := h.beginSSO(c, org, p, purpose, userID, next)
	if err != nil {
		return err
	}
	if post != nil {
		return h.renderSSOPost(c, post)
	}
	return h.redirectExternal(c, to)
}

// beginSSO records a new sign-in with the org's IdP and returns where the browser goes:
// a URL (SAML HTTP-Redirect, OAuth), or a form to post (an IdP that publishes only an
// HTTP-POST SingleSignOnService).
func (h *Handler) beginSSO(c *fiber.Ctx, org *models.Organization, p *models.AuthProvider, purpose string, userID int64, next string) (string, *samlsp.Outbound, error) {
	if p.IsOAuth() {
		to, err := h.startOAuth(c, org, p, purpose, userID, next)
		return to, nil, err
	}
	settings, err := h.samlSettings(org, p)
	if err != nil {
		return "", nil, err
	}
	key := "" // the owner's forms act once however often they are submitted
	if purpose == models.PurposeActivate || purpose == models.PurposeTest {
		key = models.ValidSubmitKey(c.FormValue(submitKeyField))
	}
	out, flow, err := models.StartSAML(c.UserContext(), h.DB.Bun, settings, org.ID, purpose, userID, next, key)
	if err != nil {
		return "", nil, err
	}
	h.Sessions.Put(c.UserContext(), keySSOFlow, flow)
	if out.Binding == samlsp.BindingPOST {
		return "", out, nil
	}
	return out.URL, nil, nil
}

// renderSSOPost is the form that posts an AuthnRequest to an IdP that takes HTTP-POST
// only (app.js submits it; without JavaScript the person presses Continue).
func (h *Handler) renderSSOPost(c *fiber.Ctx, out *samlsp.Outbound) error {
	allowFormTo(c, out.URL)
	return h.render(c, http.StatusOK, pages.SSOPostRequest(h.barePage("Continue to your identity provider"), out.URL, out.Form.Get("SAMLRequest"), out.Form.Get("RelayState")))
}

func orgName(org *models.Organization) string {
	if org == nil {
		return "your organization"
	}
	return org.Name
}

// redirectExternal sends the browser to the IdP (a full navigation even for HTMX).
func (h *Handler) redirectExternal(c *fiber.Ctx, to string) error {
	if c.Get(hxRequest) == "true" {
		c.Set(hxRedirect, to)
		return c.SendStatus(http.StatusNoContent)
	}
	return c.Redirect(to, http.StatusSeeOther)
}

// acs is the Assertion Consumer Service (SECURITY.md "SAML assertion consumer", in
// order). Failures show a generic page and record the reason in the sign-in log; they
// set no cookie and write nothing else.
func (h *Handler) acs(c *fiber.Ctx) error {
	ctx := c.UserContext()
	attempt := models.SSOAttempt{Outcome: "failure", IP: clientIP(c)}
	org, p, version, err := h.ACSConfig.OrgAndProvider(ctx, h.DB.Bun, copyString(c.Params("slug")))
	if err == nil && !p.IsSAML() {
		err = models.ErrNotFound // as samlOrg: the same answer as for a missing org
	}
	if org != nil {
		attempt.OrgID = org.ID
	}
	fail := func(reason, hint string) error {
		if attempt.OrgID != 0 {
			attempt.Reason, attempt.Hint = reason, hint
			if err := models.RecordSSOAttempt(ctx, h.DB.Bun, attempt); err != nil {
				h.Log.Error("record SSO attempt", "request_id", requestID(c), "error", err.Error())
			}
		}
		h.Log.Warn("SAML response rejected", "request_id", requestID(c), "org", attempt.OrgID, "reason", reason, "detail", hint)
		slug := ""
		if org != nil {
			slug = org.Slug
		}
		return h.render(c, http.StatusForbidden, pages.SSOFailed(h.barePage("Authentication failed"), slug, requestID(c)))
	}
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return fail(models.ReasonNoProvider, "no SAML provider for this organization")
		}
		return err
	}
	args := c.Request().PostArgs()
	if !strings.HasPrefix(string(c.Request().Header.ContentType()), fiber.MIMEApplicationForm) || len(c.Body()) > samlsp.MaxEncodedResponse+4096 {
		return fail(samlsp.ReasonMalformed, "not a form POST within the size limit")
	}
	if len(args.PeekMulti("SAMLResponse")) != 1 || len(args.PeekMulti("RelayState")) > 1 || args.Has("SAMLart") {
		return fail(samlsp.ReasonMalformed, "want exactly one SAMLResponse, at most one RelayState, no SAMLart")
	}
	raw, err := samlsp.DecodeResponse(string(args.Peek("SAMLResponse")))
	if err != nil {
		return fail(reasonOf(err), detailOf(err))
	}
	relay := string(args.Peek("RelayState"))
	var req *models.SAMLRequest
	requestID := ""
	if relay != "" {
		req, err = models.PeekSAMLRequest(ctx, h.DB.Bun, org.ID, relay)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return err
		}
		if req != nil {
			requestID = req.RequestID
		}
	}
	// One parse: the tree the request is looked up by is the tree validated below.
	resp, parseErr := samlsp.ParseResponse(raw)
	if req == nil && resp != nil {
		// The IdP dropped or replaced RelayState: the request the response answers.
		if req, err = models.PeekSAMLRequestByID(ctx, h.DB.Bun, org.ID, resp.InResponseTo()); err != nil && !errors.Is(err, models.ErrNotFound) {
			return err
		}
		if req != nil {
			requestID = req.RequestID
		}
	}
	if req != nil && (req.Purpose == models.PurposeTest || req.Purpose == models.PurposeActivate) {
		// An owner's round trip reports on the settings as they are now, not as
		// another instance's change may have left this instance's cache.
		if org, p, version, err = models.OrgAndProviderVersion(ctx, h.DB.Bun, org.Slug); err == nil && !p.IsSAML() {
			err = models.ErrNotFound
		}
		if errors.Is(err, models.ErrNotFound) {
			return fail(models.ReasonNoProvider, "no SAML provider for this organization")
		}
		if err != nil {
			return err
		}
	}
	if req == nil && !p.AllowIdPInitiated {
		return fail(models.ReasonNotAllowed, "an unsolicited response, and this organization does not allow IdP-initiated login")
	}
	settings, err := h.samlSettings(org, p)
	if err != nil {
		return err
	}
	if req != nil && req.Purpose == models.PurposeTest {
		// Test Configuration (SPEC §3.8): diagnostics only; no session, no membership.
		if _, err := models.TakeSAMLRequest(ctx, h.DB.Bun, org.ID, req.RelayState); err != nil {
			if errors.Is(err, models.ErrNotFound) {
				return fail(samlsp.ReasonRequest, "the test request was already answered")
			}
			return err
		}
		d := samlsp.Diagnose(settings, raw, requestID, p.Config.Mapping)
		attempt.Reason, attempt.Hint = "test", "Test Configuration"
		if d.Works() {
			attempt.Outcome = "success"
		} else if d.Valid {
			attempt.Hint = "Test Configuration: " + d.MapError
		}
		if err := models.RecordSSOAttempt(ctx, h.DB.Bun, attempt); err != nil {
			return err
		}
		return h.showSSOResult(c, org, req, models.SSOResult{Purpose: models.PurposeTest, Diagnosis: d})
	}
	var a *samlsp.Assertion
	err = parseErr // a response that failed the pre-scan is refused with its reason
	if resp != nil {
		a, err = resp.Validate(settings, requestID)
	}
	if err != nil && req != nil && req.Purpose == models.PurposeActivate {
		return h.activationFailed(c, org, req, attempt, samlsp.Diagnose(settings, raw, requestID, p.Config.Mapping), reasonOf(err), detailOf(err))
	}
	if err != nil {
		return fail(reasonOf(err), detailOf(err))
	}
	mapping := p.Config.Mapping
	id, err := samlsp.MapIdentity(a, mapping)
	if err != nil {
		var me *samlsp.MapError
		errors.As(err, &me)
		attempt.IDPUserID = a.NameID
		if req != nil && req.Purpose == models.PurposeActivate {
			return h.activationFailed(c, org, req, attempt, samlsp.Diagnose(settings, raw, requestID, mapping), models.ReasonMapping, me.Msg)
		}
		_ = models.RecordSSOAttempt(ctx, h.DB.Bun, withReason(attempt, models.ReasonMapping, me.Msg))
		return h.render(c, http.StatusBadRequest, pages.OrgLogin(h.barePage("Sign in to "+org.Name),
			pages.OrgLoginView{Slug: org.Slug, OrgName: org.Name, Error: me.Msg}))
	}
	attempt.IDPUserID, attempt.Email = id.ID, id.Email
	next := "/organizations/" + org.Slug + "/"
	if req != nil && req.NextPath != "" {
		next = safeNext(req.NextPath, next)
	} else if req == nil {
		next = safeNext(h.ownPath(relay), next) // IdPs send the configured default Relay State
	}
	// Hand off to the same-site GET that completes the sign-in in this browser's
	// session (models/sso_handoff.go explains why).
	keep := a.NotOnOrAfter
	if keep.Before(time.Now()) {
		keep = time.Now()
	}
	handoff := models.SAMLHandoff{Issuer: a.Issuer, AssertionID: a.ID, ReplayUntil: keep.Add(24 * time.Hour),
		Identity: id, NameID: a.NameID, NameRef: a.Ref().Encode(), Attributes: a.Attributes, Next: next, ProviderVersion: version}
	if req != nil {
		handoff.RelayState, handoff.Purpose = req.RelayState, req.Purpose
	}
	token, err := models.HandOffSAML(ctx, h.DB.Bun, h.Secrets, org.ID, handoff)
	if err != nil {
		return err
	}
	return c.Redirect(ssoCompletePath+token+"/", http.StatusSeeOther)
}

// showSSOResult answers an owner's round trip (Test Configuration, a failed
// activation) POST → 303 → GET: the result page inside Settings › Auth, which only the
// user who started it opens, in the browser session that started it.
func (h *Handler) showSSOResult(c *fiber.Ctx, org *models.Organization, req *models.SAMLRequest, r models.SSOResult) error {
	token, err := models.SaveSSOResult(c.UserContext(), h.DB.Bun, org.ID,
		models.SSOResultStarter{UserID: req.UserID, Flow: models.HashToken(req.RelayState)}, r)
	if err != nil {
		return err
	}
	return c.Redirect(ssoResultPath(org.Slug, r.Purpose, token), http.StatusSeeOther)
}

// ssoResultPath is where the result of purpose is shown.
func ssoResultPath(slug, purpose, token string) string {
	seg := "test"
	if purpose == models.PurposeActivate {
		seg = "activation"
	}
	return "/settings/" + slug + "/auth/" + seg + "/" + token + "/"
}

// activationFailed ends an activation whose response the ACS refused: the request is
// used, the sign-in log has the reason, and the owner reads each check in Settings ›
// Auth. Nothing is signed in or activated.
func (h *Handler) activationFailed(c *fiber.Ctx, org *models.Organization, req *models.SAMLRequest, attempt models.SSOAttempt,
	d *samlsp.Diagnosis, reason, hint string) error {
	ctx := c.UserContext()
	if _, err := models.TakeSAMLRequest(ctx, h.DB.Bun, org.ID, req.RelayState); err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return h.render(c, http.StatusForbidden, pages.SSOFailed(h.barePage("Authentication failed"), org.Slug, requestID(c)))
		}
		return err
	}
	if err := models.RecordSSOAttempt(ctx, h.DB.Bun, withReason(attempt, reason, hint)); err != nil {
		return err
	}
	h.Log.Warn("SAML activation response rejected", "request_id", requestID(c), "org", org.ID, "reason", reason, "detail", hint)
	return h.showSSOResult(c, org, req, models.SSOResult{Purpose: models.PurposeActivate, Diagnosis: d})
}

// ssoResult shows an owner's round-trip result (GET, reloadable). Anyone but the user
// who started it in this browser session gets 404.
func (h *Handler) ssoResult(purpose string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		org, _ := currentOrg(c)
		r, err := models.SSOResultFor(c.UserContext(), h.DB.Bun, org.ID, currentUser(c).ID, h.ssoFlow(c), purpose, copyString(c.Params("token")))
		if errors.Is(err, models.ErrNotFound) {
			return fiber.NewError(http.StatusNotFound, "This result is unknown or expired, or was opened in another browser. Run it again from Settings › Auth.")
		}
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderCacheControl, "no-store") // what the IdP said about a person
		title := "Test Configuration"
		if purpose == models.PurposeActivate {
			title = "Activation failed"
		}
		pg := h.page(c, title)
		pg.Section = "auth"
		return h.render(c, http.StatusOK, pages.SSOTestResult(pg, org.Slug, r))
	}
}

// ssoCompletePath is the same-site GET a validated SAML response continues to.
const ssoCompletePath = "/auth/sso/complete/"

// completeSSOHandoff finishes a SAML sign-in in the browser that followed the ACS's
// redirect: SP-initiated only in the session that started it; IdP-initiated asks
// before replacing another user's session ("Continue as …?").
func (h *Handler) completeSSOHandoff(c *fiber.Ctx) error {
	ctx := c.UserContext()
	token := copyString(c.Params("token"))
	b := models.HandoffBrowser{Flow: h.ssoFlow(c), IP: clientIP(c),
		Confirmed: c.Method() == fiber.MethodPost && formBodyValue(c, "confirm") == "yes"}
	if u := currentUser(c); u != nil {
		b.SignedInUserID = u.ID
	}
	res, err := models.CompleteSSOHandoff(ctx, h.DB.Bun, h.Secrets, h.Mailer, token, b, func(ctx context.Context, tx bun.Tx, r *models.HandoffResult) error {
		return h.ssoSignedIn(c, ctx, tx, r.Org, r.Provider, r.Attempt, r.Outcome, r.NameRef, r.Activation != nil)
	})
	if errors.Is(err, models.ErrHandoffInvalid) {
		return h.render(c, http.StatusNotFound, pages.Error(h.page(c, "Sign-in expired"), http.StatusNotFound,
			"This sign-in is unknown, already used or expired. Start again from your organization's login page.", requestID(c)))
	}
	var confirm *models.ConfirmSwitch
	if errors.As(err, &confirm) {
		return h.render(c, http.StatusOK, pages.ConfirmSSOSwitch(h.page(c, "Switch account?"), pages.SwitchView{
			OrgName: confirm.Org.Name, Current: currentUser(c).Email, Next: confirm.Email, Action: ssoCompletePath + token + "/"}))
	}
	if res.Org == nil {
		return err
	}
	fail := func(reason, hint string) error {
		_ = models.RecordSSOAttempt(ctx, h.DB.Bun, withReason(res.Attempt, reason, hint))
		h.Log.Warn("SSO sign-in refused", "request_id", requestID(c), "org", res.Org.ID, "reason", reason)
		return h.render(c, http.StatusForbidden, pages.SSOFailed(h.barePage("Authentication failed"), res.Org.Slug, requestID(c)))
	}
	return h.finishSSO(c, res.Org, res.Provider, res.Attempt, res.Outcome, err, res.Next, res.Activation, fail)
}

// finishSSO turns the outcome of an SSO sign-in (SAML, Google or GitHub) into the
// answer: an error on the org login page (Sentry's texts), the link-your-account page,
// or the next page of a session that completed this org's SSO (written by
// ssoSignedIn in the sign-in's transaction). fail renders generic refusals.
// activation is the owner's activation round trip this completes (nil otherwise): a
// refusal is shown to them inside Settings › Auth.
func (h *Handler) finishSSO(c *fiber.Ctx, org *models.Organization, p *models.AuthProvider, attempt models.SSOAttempt,
	out *models.SSOOutcome, err error, next string, activation *models.SSOResultStarter, fail func(reason, hint string) error) error {
	ctx := c.UserContext()
	activating := activation != nil
	if ssoErr, ok := models.AsSSOError(err); ok && activating && activation.UserID != nil {
		if err := models.RecordSSOAttempt(ctx, h.DB.Bun, withReason(attempt, ssoErr.Reason, ssoErr.Hint)); err != nil {
			return err
		}
		problem := ssoErr.Hint
		if problem == "" {
			problem = ssoErr.Message
		}
		token, err := models.SaveSSOResult(ctx, h.DB.Bun, org.ID, *activation, models.SSOResult{Purpose: models.PurposeActivate, Problem: problem})
		if err != nil {
			return err
		}
		return c.Redirect(ssoResultPath(org.Slug, models.PurposeActivate, token), http.StatusSeeOther)
	}
	if ssoErr, ok := models.AsSSOError(err); ok {
		if ssoErr.Message != "" {
			_ = models.RecordSSOAttempt(ctx, h.DB.Bun, withReason(attempt, ssoErr.Reason, ssoErr.Hint))
			return h.render(c, http.StatusForbidden, pages.OrgLogin(h.barePage("Sign in to "+org.Name),
				pages.OrgLoginView{Slug: org.Slug, OrgName: org.Name, Error: ssoErr.Message}))
		}
		return fail(ssoErr.Reason, ssoErr.Hint)
	}
	if err != nil {
		return err
	}
	h.sessionCommitted(c) // the sign-in's transaction committed
	if out.LinkToken != "" {
		c.Cookie(&fiber.Cookie{Name: linkCookie, Value: out.LinkBrowser, Path: "/auth/link/", HTTPOnly: true,
			Secure: h.Config.Secure(), SameSite: fiber.CookieSameSiteLaxMode, MaxAge: int(models.PendingLinkLifetime.Seconds())})
		return c.Redirect("/auth/link/"+out.LinkToken+"/", http.StatusSeeOther)
	}
	if out.Activated || activating {
		next = "/settings/" + org.Slug + "/auth/"
	}
	return c.Redirect(next, http.StatusSeeOther)
}

// ssoSignedIn is the browser's part of a successful SSO sign-in, inside its
// transaction (models.SSOThen): the sign-in log, and the new session that completed
// org's SSO (nameRef: how the IdP named the person, samlsp.NameRef.Encode or a bare
// NameID; "" for OAuth). A link waiting for its owner is logged, with no session.
func (h *Handler) ssoSignedIn(c *fiber.Ctx, ctx context.Context, tx bun.Tx, org *models.Organization, p *models.AuthProvider,
	attempt models.SSOAttempt, out *models.SSOOutcome, nameRef string, activating bool) error {
	if out.LinkToken != "" {
		// Not a failure: the sign-in waits for the account's owner (logged as success
		// "linked" when they prove it).
		return models.RecordSSOAttempt(ctx, tx, withReason(attempt, "link_required", "An account with this email exists; waiting for its owner to prove it (password or emailed link)."))
	}
	attempt.Outcome, attempt.UserID = "success", &out.User.ID
	if out.Activated {
		attempt.Hint = "Provider activated by its owner's sign-in."
	}
	if err := models.RecordSSOAttempt(ctx, tx, attempt); err != nil {
		return err
	}
	return h.commitSessionIn(c, ctx, tx, func() error {
		if err := h.signInSSO(c, out.User, org.ID, nameRef); err != nil {
			return err
		}
		if out.Activated || activating {
			h.flash(c, p.DisplayName()+" single sign-on is active. Members can now sign in with it.")
		}
		return nil
	})
}

func withReason(a models.SSOAttempt, reason, hint string) models.SSOAttempt {
	a.Reason, a.Hint = reason, hint
	return a
}

func reasonOf(err error) string {
	var ve *samlsp.ValidationError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return samlsp.ReasonInvalid
}

func detailOf(err error) string {
	var ve *samlsp.ValidationError
	if errors.As(err, &ve) {
		return ve.Detail
	}
	return err.Error()
}

// keySSOFlow is the sign-in this session started last (HashToken of its RelayState or
// OAuth state): only this session may complete a link that sign-in needs.
const keySSOFlow = "sso_flow"

// Session keys for SP-initiated logout (SPEC §3.6 Beyond): the org of the session's
// last SSO and how its IdP named the person (samlsp.NameRef, encoded).
const (
	keySLOOrg    = "slo_org"
	keySLONameID = "slo_name_id"
)

// signInSSO starts a session that completed org's SSO now; nameRef is how the IdP
// named the person (samlsp.NameRef.Encode, or a bare NameID; "" for OAuth).
func (h *Handler) signInSSO(c *fiber.Ctx, u *models.User, orgID int64, nameRef string) error {
	if err := h.signIn(c, u); err != nil {
		return err
	}
	ctx := c.UserContext()
	h.Sessions.Put(ctx, sessionstore.KeySSO(orgID), time.Now().Unix())
	if nameRef != "" {
		h.Sessions.Put(ctx, keySLOOrg, orgID)
		h.Sessions.Put(ctx, keySLONameID, nameRef)
	}
	return nil
}

// idpLogout is where signing out continues when the session's SSO came from an IdP
// with a Single Logout URL (nil otherwise): a LogoutRequest naming the IdP session
// exactly as the IdP named it, in the binding the IdP published.
func (h *Handler) idpLogout(c *fiber.Ctx) *samlsp.Outbound {
	ctx := c.UserContext()
	orgID, ref := h.Sessions.GetInt64(ctx, keySLOOrg), samlsp.DecodeNameRef(h.Sessions.GetString(ctx, keySLONameID))
	if orgID == 0 || ref.Value == "" {
		return nil
	}
	p, err := models.ProviderOf(ctx, h.DB.Bun, orgID)
	if err != nil || !p.IsSAML() || p.Config.SLOURL == "" {
		return nil
	}
	org, err := models.OrgByID(ctx, h.DB.Bun, orgID)
	if err != nil {
		return nil
	}
	settings, err := h.samlSettings(org, p)
	if err != nil {
		return nil
	}
	out, _, err := samlsp.SPLogout(settings, ref, "")
	if err != nil {
		h.Log.Warn("SP-initiated logout request", "request_id", requestID(c), "error", err.Error())
		return nil
	}
	return out
}

// sls is the Single Logout Service: a verified IdP LogoutRequest ends the user's
// sessions for the org, and the IdP gets a LogoutResponse.
func (h *Handler) sls(c *fiber.Ctx) error {
	ctx := c.UserContext()
	org, p, err := h.samlOrg(c)
	if err != nil {
		return err
	}
	settings, err := h.samlSettings(org, p)
	if err != nil {
		return err
	}
	var lr *samlsp.LogoutRequest
	relay := ""
	if c.Method() == fiber.MethodGet {
		raw := string(c.Request().URI().QueryString())
		if strings.Contains(raw, "SAMLResponse=") {
			return h.logoutAnswered(c, org, settings, raw, "") // the answer to our own logout request
		}
		lr, err = samlsp.ParseLogoutRequestRedirect(settings, raw, p.AllowUnsignedLogout)
		relay = c.Query("RelayState")
	} else {
		if v := c.FormValue("SAMLResponse"); v != "" {
			return h.logoutAnswered(c, org, settings, "", v)
		}
		lr, err = samlsp.ParseLogoutRequestPost(settings, c.FormValue("SAMLRequest"), p.AllowUnsignedLogout)
		relay = c.FormValue("RelayState")
	}
	if err != nil {
		h.Log.Warn("SAML logout request rejected", "request_id", requestID(c), "org", org.ID, "reason", reasonOf(err), "detail", detailOf(err))
		return fiber.NewError(http.StatusBadRequest, "The logout request could not be verified.")
	}
	if userID, err := models.IdentityByNameID(ctx, h.DB.Bun, p.ID, lr.NameID); err == nil {
		if _, err := models.RevokeSSOSessions(ctx, h.DB.Bun, org.ID, userID); err != nil {
			return err
		}
	} else if !errors.Is(err, models.ErrNotFound) {
		return err
	}
	if p.Config.SLOURL == "" {
		return h.render(c, http.StatusOK, pages.SignedOut(h.page(c, "Signed out")))
	}
	out, err := samlsp.LogoutResponse(settings, lr.ID, relay)
	if err != nil {
		return err
	}
	if out.Binding == samlsp.BindingPOST {
		// The IdP published only an HTTP-POST SingleLogoutService: a form to it.
		allowFormTo(c, out.URL)
		return h.render(c, http.StatusOK, pages.SLOPostResponse(h.barePage("Signed out"), out.URL, out.Form.Get("SAMLResponse"), out.Form.Get("RelayState")))
	}
	return c.Redirect(out.URL, http.StatusSeeOther)
}

// logoutAnswered is the IdP's LogoutResponse to our SP-initiated LogoutRequest (the
// Gatehouse session already ended): it is verified and the outcome shown.
func (h *Handler) logoutAnswered(c *fiber.Ctx, org *models.Organization, settings samlsp.Settings, rawQuery, post string) error {
	res, err := samlsp.ParseLogoutResponse(settings, rawQuery, post)
	if err != nil {
		h.Log.Warn("SAML logout response rejected", "request_id", requestID(c), "org", org.ID, "reason", reasonOf(err), "detail", detailOf(err))
		return fiber.NewError(http.StatusBadRequest, "The logout response could not be verified.")
	}
	if res.Success {
		return c.Redirect("/auth/login/", http.StatusSeeOther)
	}
	h.Log.Warn("IdP logout not complete", "request_id", requestID(c), "org", org.ID, "status", res.Status)
	return h.render(c, http.StatusOK, pages.IdPSignedOut(h.barePage("Signed out"), false))
}

// ownPath turns an absolute URL on this instance's base URL (scheme and host) into
// its local path: Sentry's Entra guide sets the Relay State to such a deep link.
// Anything else is returned unchanged (and safeNext refuses it).
func (h *Handler) ownPath(raw string) string {
	u, err := url.Parse(raw)
	base := h.Config.BaseURL
	if err != nil || u.Scheme == "" || u.User != nil || !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) {
		return raw
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p
}
