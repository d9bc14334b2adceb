package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"gatehouse/models"
	"gatehouse/views/pages"
)

// continueToIdP starts SSO with the org's IdP from a page whose forms may only end on
// this site (the login page: which IdP comes next depends on what was typed, so its
// CSP form-action cannot name it). A boosted form follows HX-Redirect. A plain form
// POST may not be redirected to another site (browsers apply form-action to every
// redirect of a form submission), so it gets a page that continues by itself: the
// Refresh header (as a <meta http-equiv="refresh"> would; a navigation the page starts,
// which form-action does not govern), with a link for browsers that do not follow it.
// v says why; its URL is filled in here.
func (h *Handler) continueToIdP(c *fiber.Ctx, org *models.Organization, p *models.AuthProvider, next string, v pages.SSOContinueView) error {
	to, post, err := h.beginSSO(c, org, p, models.PurposeLogin, 0, next)
	if err != nil {
		return err
	}
	if post != nil {
		if c.Get(hxRequest) == "true" {
			// A form swapped into this page would keep its CSP (form-action 'self'):
			// the org's login page allows the IdP and posts there.
			return h.redirectExternal(c, "/auth/login/"+org.Slug+"/"+nextQuery(next))
		}
		return h.renderSSOPost(c, post)
	}
	if u, err := url.Parse(to); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(to, "\r\n") {
		return fmt.Errorf("continue to the IdP: not an http(s) URL")
	}
	if c.Get(hxRequest) == "true" {
		return h.redirectExternal(c, to)
	}
	v.OrgName, v.ProviderName, v.URL = org.Name, p.IdPName(), to
	c.Set("Refresh", "0; url="+to)
	return h.render(c, http.StatusOK, pages.SSOContinue(h.page(c, "Continue to "+org.Name), v))
}

// continueToSSO sends a person whose password opens no session (models.SSOInsteadOfPassword)
// on to single sign-on: straight to the IdP for one org, else a choice of the orgs'
// login pages. notice is shown above (e.g. a changed password).
func (h *Handler) continueToSSO(c *fiber.Ctx, orgs []models.SSOOnlyOrg, next, notice string) error {
	if len(orgs) == 1 {
		o := orgs[0]
		return h.continueToIdP(c, o.Org, o.Provider, next, pages.SSOContinueView{Notice: notice, Required: true, OwnerFallback: o.OwnerFallback})
	}
	v := pages.SSOChooseView{Notice: notice}
	for _, o := range orgs {
		to := "/auth/login/" + o.Org.Slug + "/"
		if next != "" {
			to += "?next=" + url.QueryEscape(next)
		}
		v.Orgs = append(v.Orgs, pages.SSOChoice{OrgName: o.Org.Name, ProviderName: o.Provider.IdPName(), LoginURL: to})
	}
	return h.render(c, http.StatusOK, pages.SSOChoose(h.page(c, "Continue with single sign-on"), v))
}
