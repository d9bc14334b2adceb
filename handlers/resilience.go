package handlers

import (
	"context"
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/models"
)

// DefaultRequestTimeout bounds the work of one request when Config.RequestTimeout is
// unset: a database that stalls turns into a 503 + Retry-After, not a pile of waiting
// goroutines, and a write whose client has given up is rolled back instead of committed.
const DefaultRequestTimeout = 20 * time.Second

// bodyReadLimit is how much of an oversized body the server reads (and discards) so it
// can answer 413 instead of closing the connection under a client still sending.
const bodyReadLimit = 4 * BodyLimit

const (
	localClientIP  = "client_ip"
	localClientKey = "client_key"
)

// deadline gives every request a context that ends after the request timeout; the
// database calls of the request run under it (the pool acquire, statements, commits).
// The error handler then renders with the values but without the expired deadline.
func (h *Handler) deadline(c *fiber.Ctx) error {
	timeout := h.Config.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	parent := c.UserContext()
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	c.SetUserContext(ctx)
	err := c.Next()
	c.SetUserContext(context.WithoutCancel(c.UserContext()))
	return err
}

// limitBody answers 413 (a SCIM error on SCIM paths, see ErrorHandler) for bodies over
// BodyLimit. The server reads up to bodyReadLimit so the client can finish sending and
// read the answer; beyond that the connection is closed.
func limitBody(c *fiber.Ctx) error {
	if len(c.Request().Body()) > BodyLimit || c.Request().Header.ContentLength() > BodyLimit {
		c.Request().Header.SetConnectionClose()
		return fiber.ErrRequestEntityTooLarge
	}
	return c.Next()
}

// clientAddress works out once per request who the client is (models.ClientAddress:
// X-Forwarded-For only from GATEHOUSE_TRUSTED_PROXIES) and the key its per-address
// rate limits count under (models.ClientKey).
func (h *Handler) clientAddress(c *fiber.Ctx) error {
	remote, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	var xff []string
	if len(h.Config.TrustedProxies) > 0 {
		xff = c.GetReqHeaders()[fiber.HeaderXForwardedFor]
	}
	a := models.ClientAddress(remote, xff, h.Config.TrustedProxies)
	c.Locals(localClientIP, a.String())
	c.Locals(localClientKey, models.ClientKey(a))
	return c.Next()
}

// clientIP is the client's address for logs and audit entries.
func clientIP(c *fiber.Ctx) string {
	if s, ok := c.Locals(localClientIP).(string); ok {
		return s
	}
	return c.IP()
}

// clientKey is the key every per-address rate limit counts under.
func clientKey(c *fiber.Ctx) string {
	if s, ok := c.Locals(localClientKey).(string); ok {
		return s
	}
	a, _ := netip.ParseAddr(c.IP())
	return models.ClientKey(a)
}
