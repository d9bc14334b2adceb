package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/models"
	"gatehouse/models/samlsp"
	"gatehouse/models/sessionstore"
	"gatehouse/views/components"
	"gatehouse/views/pages"
)

// signOutKeepingCSRF ends the browser's signed-in session but keeps its CSRF token, so
// its open forms still work.
func (h *Handler) signOutKeepingCSRF(c *fiber.Ctx) error {
	ctx := c.UserContext()
	csrf := h.Sessions.GetString(ctx, "csrf")
	if err := h.Sessions.Clear(ctx); err != nil {
		return err
	}
	if err := h.Sessions.RenewToken(ctx); err != nil {
		return err
	}
	if csrf != "" {
		h.Sessions.Put(ctx, "csrf", csrf)
	}
	c.Locals(localUser, nil)
	return nil
}

// signIn starts a session for u: a new token (no fixation), the user, and what the
// sessions list on the account page shows.
func (h *Handler) signIn(c *fiber.Ctx, u *models.User) error {
	ctx := c.UserContext()
	if prev := h.Sessions.GetInt64(ctx, sessionstore.KeyUserID); prev != u.ID {
		// Another account: nothing of the previous one carries over (its SSO times
		// would otherwise satisfy Require SSO for this one); the browser's CSRF token
		// stays, so its open forms still work.
		csrf := h.Sessions.GetString(ctx, "csrf")
		if csrf == "" {
			csrf = h.cookieCSRF(c) // a signed-out browser's forms
		}
		if err := h.Sessions.Clear(ctx); err != nil {
			return err
		}
		if csrf != "" {
			h.Sessions.Put(ctx, "csrf", csrf)
		}
	}
	if err := h.Sessions.RenewToken(ctx); err != nil {
		return err
	}
	h.Sessions.Put(ctx, sessionstore.KeyUserID, u.ID)
	h.Sessions.Put(ctx, sessionstore.KeyUserAgent, copyString(c.Get(fiber.HeaderUserAgent)))
	h.Sessions.Put(ctx, sessionstore.KeyIP, clientIP(c))
	c.Locals(localUser, u)
	return nil
}

func (h *Handler) home(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if currentUser(c) == nil {
		n, err := models.CountUsers(ctx, h.DB.Bun)
		if err != nil {
			return err
		}
		if n == 0 {
			return h.redirect(c, "/setup/")
		}
		return h.redirect(c, "/auth/login/")
	}
	orgs, err := models.OrgsOfUser(ctx, h.DB.Bun, currentUser(c).ID)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, pages.OrgIndex(h.page(c, "Organizations"), orgs))
}

func (h *Handler) setupPage(c *fiber.Ctx) error {
	n, err := models.CountUsers(c.UserContext(), h.DB.Bun)
	if err != nil {
		return err
	}
	if n > 0 {
		return h.redirect(c, "/auth/login/")
	}
	return h.render(c, http.StatusOK, pages.Setup(h.page(c, "Welcome"), pages.AuthForm{}))
}

func (h *Handler) setup(c *fiber.Ctx) error {
	f := pages.AuthForm{Email: c.FormValue("email"), Name: c.FormValue("name"), OrgName: c.FormValue("org_name"), OrgSlug: c.FormValue("org_slug")}
	u, org, err := models.SetUpInstance(c.UserContext(), h.DB.Bun, models.FirstRun{
		User: models.NewUser{Email: f.Email, Name: f.Name, Password: c.FormValue("password")},
		Org:  models.NewOrganization{Name: f.OrgName, Slug: f.OrgSlug},
	}, clientIP(c))
	if errs, ferr := formErrors(err); err != nil {
		if ferr != nil {
			return ferr
		}
		f.Errors = errs
		return h.render(c, http.StatusUnprocessableEntity, pages.Setup(h.page(c, "Welcome"), f))
	}
	if err := h.signIn(c, u); err != nil {
		return err
	}
	return h.redirect(c, "/organizations/"+org.Slug+"/")
}

func (h *Handler) registerPage(c *fiber.Ctx) error {
	if currentUser(c) != nil {
		return h.redirect(c, safeNext(c.Query("next"), "/"))
	}
	return h.render(c, http.StatusOK, pages.Register(h.page(c, "Sign up"), pages.AuthForm{Next: safeNext(c.Query("next"), "")}))
}

// register answers every sign-up the same way (SECURITY.md "Powers": no account
// enumeration): a new address gets a verification link, a taken one an email saying
// it has an account. Sign-ups are limited per address.
func (h *Handler) register(c *fiber.Ctx) error {
	ctx := c.UserContext()
	f := pages.AuthForm{Email: strings.TrimSpace(c.FormValue("email")), Name: c.FormValue("name"), Next: safeNext(c.FormValue("next"), "")}
	ok, retry, err := models.Allow(ctx, h.DB.Bun, "register:ip:"+clientKey(c), models.RegisterLimitPerIP, models.RegisterWindow)
	if err != nil {
		return err
	}
	if !ok {
		c.Set(fiber.HeaderRetryAfter, fmt.Sprint(int(retry.Seconds())+1))
		f.Errors = components.Errors{"_form": fmt.Sprintf("Too many sign-ups from your network. Try again in %d minutes.", int(retry.Minutes())+1)}
		return h.render(c, http.StatusTooManyRequests, pages.Register(h.page(c, "Sign up"), f))
	}
	err = models.Register(ctx, h.DB.Bun, h.Mailer, models.NewUser{Email: f.Email, Name: f.Name, Password: c.FormValue("password")})
	if errs, ferr := formErrors(err); err != nil {
		if ferr != nil {
			return ferr
		}
		f.Errors = errs
		return h.render(c, http.StatusUnprocessableEntity, pages.Register(h.page(c, "Sign up"), f))
	}
	return h.render(c, http.StatusOK, pages.CheckEmail(h.page(c, "Check your email"), models.NormalizeEmail(f.Email)))
}

func (h *Handler) verifyEmailPage(c *fiber.Ctx) error {
	token := copyString(c.Params("token"))
	err := models.CheckEmailVerification(c.UserContext(), h.DB.Bun, token)
	if err != nil && !errors.Is(err, models.ErrVerificationInvalid) {
		return err
	}
	status := http.StatusOK
	if err != nil {
		status = http.StatusNotFound
	}
	return h.render(c, status, pages.VerifyEmail(h.page(c, "Verify your email"), token, err == nil))
}

// verifyEmail proves the sign-up's mailbox and signs the account in.
func (h *Handler) verifyEmail(c *fiber.Ctx) error {
	token := copyString(c.Params("token"))
	u, err := models.VerifyEmail(c.UserContext(), h.DB.Bun, token)
	if errors.Is(err, models.ErrVerificationInvalid) {
		return h.render(c, http.StatusNotFound, pages.VerifyEmail(h.page(c, "Verify your email"), token, false))
	}
	if err != nil {
		return err
	}
	if err := h.signIn(c, u); err != nil {
		return err
	}
	h.flash(c, "Your email address is verified. Welcome to Gatehouse.")
	return h.redirect(c, "/")
}

func (h *Handler) loginPage(c *fiber.Ctx) error {
	next := safeNext(c.Query("next"), "")
	if currentUser(c) != nil {
		return h.redirect(c, safeNext(next, "/"))
	}
	return h.render(c, http.StatusOK, pages.Login(h.page(c, "Log in"), pages.AuthForm{Next: next}))
}

func (h *Handler) login(c *fiber.Ctx) error {
	ctx := c.UserContext()
	f := pages.AuthForm{Email: strings.TrimSpace(c.FormValue("email")), Next: safeNext(c.FormValue("next"), "")}
	// Sign in with your email (README "Verified domains"): an address at a verified
	// domain whose org has an active provider continues to that IdP when no password
	// is given, and always when the org captures the domain. The routing looks at the
	// domain only: known and unknown addresses get the same answer.
	if f.Email != "" {
		org, _, err := models.SSORoute(ctx, h.DB.Bun, f.Email)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return err
		}
		if org != nil && (c.FormValue("password") == "" || org.DomainCapture) {
			_, err := h.routeBySSO(c, f.Email, f.Next)
			return err
		}
	}
	if f.Email == "" || c.FormValue("password") == "" {
		f.Errors = components.Errors{}
		if f.Email == "" {
			f.Errors["email"] = "Enter your email."
		}
		if c.FormValue("password") == "" {
			f.Errors["password"] = "Enter your password."
		}
		return h.render(c, http.StatusUnprocessableEntity, pages.Login(h.page(c, "Log in"), f))
	}
	ok, retry, err := models.AllowPasswordAttempt(ctx, h.DB.Bun, f.Email, clientKey(c))
	if err != nil {
		return err
	}
	if !ok {
		c.Set(fiber.HeaderRetryAfter, fmt.Sprint(int(retry.Seconds())+1))
		f.Errors = components.Errors{"_form": "Too many login attempts. Try again in " + waitText(retry) + ", or reset your password."}
		return h.render(c, http.StatusTooManyRequests, pages.Login(h.page(c, "Log in"), f))
	}
	res, err := models.SignInWithPassword(ctx, h.DB.Bun, f.Email, c.FormValue("password"))
	if errors.Is(err, models.ErrBadCredentials) {
		f.Errors = components.Errors{"_form": "Wrong email or password."}
		return h.render(c, http.StatusUnprocessableEntity, pages.Login(h.page(c, "Log in"), f))
	}
	if err != nil {
		return err
	}
	if len(res.SSO) > 0 {
		// Require SSO before any session (models.SSOInsteadOfPassword). A browser
		// signed in as someone else is signed out: its person just proved to be this
		// account, and nothing of the other one may carry over.
		if u := currentUser(c); u != nil && u.ID != res.User.ID {
			if err := h.signOutKeepingCSRF(c); err != nil {
				return err
			}
		}
		return h.continueToSSO(c, res.SSO, f.Next, "")
	}
	if err := h.signIn(c, res.User); err != nil {
		return err
	}
	return h.redirect(c, safeNext(f.Next, "/"))
}

// logout ends the session; after an SSO sign-in with an IdP that has a Single Logout
// URL it continues there with a LogoutRequest (SPEC §3.6 Beyond).
func (h *Handler) logout(c *fiber.Ctx) error {
	idp := h.idpLogout(c)
	if err := h.Sessions.Destroy(c.UserContext()); err != nil {
		return err
	}
	if idp != nil && idp.Binding == samlsp.BindingPOST {
		// The IdP takes LogoutRequests by HTTP-POST only: a form to its SLO URL.
		allowFormTo(c, idp.URL)
		return h.render(c, http.StatusOK, pages.SignedOutContinuePost(h.barePage("Signed out"), idp.URL, idp.Form.Get("SAMLRequest"), idp.Form.Get("RelayState")))
	}
	if idp != nil {
		if c.Get(hxRequest) == "true" {
			return h.redirectExternal(c, idp.URL)
		}
		// Without JavaScript a form POST may not redirect to another site (CSP
		// form-action): a link continues to the IdP.
		return h.render(c, http.StatusOK, pages.SignedOutContinue(h.barePage("Signed out"), idp.URL))
	}
	return h.redirect(c, "/auth/login/")
}

func (h *Handler) forgotPage(c *fiber.Ctx) error {
	return h.render(c, http.StatusOK, pages.ForgotPassword(h.page(c, "Reset password"), pages.AuthForm{}, false))
}

func (h *Handler) forgot(c *fiber.Ctx) error {
	ctx := c.UserContext()
	f := pages.AuthForm{Email: strings.TrimSpace(c.FormValue("email"))}
	ok, _, err := models.Allow(ctx, h.DB.Bun, "reset:ip:"+clientKey(c), models.PasswordLimitPerIP, models.PasswordWindow)
	if err != nil {
		return err
	}
	if !ok {
		return fiber.NewError(http.StatusTooManyRequests, "Too many requests. Try again later.")
	}
	err = models.RequestPasswordReset(ctx, h.DB.Bun, h.Mailer, f.Email)
	if errs, ferr := formErrors(err); err != nil {
		if ferr != nil {
			return ferr
		}
		f.Errors = errs
		return h.render(c, http.StatusUnprocessableEntity, pages.ForgotPassword(h.page(c, "Reset password"), f, false))
	}
	return h.render(c, http.StatusOK, pages.ForgotPassword(h.page(c, "Reset password"), f, true))
}

func (h *Handler) resetPage(c *fiber.Ctx) error {
	token := copyString(c.Params("token"))
	err := models.CheckPasswordReset(c.UserContext(), h.DB.Bun, token)
	if err != nil && !errors.Is(err, models.ErrResetLinkInvalid) {
		return err
	}
	status := http.StatusOK
	if err != nil {
		status = http.StatusNotFound
	}
	return h.render(c, status, pages.ResetPassword(h.page(c, "Choose a new password"), pages.AuthForm{Token: token}, err == nil))
}

func (h *Handler) reset(c *fiber.Ctx) error {
	token := copyString(c.Params("token"))
	u, err := models.ResetPassword(c.UserContext(), h.DB.Bun, token, c.FormValue("password"))
	if errors.Is(err, models.ErrResetLinkInvalid) {
		return h.render(c, http.StatusNotFound, pages.ResetPassword(h.page(c, "Choose a new password"), pages.AuthForm{Token: token}, false))
	}
	if errs, ferr := formErrors(err); err != nil {
		if ferr != nil {
			return ferr
		}
		return h.render(c, http.StatusUnprocessableEntity, pages.ResetPassword(h.page(c, "Choose a new password"), pages.AuthForm{Token: token, Errors: errs}, true))
	}
	const changed = "Your password is changed, and every other session is signed out."
	sso, err := models.SSOInsteadOfPassword(c.UserContext(), h.DB.Bun, u.ID)
	if err != nil {
		return err
	}
	if len(sso) > 0 {
		// The new password opens no session where every org requires SSO.
		return h.continueToSSO(c, sso, "", changed)
	}
	if err := h.signIn(c, u); err != nil {
		return err
	}
	h.flash(c, changed)
	return h.redirect(c, "/")
}

// waitText says how long to wait: seconds under a minute, else minutes.
func waitText(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int(d.Seconds())+1)
	}
	return fmt.Sprintf("%d minutes", int(d.Minutes())+1)
}
