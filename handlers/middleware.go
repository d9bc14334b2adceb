package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/uptrace/bun"

	"gatehouse/models"
	"gatehouse/models/sessionstore"
)

const (
	localSession = "session" // set once the session is loaded (errors raised earlier have none)
	localCSRF    = "csrf"    // a CSRF token set in a cookie during this request
	// localSessionSaved: the session was written inside a transaction of this request
	// (commitSessionIn); holds its fingerprint then.
	localSessionSaved = "session_saved"
	localUser         = "user"
	localOrg          = "org"
	localMember       = "member"
)

// csp is the Content-Security-Policy of every page: no inline script, no framing, forms
// only to this site (plus the IdP on pages whose form starts SSO, see allowFormTo).
func csp(formAction string) string {
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'" + formAction
}

// allowFormTo lets this page's forms end at the IdP: a form POST that starts SSO is
// answered with a redirect to the IdP, and browsers apply form-action to redirects.
func allowFormTo(c *fiber.Ctx, rawURL string) {
	if u, err := url.Parse(rawURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		c.Set("Content-Security-Policy", csp(" "+u.Scheme+"://"+u.Host))
	}
}

// securityHeaders sets CSP (no inline script), framing and referrer rules.
func securityHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", csp(""))
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "same-origin")
	return c.Next()
}

// accessLog writes one JSON line per request. It logs the route pattern, never the
// path or query, which can carry tokens (/accept/{token}/).
func (h *Handler) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	status := c.Response().StatusCode()
	if err != nil {
		var fe *fiber.Error
		if errors.As(err, &fe) {
			status = fe.Code
		} else if status < 400 {
			status = http.StatusInternalServerError
		}
	}
	route := c.Route().Path
	observe(copyString(c.Method()), route, status, time.Since(start)) // Fiber reuses the method buffer
	if route == "/healthz" || route == "/readyz" || route == "/metrics" || strings.HasPrefix(route, "/static") {
		return err
	}
	h.Log.Info("request", "request_id", requestID(c), "method", c.Method(), "route", route,
		"status", status, "duration_ms", time.Since(start).Milliseconds(), "ip", clientIP(c))
	return err
}

func requestID(c *fiber.Ctx) string {
	if v, ok := c.Locals(requestid.ConfigDefault.ContextKey).(string); ok {
		return v
	}
	return ""
}

// loadSession is scs's LoadAndSave for Fiber: load the session from the cookie, run
// the handler, commit and set the cookie when the session changed.
func (h *Handler) loadSession(c *fiber.Ctx) error {
	name := h.Sessions.Cookie.Name
	token := copyString(c.Cookies(name))
	ctx, err := h.Sessions.Load(c.UserContext(), token)
	if err != nil {
		return err
	}
	c.SetUserContext(ctx)
	c.Locals(localSession, true)
	nextErr := c.Next()
	switch h.Sessions.Status(ctx) {
	case scs.Modified:
		if st, ok := c.Locals(localSessionSaved).(*txSession); ok {
			if !st.committed {
				// The sign-in's transaction rolled back (or never wrote the session):
				// the browser keeps its previous cookie and row, untouched.
				break
			}
			if st.fingerprint == h.sessionFingerprint(ctx) {
				break // written with the sign-in it belongs to, and not changed since
			}
		}
		token, expiry, err := h.Sessions.Commit(ctx)
		if err != nil {
			return err
		}
		h.setSessionCookie(c, token, expiry)
	case scs.Destroyed:
		c.Cookie(&fiber.Cookie{Name: name, Value: "", Path: "/", Expires: time.Unix(1, 0), MaxAge: -1,
			Secure: h.Config.Secure(), HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode})
	}
	return nextErr
}

func (h *Handler) setSessionCookie(c *fiber.Ctx, token string, expiry time.Time) {
	c.Cookie(&fiber.Cookie{Name: h.Sessions.Cookie.Name, Value: token, Path: "/", Expires: expiry, Secure: h.Config.Secure(),
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode})
}

// commitSessionIn applies change to this browser's session and writes the session in
// tx (ctx is tx's: a sign-in's transaction sends the write in its tail), setting its
// cookie once tx commits (sessionCommitted): a sign-in and its session are then one
// commit (issue 12). loadSession writes the session again only if the handler
// changes it after.
func (h *Handler) commitSessionIn(c *fiber.Ctx, ctx context.Context, tx bun.Tx, change func() error) error {
	st := &txSession{}
	c.Locals(localSessionSaved, st) // from here on, only sessionCommitted lets this session out
	orig := c.UserContext()
	c.SetUserContext(sessionstore.InTx(ctx, tx)) // RenewToken's delete of the old row too
	defer c.SetUserContext(orig)
	if err := change(); err != nil {
		return err
	}
	token, expiry, err := h.Sessions.Commit(c.UserContext())
	if err != nil {
		return err
	}
	st.token, st.expiry, st.fingerprint = token, expiry, h.sessionFingerprint(orig)
	return nil
}

// txSession is a session written inside a sign-in's transaction (commitSessionIn).
type txSession struct {
	token, fingerprint string
	expiry             time.Time
	committed          bool
}

// sessionCommitted is called once the transaction of commitSessionIn committed: the
// browser gets the session's cookie.
func (h *Handler) sessionCommitted(c *fiber.Ctx) {
	if st, ok := c.Locals(localSessionSaved).(*txSession); ok && st.token != "" {
		st.committed = true
		h.setSessionCookie(c, st.token, st.expiry)
	}
}

// sessionFingerprint identifies the session's token and contents.
func (h *Handler) sessionFingerprint(ctx context.Context) string {
	keys := h.Sessions.Keys(ctx) // sorted
	var b strings.Builder
	b.WriteString(h.Sessions.Token(ctx))
	for _, k := range keys {
		fmt.Fprintf(&b, "\x00%s=%#v", k, h.Sessions.Get(ctx, k))
	}
	return b.String()
}

// csrfToken returns the browser's CSRF token. A browser with a session keeps it in the
// session; a signed-out browser gets it in a signed cookie instead, so that a
// cookie-less GET of a public page (the login form, a landing page) writes no session
// row (issue 12). signIn carries a cookie token into the new session.
func (h *Handler) csrfToken(c *fiber.Ctx) string {
	ctx := c.UserContext()
	if t := h.Sessions.GetString(ctx, "csrf"); t != "" {
		return t
	}
	if t := h.cookieCSRF(c); t != "" {
		return t
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	t := base64.RawURLEncoding.EncodeToString(b)
	if h.Secrets != nil && h.Sessions.GetInt64(ctx, sessionstore.KeyUserID) == 0 {
		c.Cookie(&fiber.Cookie{Name: h.csrfCookieName(), Value: t + "." + base64.RawURLEncoding.EncodeToString(h.Secrets.MAC([]byte("csrf:"+t))),
			Path: "/", Secure: h.Config.Secure(), HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode})
		c.Locals(localCSRF, t)
		return t
	}
	h.Sessions.Put(ctx, "csrf", t)
	return t
}

// csrfCookieName is the signed-out CSRF cookie's name (__Host- on https, like the
// session cookie).
func (h *Handler) csrfCookieName() string {
	if h.Config.Secure() {
		return "__Host-gatehouse_csrf"
	}
	return "gatehouse_csrf"
}

// cookieCSRF returns the token of a valid signed CSRF cookie (or one set during this
// request), "" otherwise.
func (h *Handler) cookieCSRF(c *fiber.Ctx) string {
	if t, ok := c.Locals(localCSRF).(string); ok && t != "" {
		return t
	}
	if h.Secrets == nil {
		return ""
	}
	tok, sig, ok := strings.Cut(c.Cookies(h.csrfCookieName()), ".")
	if !ok || tok == "" {
		return ""
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, h.Secrets.MAC([]byte("csrf:"+tok))) {
		return ""
	}
	return copyString(tok)
}

// errCSRF is shown when a state-changing request lacks the session's token.
var errCSRF = fiber.NewError(http.StatusForbidden, "Your form expired or came from another site. Reload the page and try again.")

// csrf checks the synchronizer token on every state-changing request: the form field
// _csrf or the X-CSRF-Token header (HTMX), against the session's token or, for a
// signed-out browser, its signed cookie's. The SAML ACS/SLS and SCIM are protected
// by their own means and are mounted outside this middleware.
func (h *Handler) csrf(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	want := []byte(h.Sessions.GetString(c.UserContext(), "csrf"))
	if len(want) == 0 {
		want = []byte(h.cookieCSRF(c))
	}
	if len(want) == 0 {
		return errCSRF
	}
	// Either carrier may hold the token: a boosted page swap can leave an older header
	// value in the page while the form it submits is fresh.
	// The token travels in the form body or the header, never the URL (query strings
	// end up in logs, Referer headers and history).
	for _, got := range []string{formBodyValue(c, "_csrf"), c.Get("X-CSRF-Token")} {
		if got != "" && subtle.ConstantTimeCompare(want, []byte(got)) == 1 {
			return c.Next()
		}
	}
	return errCSRF
}

// loadUser puts the signed-in user (if any) in the request.
func (h *Handler) loadUser(c *fiber.Ctx) error {
	id := h.Sessions.GetInt64(c.UserContext(), sessionstore.KeyUserID)
	if id == 0 {
		return c.Next()
	}
	u, err := models.GetUser(c.UserContext(), h.DB.Bun, id)
	if errors.Is(err, models.ErrNotFound) || (err == nil && !u.IsActive) {
		_ = h.Sessions.Destroy(c.UserContext())
		return c.Next()
	}
	if err != nil {
		return err
	}
	c.Locals(localUser, u)
	return c.Next()
}

func currentUser(c *fiber.Ctx) *models.User {
	u, _ := c.Locals(localUser).(*models.User)
	return u
}

// requireUser sends signed-out visitors to the login page, back here afterwards.
// For an org page of an org with active SSO that is the org's login page (SPEC §3.1).
func (h *Handler) requireUser(c *fiber.Ctx) error {
	if currentUser(c) != nil {
		return c.Next()
	}
	next := c.OriginalURL()
	if c.Method() != fiber.MethodGet {
		next = ""
	}
	if slug := c.Params("slug"); slug != "" {
		if org, err := models.OrgBySlug(c.UserContext(), h.DB.Bun, copyString(slug)); err == nil {
			if p, err := models.ProviderOf(c.UserContext(), h.DB.Bun, org.ID); err == nil && p.Active() {
				return h.redirect(c, "/auth/login/"+org.Slug+"/"+nextQuery(next))
			}
		}
	}
	return h.redirect(c, "/auth/login/"+nextQuery(next))
}

func nextQuery(next string) string {
	if next == "" || next == "/" {
		return ""
	}
	return "?next=" + url.QueryEscape(next)
}

// loadOrg resolves :slug to an org the user is an active member of. Anything else is
// 404, so org slugs are not revealed to outsiders.
func (h *Handler) loadOrg(c *fiber.Ctx) error {
	slug := copyString(c.Params("slug"))
	org, err := models.OrgBySlug(c.UserContext(), h.DB.Bun, slug)
	if err != nil {
		return err
	}
	m, err := models.CheckMembership(c.UserContext(), h.DB.Bun, org.ID, currentUser(c).ID)
	if err != nil {
		return err
	}
	if !models.ReachesOrg(currentUser(c), org.ID) {
		return models.Forbidden("Verify your email address to open " + org.Name + ": your account was created by another organization's identity provider. Reset your password to prove the address is yours.")
	}
	c.Locals(localOrg, org)
	c.Locals(localMember, m)
	return h.enforceSSO(c, org, m)
}

// enforceSSO applies Require SSO to every org page and org-scoped action (SPEC §4):
// without a fresh SSO for this org the browser goes to the org's login page; an
// unlinked owner keeps access while no owner has linked (audited, owners emailed).
func (h *Handler) enforceSSO(c *fiber.Ctx, org *models.Organization, m *models.Member) error {
	ctx := c.UserContext()
	p, err := models.ProviderOf(ctx, h.DB.Bun, org.ID)
	if errors.Is(err, models.ErrNotFound) {
		return c.Next()
	}
	if err != nil {
		return err
	}
	var ssoAt time.Time
	if ts := h.Sessions.GetInt64(ctx, sessionstore.KeySSO(org.ID)); ts > 0 {
		ssoAt = time.Unix(ts, 0)
	}
	verdict, err := models.CheckSSOAccess(ctx, h.DB.Bun, p, m, ssoAt, time.Now())
	if err != nil {
		return err
	}
	switch verdict {
	case models.AccessNeedsSSO:
		next := ""
		if c.Method() == fiber.MethodGet {
			next = c.OriginalURL()
		}
		return h.redirect(c, "/auth/login/"+org.Slug+"/"+nextQuery(next))
	case models.AccessOwnerFallback:
		key := "owner_fallback:" + strconv.FormatInt(org.ID, 10)
		if !h.Sessions.GetBool(ctx, key) {
			if err := models.RecordOwnerFallback(ctx, h.DB.Bun, h.Mailer, org.ID, actor(c)); err != nil {
				return err
			}
			h.Sessions.Put(ctx, key, true)
		}
	}
	return c.Next()
}

func currentOrg(c *fiber.Ctx) (*models.Organization, *models.Member) {
	org, _ := c.Locals(localOrg).(*models.Organization)
	m, _ := c.Locals(localMember).(*models.Member)
	return org, m
}

// requireRole refuses members whose role lacks the permission.
func requireRole(allowed func(models.Role) bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		org, m := currentOrg(c)
		if m == nil || !allowed(m.Role) {
			return fiber.NewError(http.StatusForbidden, roleRefusal(org, m, allowed))
		}
		return c.Next()
	}
}

// roleRefusal says who may do what was refused, and what the member's role is.
func roleRefusal(org *models.Organization, m *models.Member, allowed func(models.Role) bool) string {
	var who []string
	for _, r := range models.Roles {
		if allowed(r) {
			who = append(who, strings.ToLower(string(r))+"s")
		}
	}
	msg := "Only " + joinWords(who)
	if org != nil {
		msg += " of " + org.Name
	}
	msg += " can do this"
	if m != nil {
		msg += "; your role is " + string(m.Role)
	}
	return msg + "."
}

// joinWords joins ["a", "b", "c"] as "a, b and c".
func joinWords(w []string) string {
	switch len(w) {
	case 0:
		return "nobody"
	case 1:
		return w[0]
	}
	return strings.Join(w[:len(w)-1], ", ") + " and " + w[len(w)-1]
}

func paramID(c *fiber.Ctx, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, models.ErrNotFound
	}
	return id, nil
}

// formBodyValue is a field of the request body only (url-encoded or multipart), unlike
// c.FormValue, which also reads the query string.
func formBodyValue(c *fiber.Ctx, key string) string {
	if v := c.Request().PostArgs().Peek(key); len(v) > 0 {
		return string(v)
	}
	if f, err := c.MultipartForm(); err == nil && f != nil {
		if vs := f.Value[key]; len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}
