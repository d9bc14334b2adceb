package handlers

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"gatehouse/models"
	"gatehouse/views/pages"
)

// The link pages finish an SSO sign-in whose email belongs to an existing account:
// its owner proves it in the same browser (SPEC §3.5, SECURITY.md "Accounts and
// linking").

func (h *Handler) linkView(c *fiber.Ctx, token string) (pages.LinkView, error) {
	l, err := models.GetPendingLink(c.UserContext(), h.DB.Bun, token, copyString(c.Cookies(linkCookie)), h.ssoFlow(c))
	if err != nil {
		return pages.LinkView{}, err
	}
	v := pages.LinkView{Token: token, OrgName: l.Org.Name, Email: l.Email}
	if u := currentUser(c); u != nil {
		if u.ID == l.UserID {
			v.SignedInAs = u.Email
		} else {
			v.OtherUser = u.Email
		}
	}
	return v, nil
}

func (h *Handler) renderLink(c *fiber.Ctx, status int, v pages.LinkView) error {
	return h.render(c, status, pages.LinkAccount(h.page(c, "Link your account"), v))
}

func (h *Handler) linkInvalid(c *fiber.Ctx) error {
	return h.render(c, http.StatusNotFound, pages.Error(h.page(c, "Link unavailable"), http.StatusNotFound,
		"This link is invalid, already used, expired, or was opened in another browser.", requestID(c)))
}

func (h *Handler) linkPage(c *fiber.Ctx) error {
	v, err := h.linkView(c, copyString(c.Params("token")))
	if errors.Is(err, models.ErrLinkInvalid) {
		return h.linkInvalid(c)
	}
	if err != nil {
		return err
	}
	return h.renderLink(c, http.StatusOK, v)
}

func (h *Handler) link(c *fiber.Ctx) error {
	token := copyString(c.Params("token"))
	proof := models.LinkProof{Password: c.FormValue("password")}
	if c.FormValue("method") == "session" && currentUser(c) != nil {
		proof = models.LinkProof{SignedInUserID: currentUser(c).ID}
	}
	proof.Flow = h.ssoFlow(c)
	return h.finishLink(c, token, proof)
}

func (h *Handler) finishLink(c *fiber.Ctx, token string, proof models.LinkProof) error {
	u, org, next, nameID, err := models.CompletePendingLink(c.UserContext(), h.DB.Bun, token, copyString(c.Cookies(linkCookie)), proof, clientIP(c))
	if errors.Is(err, models.ErrLinkInvalid) {
		return h.linkInvalid(c)
	}
	if errs, ferr := formErrors(err); err != nil {
		if ferr != nil {
			return ferr
		}
		v, verr := h.linkView(c, token)
		if verr != nil {
			return h.linkInvalid(c)
		}
		v.Errors = errs
		return h.renderLink(c, http.StatusUnprocessableEntity, v)
	}
	// The link is committed; the sign-in log comes before the session, so that no
	// session exists without its log line.
	if err := models.RecordSSOAttempt(c.UserContext(), h.DB.Bun, models.SSOAttempt{OrgID: org.ID, Outcome: "success", Reason: "linked",
		Hint: "The account's owner proved it and the identity is now linked.", Email: u.Email, UserID: &u.ID, IP: clientIP(c)}); err != nil {
		return err
	}
	if err := h.signInSSO(c, u, org.ID, nameID); err != nil {
		return err
	}
	h.flash(c, "Your account is linked to "+org.Name+" single sign-on.")
	return h.redirect(c, safeNext(next, "/organizations/"+org.Slug+"/"))
}

func (h *Handler) linkEmail(c *fiber.Ctx) error {
	token := copyString(c.Params("token"))
	err := models.SendLinkEmail(c.UserContext(), h.DB.Bun, h.Mailer, token, copyString(c.Cookies(linkCookie)), h.ssoFlow(c))
	if errors.Is(err, models.ErrLinkInvalid) {
		return h.linkInvalid(c)
	}
	if err != nil {
		return err
	}
	v, err := h.linkView(c, token)
	if err != nil {
		return h.linkInvalid(c)
	}
	v.EmailSent = true
	return h.renderLink(c, http.StatusOK, v)
}

// linkConfirm is the emailed one-time link; it works in the browser that signed in.
func (h *Handler) linkConfirm(c *fiber.Ctx) error {
	return h.finishLink(c, "", models.LinkProof{EmailToken: copyString(c.Params("token")), Flow: h.ssoFlow(c)})
}

// ssoFlow is the sign-in this browser session started last ("" when none).
func (h *Handler) ssoFlow(c *fiber.Ctx) string {
	return h.Sessions.GetString(c.UserContext(), keySSOFlow)
}
