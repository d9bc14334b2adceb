package handlers

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"gatehouse/models"
	"gatehouse/views/pages"
)

func (h *Handler) teamsView(c *fiber.Ctx, form pages.AuthForm) (pages.TeamsView, error) {
	org, m := currentOrg(c)
	teams, err := models.ListTeams(c.UserContext(), h.DB.Bun, org.ID)
	return pages.TeamsView{Slug: org.Slug, CanManage: m.Role.CanManageTeams(), Teams: teams, Form: form}, err
}

func (h *Handler) teamsPage(c *fiber.Ctx) error {
	v, err := h.teamsView(c, pages.AuthForm{})
	if err != nil {
		return err
	}
	p := h.page(c, "Teams")
	p.Section = "teams"
	return h.render(c, http.StatusOK, pages.Teams(p, v))
}

func (h *Handler) createTeam(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	form := pages.AuthForm{OrgName: c.FormValue("name"), OrgSlug: c.FormValue("slug")}
	t, err := models.CreateTeam(c.UserContext(), h.DB.Bun, org.ID, actor(c), models.TeamInput{Name: form.OrgName, Slug: form.OrgSlug})
	if errs, ferr := formErrors(err); err != nil {
		if ferr != nil {
			return ferr
		}
		form.Errors = errs
		v, err := h.teamsView(c, form)
		if err != nil {
			return err
		}
		p := h.page(c, "Teams")
		p.Section = "teams"
		return h.render(c, http.StatusUnprocessableEntity, pages.Teams(p, v))
	}
	h.flash(c, "Team "+t.Name+" created.")
	return h.redirect(c, "/settings/"+org.Slug+"/teams/"+t.Slug+"/")
}

func (h *Handler) teamView(c *fiber.Ctx, form *pages.AuthForm) (pages.TeamView, error) {
	org, m := currentOrg(c)
	t, err := models.GetTeam(c.UserContext(), h.DB.Bun, org.ID, copyString(c.Params("team")))
	if err != nil {
		return pages.TeamView{}, err
	}
	members, err := models.ListTeamMembers(c.UserContext(), h.DB.Bun, org.ID, t.ID)
	if err != nil {
		return pages.TeamView{}, err
	}
	v := pages.TeamView{Slug: org.Slug, CanManage: m.Role.CanManageTeams(), Team: *t, Members: members,
		Form: pages.AuthForm{OrgName: t.Name, OrgSlug: t.Slug}}
	if form != nil {
		v.Form = *form
	}
	return v, nil
}

func (h *Handler) renderTeam(c *fiber.Ctx, status int, form *pages.AuthForm) error {
	v, err := h.teamView(c, form)
	if err != nil {
		return err
	}
	p := h.page(c, v.Team.Name)
	p.Section = "teams"
	return h.render(c, status, pages.Team(p, v))
}

func (h *Handler) teamPage(c *fiber.Ctx) error { return h.renderTeam(c, http.StatusOK, nil) }

// teamOp loads the team in the URL and runs op on it; validation errors re-render the
// team page with the submitted values.
func (h *Handler) teamOp(c *fiber.Ctx, form pages.AuthForm, op func(org *models.Organization, t *models.Team) (string, error)) error {
	org, _ := currentOrg(c)
	t, err := models.GetTeam(c.UserContext(), h.DB.Bun, org.ID, copyString(c.Params("team")))
	if err != nil {
		return err
	}
	next, err := op(org, t)
	if errs, ferr := formErrors(err); err != nil {
		if ferr != nil {
			return ferr
		}
		form.Errors = errs
		if form.OrgName == "" {
			form.OrgName, form.OrgSlug = t.Name, t.Slug
		}
		return h.renderTeam(c, http.StatusUnprocessableEntity, &form)
	}
	return h.redirect(c, next)
}

func (h *Handler) renameTeam(c *fiber.Ctx) error {
	form := pages.AuthForm{OrgName: c.FormValue("name"), OrgSlug: c.FormValue("slug")}
	return h.teamOp(c, form, func(org *models.Organization, t *models.Team) (string, error) {
		t, err := models.RenameTeam(c.UserContext(), h.DB.Bun, org.ID, actor(c), t.ID, models.TeamInput{Name: form.OrgName, Slug: form.OrgSlug})
		if err != nil {
			return "", err
		}
		h.flash(c, "Team saved.")
		return "/settings/" + org.Slug + "/teams/" + t.Slug + "/", nil
	})
}

func (h *Handler) deleteTeam(c *fiber.Ctx) error {
	return h.teamOp(c, pages.AuthForm{}, func(org *models.Organization, t *models.Team) (string, error) {
		if err := models.DeleteTeam(c.UserContext(), h.DB.Bun, org.ID, actor(c), t.ID); err != nil {
			return "", err
		}
		h.flash(c, "Team "+t.Name+" deleted.")
		return "/settings/" + org.Slug + "/teams/", nil
	})
}

func (h *Handler) addTeamMember(c *fiber.Ctx) error {
	form := pages.AuthForm{Email: c.FormValue("email")}
	return h.teamOp(c, form, func(org *models.Organization, t *models.Team) (string, error) {
		if err := models.AddTeamMember(c.UserContext(), h.DB.Bun, org.ID, actor(c), t.ID, form.Email); err != nil {
			return "", err
		}
		h.flash(c, models.NormalizeEmail(form.Email)+" added to "+t.Name+".")
		return "/settings/" + org.Slug + "/teams/" + t.Slug + "/", nil
	})
}

func (h *Handler) removeTeamMember(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	return h.teamOp(c, pages.AuthForm{}, func(org *models.Organization, t *models.Team) (string, error) {
		err := models.RemoveTeamMember(c.UserContext(), h.DB.Bun, org.ID, actor(c), t.ID, id)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return "", err
		}
		h.flash(c, "Removed from "+t.Name+".")
		return "/settings/" + org.Slug + "/teams/" + t.Slug + "/", nil
	})
}
