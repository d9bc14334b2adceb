// Package handlers is the HTTP surface: one route table (routes.go), middleware, and
// one file per feature area. A handler parses input, calls one models operation and
// renders or redirects.
package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/alexedwards/scs/v2"
	"github.com/gofiber/fiber/v2"

	"gatehouse/models"
	"gatehouse/models/database"
	"gatehouse/models/dnscheck"
	"gatehouse/models/oauth"
	"gatehouse/views/components"
	"gatehouse/views/layouts"
)

// Config is what handlers need to know about the instance.
type Config struct {
	BaseURL *url.URL
	// DevMail is true when no SMTP server is configured: mail is kept at /_dev/mail.
	DevMail bool
	// RequestTimeout bounds each request (DefaultRequestTimeout when zero).
	RequestTimeout time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed
	// (GATEHOUSE_TRUSTED_PROXIES); none by default.
	TrustedProxies []netip.Prefix
}

// Secure reports whether the instance is served over https (cookie flags).
func (c Config) Secure() bool { return c.BaseURL != nil && c.BaseURL.Scheme == "https" }

// Handler carries every dependency of the request path; there are no globals.
type Handler struct {
	DB       *database.DB
	Sessions *scs.SessionManager
	Mailer   *models.Mailer
	Fetcher  models.MetadataGetter
	Secrets  *models.Keyring // seals the orgs' SP private keys
	// ACSConfig is the ACS's short cache of org providers (nil: read every time).
	ACSConfig *models.ProviderCache
	// Resolver answers the verified-domain DNS lookups (GATEHOUSE_DNS_RESOLVER).
	Resolver *dnscheck.Resolver
	// Google and GitHub are nil when their client credentials are not configured.
	Google *oauth.Google
	GitHub *oauth.GitHub
	Config Config
	Log    *slog.Logger
}

// HTMX request and response headers.
const (
	hxRequest  = "HX-Request"
	hxBoosted  = "HX-Boosted"
	hxRedirect = "HX-Redirect"
	hxPushURL  = "HX-Push-Url"
	// hxHistoryRestore marks the request htmx sends to rebuild a page on Back.
	hxHistoryRestore = "HX-History-Restore-Request"
)

// isPartial is the one rule for partial vs full page: an HTMX request that is not
// boosted gets the partial.
// A history restore (Back to a page htmx no longer has cached) wants the full page too.
func isPartial(c *fiber.Ctx) bool {
	return c.Get(hxRequest) == "true" && c.Get(hxBoosted) != "true" && c.Get(hxHistoryRestore) != "true"
}

// render writes a component with status.
//
// A page rendered in answer to a boosted POST (a form re-rendered with its errors, an
// error page) keeps the address bar as it was: htmx would otherwise push the form's
// action, a URL that does not load on reload or Back.
func (h *Handler) render(c *fiber.Ctx, status int, comp templ.Component) error {
	if c.Method() != fiber.MethodGet && c.Get(hxRequest) == "true" {
		c.Set(hxPushURL, "false")
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return comp.Render(c.UserContext(), c.Response().BodyWriter())
}

// redirect sends the browser to a local path (303 so a POST becomes a GET).
func (h *Handler) redirect(c *fiber.Ctx, path string) error {
	if isPartial(c) {
		c.Set(hxRedirect, path)
		return c.SendStatus(http.StatusNoContent)
	}
	return c.Redirect(path, http.StatusSeeOther)
}

// page builds the frame's view model for this request.
func (h *Handler) page(c *fiber.Ctx, title string) layouts.Page {
	ctx := c.UserContext()
	if loaded, _ := c.Locals(localSession).(bool); !loaded {
		// Errors raised before the session middleware (an oversized body, a bad
		// request line) render without the session: scs would panic.
		return h.barePage(title)
	}
	p := layouts.Page{Title: title, CSRF: h.csrfToken(c)}
	if u := currentUser(c); u != nil {
		p.User = &layouts.NavUser{Name: u.DisplayName(), Email: u.Email}
		p.DevMail = h.Config.DevMail && u.IsSuperuser
	}
	if org, m := currentOrg(c); org != nil {
		p.Org = &layouts.NavOrg{Slug: org.Slug, Name: org.Name, Role: string(m.Role),
			CanManage: m.Role.CanManageMembers(), CanAudit: m.Role.CanViewAudit(), CanSeeTeams: m.Role.CanViewMembers()}
	}
	if f := h.Sessions.PopString(ctx, "flash"); f != "" {
		p.Flash = f
		p.FlashKind = h.Sessions.PopString(ctx, "flash_kind")
	}
	return p
}

// barePage is the frame's view model for responses that must not touch the session
// (the ACS refusing a response sets no cookie).
func (h *Handler) barePage(title string) layouts.Page { return layouts.Page{Title: title} }

// flash shows msg on the next page.
func (h *Handler) flash(c *fiber.Ctx, msg string) {
	h.Sessions.Put(c.UserContext(), "flash", msg)
}

// flashError shows msg as an error on the next page.
func (h *Handler) flashError(c *fiber.Ctx, msg string) {
	h.Sessions.Put(c.UserContext(), "flash", msg)
	h.Sessions.Put(c.UserContext(), "flash_kind", "error")
}

// actor describes the signed-in user for audit entries.
func actor(c *fiber.Ctx) models.Actor {
	u := currentUser(c)
	if u == nil {
		return models.Actor{IP: clientIP(c)}
	}
	return models.Actor{UserID: u.ID, Label: u.Email, IP: clientIP(c)}
}

// actingBrowser is actor(c) with this browser's session, which an action that ends
// sessions keeps.
func (h *Handler) actingBrowser(c *fiber.Ctx) models.Actor {
	a := actor(c)
	a.Session = models.SessionHash(h.Sessions.Token(c.UserContext()))
	return a
}

// formErrors turns a validation error into per-field messages for the form; other
// errors are returned for the error handler.
func formErrors(err error) (components.Errors, error) {
	if v, ok := models.AsValidation(err); ok {
		return components.Errors(v.Fields), nil
	}
	var f *models.ForbiddenError
	if errors.As(err, &f) {
		return components.Errors{"_form": f.Reason}, nil
	}
	return nil, err
}

// safeNext returns next when it is a local path, else fallback. It refuses
// protocol-relative and backslash tricks (//evil, /\evil).
func safeNext(next, fallback string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\t") {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return fallback
	}
	return next
}

// copyString detaches a value from Fiber's reused buffers.
func copyString(s string) string { return strings.Clone(s) }

// countOf says n things in words: "1 member", "3 members".
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
