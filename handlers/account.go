package handlers

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"gatehouse/models"
	"gatehouse/views/components"
	"gatehouse/views/pages"
)

func (h *Handler) renderAccount(c *fiber.Ctx, status int, name string, errs components.Errors) error {
	u := currentUser(c)
	sessions, err := models.ListUserSessions(c.UserContext(), h.DB.Bun, u.ID)
	if err != nil {
		return err
	}
	if name == "" {
		name = u.Name
	}
	v := pages.AccountView{Name: name, Email: u.Email, HasPassword: u.PasswordHash != nil, Sessions: sessions,
		CurrentToken: models.SessionHash(h.Sessions.Token(c.UserContext())), Errors: errs}
	return h.render(c, status, pages.Account(h.page(c, "Account"), v))
}

func (h *Handler) accountPage(c *fiber.Ctx) error {
	return h.renderAccount(c, http.StatusOK, "", nil)
}

func (h *Handler) updateProfile(c *fiber.Ctx) error {
	name := c.FormValue("name")
	err := models.UpdateProfile(c.UserContext(), h.DB.Bun, currentUser(c).ID, name)
	if errs, ferr := formErrors(err); err != nil {
		if ferr != nil {
			return ferr
		}
		return h.renderAccount(c, http.StatusUnprocessableEntity, name, errs)
	}
	h.flash(c, "Profile saved.")
	return h.redirect(c, "/account/")
}

// changePassword ends every other session of the account and continues this browser
// in a new one (SECURITY.md "Powers").
func (h *Handler) changePassword(c *fiber.Ctx) error {
	u := currentUser(c)
	err := models.ChangePassword(c.UserContext(), h.DB.Bun, u.ID, c.FormValue("current_password"), c.FormValue("new_password"))
	if errors.Is(err, models.ErrFirstPasswordNeedsMailbox) {
		return h.renderAccount(c, http.StatusForbidden, "", components.Errors{"new_password": err.Error()})
	}
	if errs, ferr := formErrors(err); err != nil {
		if ferr != nil {
			return ferr
		}
		return h.renderAccount(c, http.StatusUnprocessableEntity, "", errs)
	}
	if err := h.signIn(c, u); err != nil {
		return err
	}
	h.flash(c, "Password changed. Every other session is signed out.")
	return h.redirect(c, "/account/")
}

// firstPasswordLink emails the account a link to set its first password: setting one
// needs a mailbox proof.
func (h *Handler) firstPasswordLink(c *fiber.Ctx) error {
	u := currentUser(c)
	if err := models.RequestPasswordReset(c.UserContext(), h.DB.Bun, h.Mailer, u.Email); err != nil {
		return err
	}
	h.flash(c, "We have emailed "+u.Email+" a link to set your password.")
	return h.redirect(c, "/account/")
}

func (h *Handler) revokeOtherSessions(c *fiber.Ctx) error {
	keep := models.SessionHash(h.Sessions.Token(c.UserContext()))
	n, err := models.RevokeUserSessions(c.UserContext(), h.DB.Bun, currentUser(c).ID, keep)
	if err != nil {
		return err
	}
	h.flash(c, fmt.Sprintf("Signed out of %s.", countOf(int(n), "other session", "other sessions")))
	return h.redirect(c, "/account/")
}
