package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

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
	case models.DatabaseUnavailable(err):
		status, msg = http.StatusServiceUnavailable, "The service is briefly unavailable. Try again in a few seconds."
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(models.RetryAfterSeconds))
	case errors.Is(err, models.ErrBusy):
		status, msg = http.StatusServiceUnavailable, "The server is busy. Try again in a few seconds."
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(models.BusyRetryAfter.Seconds())))
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
	// Render without the org frame on failure paths, except for a member refused by
	// role: they stay in their organization, with its navigation.
	p := h.page(c, msg)
	if status != http.StatusForbidden {
		p.Org = nil
	}
	return h.render(c, status, pages.Error(p, status, msg, requestID(c)))
}
