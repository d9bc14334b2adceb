package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgconn"

	"gatehouse/models"
	"gatehouse/models/scim"
	"gatehouse/views/pages"
)

// ErrorHandler is the one place HTML errors become output: it logs 5xx with the
// request id and shows a friendly page; the public message never carries the cause.
func (h *Handler) ErrorHandler(c *fiber.Ctx, err error) error {
	status, msg := http.StatusInternalServerError, "Internal error"
	var fe *fiber.Error
	var forbidden *models.ForbiddenError
	var connErr *pgconn.ConnectError
	switch {
	case errors.As(err, &fe):
		status, msg = fe.Code, fe.Message
	case errors.Is(err, models.ErrNotFound):
		status, msg = http.StatusNotFound, "Not found"
	case errors.As(err, &forbidden):
		status, msg = http.StatusForbidden, forbidden.Reason
	case errors.Is(err, models.ErrForbidden):
		status, msg = http.StatusForbidden, "You do not have access to this."
	case errors.Is(err, models.ErrConflict):
		status, msg = http.StatusConflict, "This conflicts with a change someone else made. Reload and try again."
	case errors.As(err, &connErr) || isPoolUnavailable(err):
		status, msg = http.StatusServiceUnavailable, "The database is unavailable"
	}
	if v, ok := models.AsValidation(err); ok {
		status, msg = http.StatusUnprocessableEntity, v.Error()
	}
	if status >= 500 {
		h.Log.Error("request failed", "request_id", requestID(c), "route", c.Route().Path, "status", status, "error", err.Error())
	}
	if status == http.StatusNotFound && msg == "Cannot "+c.Method()+" "+c.Path() {
		msg = "Not found" // Fiber's own 404 text repeats the path
	}
	if strings.HasPrefix(c.Path(), "/api/0/organizations/") && strings.Contains(c.Path(), "/scim/v2") {
		// Errors raised before the SCIM handlers (an oversized body) speak SCIM too.
		return h.scimFail(c, scim.Errorf(status, "", "%s", msg))
	}
	if isPartial(c) {
		c.Status(status)
		return c.SendString(msg)
	}
	// Render without the org frame and without touching the session on failure paths.
	p := h.page(c, msg)
	p.Org = nil
	return h.render(c, status, pages.Error(p, status, msg, requestID(c)))
}

func isPoolUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 57P01 admin shutdown, 57P03 cannot connect now, 08xxx connection exceptions
		return pgErr.Code == "57P01" || pgErr.Code == "57P03" || pgErr.Code[:2] == "08"
	}
	return false
}
