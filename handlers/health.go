package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
)

// healthz says the process is up.
func (h *Handler) healthz(c *fiber.Ctx) error { return c.SendString("ok") }

// readyz says the database answers.
func (h *Handler) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := h.DB.Pool.Ping(ctx); err != nil {
		return c.Status(http.StatusServiceUnavailable).SendString("database unavailable")
	}
	return c.SendString("ready")
}
