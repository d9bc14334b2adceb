package handlers

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"gatehouse/models"
	"gatehouse/views/pages"
)

func (h *Handler) newOrgPage(c *fiber.Ctx) error {
	return h.render(c, http.StatusOK, pages.NewOrg(h.page(c, "New organization"), pages.AuthForm{}))
}

func (h *Handler) createOrg(c *fiber.Ctx) error {
	f := pages.AuthForm{OrgName: c.FormValue("name"), OrgSlug: c.FormValue("slug")}
	org, err := models.CreateOrganization(c.UserContext(), h.DB.Bun, actor(c), models.NewOrganization{Name: f.OrgName, Slug: f.OrgSlug})
	if errs, ferr := formErrors(err); err != nil {
		if ferr != nil {
			return ferr
		}
		f.Errors = errs
		return h.render(c, http.StatusUnprocessableEntity, pages.NewOrg(h.page(c, "New organization"), f))
	}
	return h.redirect(c, "/organizations/"+org.Slug+"/")
}

func (h *Handler) orgHome(c *fiber.Ctx) error {
	org, m := currentOrg(c)
	v, err := models.OrgOverview(c.UserContext(), h.DB.Bun, org.ID, m.ID)
	if err != nil {
		return err
	}
	p := h.page(c, org.Name)
	p.Section = "home"
	return h.render(c, http.StatusOK, pages.OrgHome(p, pages.OrgHomeView{Org: *org, Role: m.Role,
		MemberCount: v.MemberCount, TeamCount: v.TeamCount, MyTeams: v.MyTeams}))
}
