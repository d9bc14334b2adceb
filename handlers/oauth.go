package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"

	"gatehouse/models"
	"gatehouse/models/oauth"
	"gatehouse/models/samlsp"
	"gatehouse/views/pages"
)

// Google Workspace and GitHub sign-in (SPEC §6). One redirect URI serves every org:
// {base}/auth/oauth/callback/; the state we issued says which org and why.

// OAuthCallbackPath is the redirect URI to register with Google and GitHub.
const OAuthCallbackPath = "/auth/oauth/callback/"

// providerSignInURL is where a sign-in form of this provider ends (CSP form-action).
func (h *Handler) providerSignInURL(c *fiber.Ctx, p *models.AuthProvider) string {
	switch p.Kind {
	case models.KindGoogle:
		if h.Google != nil {
			return h.Google.Issuer
		}
	case models.KindGitHub:
		if h.GitHub != nil {
			return h.GitHub.BaseURL
		}
	default:
		return p.Config.SSOURL
	}
	return ""
}

// oauthUnavailable says why kind cannot be used on this instance: reason for the org's
// owners, hint (naming the instance's variables) for its operators only.
func (h *Handler) oauthUnavailable(kind string) (reason, hint string) {
	switch {
	case kind == models.KindGoogle && h.Google == nil:
		return "Not available on this instance yet: ask its operator to enable Google sign-in.",
			"Operator: set GATEHOUSE_GOOGLE_CLIENT_ID and GATEHOUSE_GOOGLE_CLIENT_SECRET."
	case kind == models.KindGitHub && h.GitHub == nil:
		return "Not available on this instance yet: ask its operator to enable GitHub sign-in.",
			"Operator: set GATEHOUSE_GITHUB_CLIENT_ID and GATEHOUSE_GITHUB_CLIENT_SECRET."
	}
	return "", ""
}

func (h *Handler) startOAuth(c *fiber.Ctx, org *models.Organization, p *models.AuthProvider, purpose string, userID int64, next string) (string, error) {
	if reason, _ := h.oauthUnavailable(p.Kind); reason != "" {
		return "", fiber.NewError(http.StatusServiceUnavailable, reason)
	}
	st, err := models.NewOAuthState(c.UserContext(), h.DB.Bun, org.ID, p.Kind, purpose, userID, next)
	if err != nil {
		return "", err
	}
	h.Sessions.Put(c.UserContext(), keySSOFlow, models.HashToken(st.State))
	if p.Kind == models.KindGoogle {
		return h.Google.AuthURL(c.UserContext(), st.State, st.Nonce, st.Verifier, p.Config.Domains)
	}
	return h.GitHub.AuthURL(st.State, st.Verifier), nil
}

// oauthCallback finishes a Google or GitHub sign-in: a state we did not issue (or
// issued once already) is refused before the code is used; the provider must still be
// the org's, of the same kind.
func (h *Handler) oauthCallback(c *fiber.Ctx) error {
	ctx := c.UserContext()
	failPage := func(org *models.Organization, status int, msg string) error {
		v := pages.OrgLoginView{OrgName: orgName(org), Error: msg}
		if org != nil {
			v.Slug = org.Slug
		}
		return h.render(c, status, pages.OrgLogin(h.barePage("Sign in"), v))
	}
	st, err := models.TakeOAuthState(ctx, h.DB.Bun, copyString(c.Query("state")))
	if errors.Is(err, models.ErrNotFound) {
		h.Log.Warn("OAuth callback with an unknown state", "request_id", requestID(c))
		return failPage(nil, http.StatusBadRequest, "The sign-in request is unknown or expired. Start again from your organization's login page.")
	}
	if err != nil {
		return err
	}
	org, err := models.OrgByID(ctx, h.DB.Bun, st.OrgID)
	if err != nil {
		return err
	}
	attempt := models.SSOAttempt{OrgID: org.ID, Outcome: "failure", IP: clientIP(c)}
	fail := func(reason, hint string) error {
		_ = models.RecordSSOAttempt(ctx, h.DB.Bun, withReason(attempt, reason, hint))
		return h.render(c, http.StatusForbidden, pages.SSOFailed(h.barePage("Authentication failed"), org.Slug, requestID(c)))
	}
	// The callback is a top-level GET that carries the session cookie: only the
	// session that started the sign-in may finish it (no login CSRF).
	if h.ssoFlow(c) != models.HashToken(st.State) {
		_ = models.RecordSSOAttempt(ctx, h.DB.Bun, withReason(attempt, models.ReasonOtherBrowser, "The callback reached a browser session that did not start this sign-in."))
		return failPage(org, http.StatusForbidden, "This sign-in was started in another browser. Start again from your organization's login page.")
	}
	p, err := models.ProviderOf(ctx, h.DB.Bun, org.ID)
	if err != nil || p.Kind != st.Kind {
		return fail(models.ReasonNoProvider, "The organization's provider changed during the sign-in.")
	}
	if e := c.Query("error"); e != "" {
		_ = models.RecordSSOAttempt(ctx, h.DB.Bun, withReason(attempt, "denied", "The provider answered "+clipText(e, 60)))
		return failPage(org, http.StatusForbidden, oauth.MsgDenied)
	}
	code := copyString(c.Query("code"))
	if code == "" {
		return fail("no_code", "The provider sent no authorization code.")
	}
	var id oauth.Identity
	if st.Kind == models.KindGoogle && h.Google != nil {
		id, err = h.Google.Exchange(ctx, code, st.Verifier, st.Nonce, p.Config.Domains)
	} else if st.Kind == models.KindGitHub && h.GitHub != nil {
		id, err = h.GitHub.Exchange(ctx, code, st.Verifier, p.Config.GitHubOrg)
	} else {
		reason, _ := h.oauthUnavailable(st.Kind)
		return fail(models.ReasonNoProvider, reason)
	}
	var oe *oauth.Error
	if errors.As(err, &oe) {
		_ = models.RecordSSOAttempt(ctx, h.DB.Bun, withReason(attempt, oe.Reason, oe.Msg))
		return failPage(org, http.StatusForbidden, oe.Msg)
	}
	if err != nil {
		h.Log.Warn("OAuth exchange", "request_id", requestID(c), "org", org.ID, "error", err.Error())
		return fail("provider_unreachable", "The provider could not be reached.")
	}
	attempt.IDPUserID, attempt.Email = id.ID, id.Email
	next := safeNext(st.NextPath, "/organizations/"+org.Slug+"/")
	ident := models.SSOIdentity{Identity: samlsp.Identity{ID: id.ID, Email: id.Email, FirstName: id.FirstName, LastName: id.LastName},
		Attributes: map[string][]string{"email": {id.Email}}}
	if id.Login != "" {
		ident.Attributes["login"] = []string{id.Login}
	}
	start := &models.SSOStart{Purpose: st.Purpose, UserID: st.UserID, Flow: models.HashToken(st.State)}
	activating := st.Purpose == models.PurposeActivate
	out, err := models.CompleteSSO(ctx, h.DB.Bun, h.Mailer, org, p, start, ident, next, clientIP(c), func(ctx context.Context, tx bun.Tx, out *models.SSOOutcome) error {
		return h.ssoSignedIn(c, ctx, tx, org, p, attempt, out, "", activating)
	})
	var activation *models.SSOResultStarter
	if activating {
		activation = &models.SSOResultStarter{UserID: st.UserID, Flow: start.Flow}
	}
	return h.finishSSO(c, org, p, attempt, out, err, next, activation, fail)
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
