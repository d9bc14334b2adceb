package handlers

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"gatehouse/models"
	"gatehouse/views/pages"
)

// invitationProblem explains why a link does not work, or returns the error.
func invitationProblem(err error) (string, error) {
	switch {
	case errors.Is(err, models.ErrNotFound):
		return "This invitation link is invalid or has already been used.", nil
	case errors.Is(err, models.ErrInvitationExpired):
		return "This invitation has expired. Ask an owner or manager of the organization to send a new one.", nil
	}
	return "", err
}

func (h *Handler) acceptView(c *fiber.Ctx, token string) (pages.AcceptView, int, error) {
	v := pages.AcceptView{Token: token}
	inv, err := models.InvitationByToken(c.UserContext(), h.DB.Bun, token)
	if err != nil {
		problem, err := invitationProblem(err)
		v.Problem = problem
		return v, http.StatusNotFound, err
	}
	v.Invitation = inv
	v.Form.Email = inv.Email
	if v.Route, err = models.InvitationRouteOf(c.UserContext(), h.DB.Bun, inv); err != nil {
		return v, 0, err
	}
	if p := v.Route.Provider; p != nil {
		v.ProviderName = p.IdPName()
		if v.Route.Path == models.AcceptWithSSO {
			allowFormTo(c, h.providerSignInURL(c, p)) // the accept button starts SSO
		}
	}
	if u := currentUser(c); u != nil {
		v.SignedIn, v.SignedInAs = true, u.Email
	} else if _, err := models.UserByEmail(c.UserContext(), h.DB.Bun, inv.Email); err == nil {
		v.HasAccount = true
	} else if !errors.Is(err, models.ErrNotFound) {
		return v, 0, err
	}
	return v, http.StatusOK, nil
}

func (h *Handler) acceptPage(c *fiber.Ctx) error {
	v, status, err := h.acceptView(c, copyString(c.Params("token")))
	if err != nil {
		return err
	}
	return h.render(c, status, pages.AcceptInvitation(h.page(c, "Invitation"), v))
}

func (h *Handler) accept(c *fiber.Ctx) error {
	token := copyString(c.Params("token"))
	ctx := c.UserContext()
	view, status, err := h.acceptView(c, token)
	if err != nil {
		return err
	}
	if status == http.StatusOK && view.Route.Path == models.AcceptWithSSO {
		// SPEC §1: through the org's IdP, SP-initiated; the sign-in accepts the
		// invitation (models.InvitationRouteOf).
		org := &view.Invitation.Org
		return h.startSSO(c, org, view.Route.Provider, models.PurposeLogin, 0, "/organizations/"+org.Slug+"/")
	}
	var org *models.Organization
	if currentUser(c) != nil {
		org, err = models.AcceptInvitation(ctx, h.DB.Bun, token, actor(c))
		if err == nil {
			// Accepting may prove the account's mailbox, which ends its earlier
			// sessions: this browser continues in a new one.
			u, uerr := models.GetUser(ctx, h.DB.Bun, currentUser(c).ID)
			if uerr != nil {
				return uerr
			}
			err = h.signIn(c, u)
		}
	} else {
		var u *models.User
		in := models.NewUser{Email: c.FormValue("email"), Name: c.FormValue("name"), Password: c.FormValue("password")}
		u, org, err = models.AcceptInvitationAsNewUser(ctx, h.DB.Bun, token, in, clientIP(c))
		if err == nil {
			// The new password follows Require SSO like any other (an owner invited
			// where an owner has linked goes on to the IdP to link).
			sso, serr := models.SSOInsteadOfPassword(ctx, h.DB.Bun, u.ID)
			if serr != nil {
				return serr
			}
			if len(sso) > 0 {
				return h.continueToSSO(c, sso, "/organizations/"+org.Slug+"/", "Your account is ready and you joined "+org.Name+".")
			}
			err = h.signIn(c, u)
		} else if errs, ferr := formErrors(err); ferr == nil {
			v, status, verr := h.acceptView(c, token)
			if verr != nil {
				return verr
			}
			if status == http.StatusOK {
				status = http.StatusUnprocessableEntity
			}
			v.Form = pages.AuthForm{Email: in.Email, Name: in.Name, Errors: errs}
			return h.render(c, status, pages.AcceptInvitation(h.page(c, "Invitation"), v))
		}
	}
	if problem, perr := invitationProblem(err); err != nil {
		if perr != nil {
			return perr
		}
		return h.render(c, http.StatusNotFound, pages.AcceptInvitation(h.page(c, "Invitation"), pages.AcceptView{Problem: problem}))
	}
	h.flash(c, "Welcome to "+org.Name+".")
	return h.redirect(c, "/organizations/"+org.Slug+"/")
}
