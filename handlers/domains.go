package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/models"
	"gatehouse/views/components"
	"gatehouse/views/pages"
)

// Verified domains on Org Settings › Auth (README "Verified domains"), and "sign in
// with your email": the login page routes an address at a verified domain to its
// org's IdP.

// localDomainForm carries a rejected domain form into renderAuthSettings.
const localDomainForm = "domain_form"

const capturedListMax = 100

// domainsView fills the Auth page's Domains section.
func (h *Handler) domainsView(c *fiber.Ctx, org *models.Organization, v *pages.AuthView) error {
	ctx := c.UserContext()
	_, me := currentOrg(c)
	dv := pages.DomainsView{Slug: org.Slug, CanEdit: me != nil && me.Role == models.RoleOwner, Capture: org.DomainCapture,
		SSOActive: v.Provider != nil && v.Provider.Active()}
	if f, ok := c.Locals(localDomainForm).(*pages.DomainForm); ok {
		dv.Form = *f
	}
	domains, err := models.ListDomains(ctx, h.DB.Bun, org.ID)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, d := range domains {
		row := pages.DomainRow{ID: d.ID, Domain: d.Domain, Status: d.Status(now), RecordName: d.RecordName(), RecordValue: d.RecordValue()}
		if d.LastCheckedAt != nil {
			row.LastChecked = d.LastCheckedAt.UTC().Format("2006-01-02 15:04 UTC")
		}
		if dv.Form.RowID == d.ID {
			row.Error = dv.Form.Errors["domain"]
		}
		if d.Verified() {
			dv.AnyVerified = true
		}
		dv.Rows = append(dv.Rows, row)
	}
	if dv.AnyVerified {
		if dv.Captured, dv.CapturedCount, err = models.CapturedAccounts(ctx, h.DB.Bun, org.ID, capturedListMax); err != nil {
			return err
		}
	}
	v.Domains = dv
	return nil
}

// domainsURL is the Domains section of the Auth page.
func domainsURL(org *models.Organization) string { return "/settings/" + org.Slug + "/auth/#domains" }

// domainFormError re-renders the Auth page with a domain form's error (422), or
// flashes a refusal; other errors go to the error handler.
func (h *Handler) domainFormError(c *fiber.Ctx, org *models.Organization, f pages.DomainForm, err error) error {
	var forbidden *models.ForbiddenError
	if errors.As(err, &forbidden) {
		h.flashError(c, forbidden.Reason)
		return h.redirect(c, domainsURL(org))
	}
	if v, ok := models.AsValidation(err); ok {
		f.Errors = components.Errors(v.Fields)
		c.Locals(localDomainForm, &f)
		return h.renderAuthSettings(c, http.StatusUnprocessableEntity, nil, "")
	}
	return err
}

func (h *Handler) addDomain(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	f := pages.DomainForm{Value: strings.TrimSpace(c.FormValue("domain"))}
	d, err := models.AddDomain(c.UserContext(), h.DB.Bun, org.ID, actor(c), f.Value)
	if err != nil {
		return h.domainFormError(c, org, f, err)
	}
	h.flash(c, "Publish the TXT record below in the DNS of "+d.Domain+", then press Verify. We keep checking for 72 hours.")
	return h.redirect(c, domainsURL(org))
}

func (h *Handler) verifyDomain(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	d, err := models.VerifyDomain(c.UserContext(), h.DB.Bun, h.Mailer, h.Resolver, org.ID, h.actingBrowser(c), id)
	if err != nil {
		return h.domainFormError(c, org, pages.DomainForm{RowID: id}, err)
	}
	h.flash(c, d.Domain+" is verified.")
	return h.redirect(c, domainsURL(org))
}

func (h *Handler) removeDomain(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	if err := models.RemoveDomain(c.UserContext(), h.DB.Bun, h.Mailer, org.ID, actor(c), id); err != nil {
		return h.domainFormError(c, org, pages.DomainForm{RowID: id}, err)
	}
	h.flash(c, "Domain removed.")
	return h.redirect(c, domainsURL(org))
}

func (h *Handler) setDomainCapture(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	on := formBodyValue(c, "domain_capture") != ""
	ended, err := models.SetDomainCapture(c.UserContext(), h.DB.Bun, h.Mailer, org.ID, h.actingBrowser(c), on)
	if err != nil {
		return h.domainFormError(c, org, pages.DomainForm{}, err)
	}
	if on {
		verb := "were"
		if ended == 1 {
			verb = "was"
		}
		h.flash(c, fmt.Sprintf("Domain capture is on: accounts at your verified domains sign in through single sign-on. %s of those accounts without it %s signed out.",
			countOf(int(ended), "open session", "open sessions"), verb))
	} else {
		h.flash(c, "Domain capture is off.")
	}
	return h.redirect(c, domainsURL(org))
}

// routeBySSO continues a sign-in for email to the IdP of the org that verified its
// domain, when there is one with an active provider; it reports whether it did. The
// answer depends on the domain only, so known and unknown addresses get the same.
// The browser goes straight to the IdP, with JavaScript or without (continueToIdP).
func (h *Handler) routeBySSO(c *fiber.Ctx, email, next string) (bool, error) {
	org, p, err := models.SSORoute(c.UserContext(), h.DB.Bun, email)
	if errors.Is(err, models.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, h.continueToIdP(c, org, p, next, pages.SSOContinueView{Domain: models.EmailDomain(email)})
}

// ssoLookup is "Sign in with SSO": an org slug goes to that org's login page (as in
// Sentry); a work email goes to its verified domain's IdP.
func (h *Handler) ssoLookup(c *fiber.Ctx) error {
	f := pages.AuthForm{SSOQuery: strings.TrimSpace(c.FormValue("sso")), Next: safeNext(c.FormValue("next"), "")}
	q := f.SSOQuery
	switch {
	case q == "":
		f.Errors = components.Errors{"sso": "Enter your organization's slug or your work email."}
	case strings.Contains(q, "@"):
		if routed, err := h.routeBySSO(c, q, f.Next); routed || err != nil {
			return err
		}
		f.Errors = components.Errors{"sso": "Single sign-on is not set up for this address. Log in with your password, or enter your organization's slug."}
	default:
		slug := strings.ToLower(q)
		if models.ValidSlug(slug) {
			to := "/auth/login/" + slug + "/"
			if f.Next != "" {
				to += "?next=" + url.QueryEscape(f.Next)
			}
			return h.redirect(c, to)
		}
		f.Errors = components.Errors{"sso": "Enter an organization slug (letters, digits and dashes) or a work email."}
	}
	return h.render(c, http.StatusUnprocessableEntity, pages.Login(h.page(c, "Log in"), f))
}
