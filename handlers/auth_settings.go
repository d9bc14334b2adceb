package handlers

import (
	"errors"
	"net/http"
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
		SignOnURL: h.baseURL() + "/auth/login/" + org.Slug + "/", RelayState: "/organizations/" + org.Slug + "/"}
}

func (h *Handler) authSettings(c *fiber.Ctx) error {
	ctx := c.UserContext()
	org, _ := currentOrg(c)
	v := pages.AuthView{Slug: org.Slug, SP: h.spValues(org), LoginURL: h.baseURL() + "/auth/login/" + org.Slug + "/"}
	p, err := models.ProviderOf(ctx, h.DB.Bun, org.ID)
	switch {
	case errors.Is(err, models.ErrNotFound):
		for _, pr := range samlsp.Presets {
			v.Choices = append(v.Choices, pages.ProviderChoice{Kind: pr.Kind, Name: pr.Name})
		}
		v.Choices = append(v.Choices,
			pages.ProviderChoice{Kind: "google", Name: "Google Workspace", Disabled: "Not available yet on this instance."},
			pages.ProviderChoice{Kind: "github", Name: "GitHub", Disabled: "Not available yet on this instance."})
	case err != nil:
		return err
	default:
		v.Provider = p
		allowFormTo(c, p.Config.SSOURL)
		idp := p.Config.IdP()
		certs, err := idp.Certificates()
		if err != nil {
			return err
		}
		for _, c := range certs {
			v.CertInfo = append(v.CertInfo, pages.CertInfo{Subject: c.Subject.String(), Fingerprint: samlsp.Fingerprint(c.Raw),
				Expires: c.NotAfter.UTC().Format("2006-01-02"), Warning: time.Until(c.NotAfter) < 30*24*time.Hour})
		}
		if v.Attempts, err = models.ListSSOAttempts(ctx, h.DB.Bun, org.ID, 20); err != nil {
			return err
		}
	}
	pg := h.page(c, "Auth")
	pg.Section = "auth"
	return h.render(c, http.StatusOK, pages.AuthSettings(pg, v))
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
		v.Form = pages.ConfigureForm{Method: cfg.MetadataSource, MetadataURL: cfg.MetadataURL, EntityID: cfg.EntityID,
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
	v, err := h.configureView(c, org, copyString(c.Params("kind")))
	if err != nil {
		return err
	}
	pg := h.page(c, "Configure "+v.PresetName)
	pg.Section = "auth"
	return h.render(c, http.StatusOK, pages.AuthConfigure(pg, v))
}

func (h *Handler) configure(c *fiber.Ctx) error {
	ctx := c.UserContext()
	org, _ := currentOrg(c)
	kind := copyString(c.Params("kind"))
	v, err := h.configureView(c, org, kind)
	if err != nil {
		return err
	}
	f := pages.ConfigureForm{Method: c.FormValue("method"), MetadataURL: strings.TrimSpace(c.FormValue("metadata_url")),
		MetadataXML: c.FormValue("metadata_xml"), EntityID: c.FormValue("entity_id"), SSOURL: c.FormValue("sso_url"),
		SLOURL: c.FormValue("slo_url"), Certificate: c.FormValue("certificate"), MapID: strings.TrimSpace(c.FormValue("map_identifier")),
		MapEmail: strings.TrimSpace(c.FormValue("map_email")), MapFirst: strings.TrimSpace(c.FormValue("map_first_name")),
		MapLast: strings.TrimSpace(c.FormValue("map_last_name"))}
	setup := models.SAMLSetup{Kind: kind, Method: f.Method, MetadataURL: f.MetadataURL, MetadataXML: f.MetadataXML,
		EntityID: f.EntityID, SSOURL: f.SSOURL, SLOURL: f.SLOURL, Certificate: f.Certificate,
		Mapping: samlsp.Mapping{Identifier: f.MapID, Email: f.MapEmail, FirstName: f.MapFirst, LastName: f.MapLast}}
	cfg, err := models.ResolveIdP(ctx, h.Fetcher, setup, time.Now())
	if err == nil {
		_, err = models.SaveSAMLProvider(ctx, h.DB.Bun, org.ID, actor(c), kind, cfg)
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
func (h *Handler) activate(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	p, err := models.ProviderOf(c.UserContext(), h.DB.Bun, org.ID)
	if err != nil {
		return err
	}
	redirect, err := models.StartSAML(c.UserContext(), h.DB.Bun, models.SAMLSettings(h.baseURL(), org, p), org.ID,
		models.PurposeActivate, currentUser(c).ID, "")
	if err != nil {
		return err
	}
	return h.redirectExternal(c, redirect)
}
