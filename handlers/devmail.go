package handlers

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"gatehouse/models/mail"
	"gatehouse/views/pages"
)

// devMail lists the kept messages. Mounted only when no SMTP server is configured.
func (h *Handler) devMail(c *fiber.Ctx) error {
	msgs, err := mail.ListOutbox(c.UserContext(), h.DB.Bun, 100)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, pages.DevMail(h.page(c, "Dev mail"), msgs))
}

func (h *Handler) devMailMessage(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	m, err := mail.GetOutbox(c.UserContext(), h.DB.Bun, id)
	if err != nil {
		return fiber.ErrNotFound
	}
	return h.render(c, http.StatusOK, pages.DevMailMessage(h.page(c, m.Subject), m))
}
