package handlers

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"gatehouse/models"
	"gatehouse/views/pages"
)

func (h *Handler) auditLog(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	before, _ := strconv.ParseInt(c.Query("before"), 10, 64)
	f := models.AuditFilter{Event: c.Query("event"), Actor: c.Query("actor"), BeforeID: before, Limit: 50}
	events, more, err := models.ListAuditEvents(c.UserContext(), h.DB.Bun, org.ID, f)
	if err != nil {
		return err
	}
	v := pages.AuditView{Slug: org.Slug, Event: f.Event, Actor: f.Actor, Events: events}
	base := "/settings/" + org.Slug + "/audit-log/"
	q := url.Values{}
	if f.Event != "" {
		q.Set("event", f.Event)
	}
	if f.Actor != "" {
		q.Set("actor", f.Actor)
	}
	if before > 0 {
		v.PrevURL = base + "?" + q.Encode() // back to the newest page
	}
	if more {
		q.Set("before", strconv.FormatInt(events[len(events)-1].ID, 10))
		v.NextURL = base + "?" + q.Encode()
	}
	p := h.page(c, "Audit Log")
	p.Section = "audit"
	return h.render(c, http.StatusOK, pages.AuditLog(p, v))
}
