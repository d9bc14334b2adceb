package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/models"
	"gatehouse/models/scim"
)

// SCIM 2.0 (SPEC §5) under /api/0/organizations/{slug or id}/scim/v2. Every answer is
// application/scim+json; every error is a SCIM error, written in one place (scimFail).

const (
	localSCIMToken = "scim_token"
	scimMIME       = "application/scim+json"
	// scimRateLimit requests per minute and token (429 with Retry-After beyond).
	scimRateLimit = 30000 // 500/s: an IdP's initial sync of 10,000 users runs in well under a minute
	// scimBadAuthLimit failed authentications per minute and address.
	scimBadAuthLimit = 30
)

func scimOrg(c *fiber.Ctx) *models.Organization {
	org, _ := c.Locals(localOrg).(*models.Organization)
	return org
}

func scimActor(c *fiber.Ctx) models.Actor {
	tok, _ := c.Locals(localSCIMToken).(*models.SCIMToken)
	return tok.Actor(clientIP(c))
}

// scimJSON writes v with status as application/scim+json.
func scimJSON(c *fiber.Ctx, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, scimMIME)
	return c.Send(b)
}

// scimFail turns any error into a SCIM error response; unexpected ones are logged and
// answered 500 without detail.
func (h *Handler) scimFail(c *fiber.Ctx, err error) error {
	var se *scim.Error
	switch {
	case errors.As(err, &se):
	case errors.Is(err, models.ErrNotFound):
		se = scim.Errorf(http.StatusNotFound, "", "Resource not found")
	case errors.Is(err, models.ErrForbidden):
		se = scim.Errorf(http.StatusForbidden, "", "%s", err.Error())
	case models.DatabaseUnavailable(err):
		// IdPs (Entra, Okta) retry a 503 with Retry-After; a 500 is reported as a failure.
		h.Log.Warn("SCIM request: database unavailable", "request_id", requestID(c), "route", c.Route().Path, "error", err.Error())
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(models.RetryAfterSeconds))
		se = scim.Errorf(http.StatusServiceUnavailable, "", "The service is briefly unavailable: retry after %d seconds", models.RetryAfterSeconds)
	default:
		if v, ok := models.AsValidation(err); ok {
			se = scim.Errorf(http.StatusBadRequest, "invalidValue", "%s", v.Error())
			break
		}
		h.Log.Error("SCIM request failed", "request_id", requestID(c), "route", c.Route().Path, "error", err.Error())
		se = scim.Errorf(http.StatusInternalServerError, "", "Internal error (request id %s)", requestID(c))
	}
	c.Locals("scim_error", se.Detail)
	return scimJSON(c, se.Status, se)
}

// scimAuth resolves the org of the URL (slug or numeric id), checks the bearer token
// against that org only, the SCIM switch and the rate limit, and logs the request.
func (h *Handler) scimAuth(c *fiber.Ctx) error {
	ctx := c.UserContext()
	start := time.Now()
	ref := copyString(c.Params("org"))
	org, p, err := models.OrgAndProvider(ctx, h.DB.Bun, ref)
	if org == nil && errors.Is(err, models.ErrNotFound) {
		if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
			org, p, err = models.OrgAndProviderByID(ctx, h.DB.Bun, id)
		}
	}
	if org != nil && errors.Is(err, models.ErrNotFound) {
		err = nil // no provider: refused below, once the token is checked
	}
	unauthorized := func() error {
		// Failed authentications are limited per address (token guessing).
		if ok, retry, err := models.Allow(ctx, h.DB.Bun, "scim:badauth:"+clientKey(c), scimBadAuthLimit, time.Minute); err == nil && !ok {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(retry.Seconds())+1))
			return h.scimFail(c, scim.Errorf(http.StatusTooManyRequests, "", "Too many failed authentications: retry after %d seconds", int(retry.Seconds())+1))
		}
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="SCIM"`)
		return h.scimFail(c, scim.Errorf(http.StatusUnauthorized, "", "A valid bearer token for this organization is required"))
	}
	if errors.Is(err, models.ErrNotFound) {
		return unauthorized() // no org enumeration: same answer as a wrong token
	}
	if err != nil {
		return h.scimFail(c, err)
	}
	// The scheme is case-insensitive (RFC 9110 §11.1): Entra and others send "bearer".
	scheme, secret, ok := strings.Cut(strings.TrimSpace(c.Get(fiber.HeaderAuthorization)), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return unauthorized()
	}
	tok, err := models.AuthenticateSCIM(ctx, h.DB.Bun, org.ID, strings.TrimSpace(secret))
	if errors.Is(err, models.ErrNotFound) {
		return unauthorized()
	}
	if errors.Is(err, models.ErrSCIMTokenPowerless) {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="SCIM"`)
		return h.scimFail(c, scim.Errorf(http.StatusUnauthorized, "", "%s", err.Error()))
	}
	if err != nil {
		return h.scimFail(c, err)
	}
	c.Locals(localOrg, org)
	c.Locals(localSCIMToken, tok)
	defer func() {
		errText, _ := c.Locals("scim_error").(string)
		entry := models.SCIMRequest{OrgID: org.ID, TokenID: &tok.ID, Method: copyString(c.Method()), Path: copyString(c.Path()),
			Status: c.Response().StatusCode(), DurationMS: int(time.Since(start).Milliseconds()), Error: errText}
		if err := models.LogSCIMRequest(ctx, h.DB.Bun, entry); err != nil {
			h.Log.Error("SCIM request log", "request_id", requestID(c), "error", err.Error())
		}
	}()
	if p == nil || !p.IsSAML() || !p.Active() || !p.SCIMEnabled {
		return h.scimFail(c, scim.Errorf(http.StatusForbidden, "", "SCIM is not enabled for this organization (it needs an active SAML provider with SCIM enabled)"))
	}
	allowed, retry, err := models.Allow(ctx, h.DB.Bun, "scim:token:"+strconv.FormatInt(tok.ID, 10), scimRateLimit, time.Minute)
	if err != nil {
		return h.scimFail(c, err)
	}
	if !allowed {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(retry.Seconds())+1))
		return h.scimFail(c, scim.Errorf(http.StatusTooManyRequests, "", "Too many requests: retry after %d seconds", int(retry.Seconds())+1))
	}
	if allow := scimAllowedMethods(c.Path()); allow != "" && !strings.Contains(", "+allow+", ", ", "+c.Method()+", ") {
		// A known endpoint with a method it does not take (POST /ServiceProviderConfig,
		// PUT /Users …): 405 with Allow (RFC 9110 §15.5.6), not the 404 of unknown paths.
		c.Set(fiber.HeaderAllow, allow)
		return h.scimFail(c, scim.Errorf(http.StatusMethodNotAllowed, "", "%s is not allowed here (allowed: %s)", c.Method(), allow))
	}
	if err := c.Next(); err != nil {
		return h.scimFail(c, err)
	}
	return nil
}

// scimAllowedMethods gives the methods of the SCIM endpoint at path (as routes.go
// declares them, HEAD with GET), or "" when path is no SCIM endpoint. Routing ignores
// case and a trailing slash, and so does this.
func scimAllowedMethods(path string) string {
	// /api/0/organizations/{org}/scim/v2/{resource…}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) < 7 || !strings.EqualFold(segs[4], "scim") || !strings.EqualFold(segs[5], "v2") {
		return ""
	}
	parts := segs[6:]
	const read = "GET, HEAD"
	switch strings.ToLower(parts[0]) {
	case "serviceproviderconfig":
		if len(parts) == 1 {
			return read
		}
	case "resourcetypes", "schemas":
		if len(parts) <= 2 {
			return read
		}
	case "users", "groups":
		switch len(parts) {
		case 1:
			return read + ", POST"
		case 2:
			if parts[1] == ".search" {
				return "POST"
			}
			return read + ", PUT, PATCH, DELETE"
		}
	}
	return ""
}

// scimBase is the SCIM base URL of the org in the request (for meta.location).
func (h *Handler) scimBase(c *fiber.Ctx) string { return h.scimBaseURL(scimOrg(c)) }

func scimPaging(c *fiber.Ctx) (int, int, error) {
	return scim.ParsePaging(c.Query("startIndex"), c.Query("count"))
}

// scimBody checks the media type: application/scim+json, application/json, any other
// JSON type (+json), none at all, or text/plain — what fetch, XHR and test runners such
// as Runscope send for a body without a declared type; the body must be JSON anyway,
// and with bearer tokens the type carries no CSRF meaning. Forms, multipart and XML are
// 415.
func scimBody(c *fiber.Ctx) ([]byte, error) {
	ct := strings.ToLower(string(c.Request().Header.ContentType()))
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case mt == "", mt == scimMIME, mt == fiber.MIMEApplicationJSON, strings.HasSuffix(mt, "+json"), mt == fiber.MIMETextPlain:
		return c.Body(), nil
	}
	return nil, scim.Errorf(http.StatusUnsupportedMediaType, "invalidSyntax", "Content-Type must be application/scim+json or application/json")
}

func (h *Handler) scimServiceProviderConfig(c *fiber.Ctx) error {
	return scimJSON(c, http.StatusOK, scim.ServiceProviderConfig(h.scimBase(c)))
}

func (h *Handler) scimResourceTypes(c *fiber.Ctx) error {
	all := scim.ResourceTypes(h.scimBase(c))
	name := copyString(c.Params("name"))
	if name == "" {
		return scimJSON(c, http.StatusOK, scim.ListResponse{TotalResults: len(all), StartIndex: 1, Resources: toAny(all)})
	}
	for _, rt := range all {
		if strings.EqualFold(fmt.Sprint(rt["id"]), name) || strings.EqualFold(fmt.Sprint(rt["name"]), name) {
			return scimJSON(c, http.StatusOK, rt)
		}
	}
	return h.scimFail(c, scim.Errorf(http.StatusNotFound, "", "ResourceType %s not found", name))
}

func (h *Handler) scimSchemas(c *fiber.Ctx) error {
	all := scim.Schemas(h.scimBase(c))
	urn, err := url.PathUnescape(copyString(c.Params("urn")))
	if err != nil {
		return h.scimFail(c, scim.Errorf(http.StatusBadRequest, "invalidSyntax", "bad schema id"))
	}
	if urn == "" {
		return scimJSON(c, http.StatusOK, scim.ListResponse{TotalResults: len(all), StartIndex: 1, Resources: toAny(all)})
	}
	for _, s := range all {
		if fmt.Sprint(s["id"]) == urn {
			return scimJSON(c, http.StatusOK, s)
		}
	}
	return h.scimFail(c, scim.Errorf(http.StatusNotFound, "", "Schema %s not found", urn))
}

func toAny[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func (h *Handler) scimListUsers(c *fiber.Ctx) error {
	start, count, err := scimPaging(c)
	if err != nil {
		return err
	}
	list, err := models.ListSCIMUsers(c.UserContext(), h.DB.Bun, scimOrg(c).ID, h.scimBase(c), c.Query("filter"), start, count)
	if err != nil {
		return err
	}
	return scimList(c, list.Total, start, list.Resources)
}

// scimSearchUsers is POST /Users/.search (RFC 7644 §3.4.3): the query of GET /Users
// in a SearchRequest body.
func (h *Handler) scimSearchUsers(c *fiber.Ctx) error {
	body, err := scimBody(c)
	if err != nil {
		return err
	}
	var req struct {
		Filter             string          `json:"filter"`
		StartIndex         json.RawMessage `json:"startIndex"`
		Count              json.RawMessage `json:"count"`
		Attributes         []string        `json:"attributes"`
		ExcludedAttributes []string        `json:"excludedAttributes"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return scim.Errorf(http.StatusBadRequest, "invalidSyntax", "The body must be a SearchRequest (RFC 7644 §3.4.3)")
	}
	num := func(raw json.RawMessage) string { return strings.Trim(string(raw), `"`) }
	start, count, err := scim.ParsePaging(num(req.StartIndex), num(req.Count))
	if err != nil {
		return err
	}
	// The attribute selection is read where GET reads it.
	args := c.Request().URI().QueryArgs()
	if len(req.Attributes) > 0 {
		args.Set("attributes", strings.Join(req.Attributes, ","))
	}
	if len(req.ExcludedAttributes) > 0 {
		args.Set("excludedAttributes", strings.Join(req.ExcludedAttributes, ","))
	}
	list, err := models.ListSCIMUsers(c.UserContext(), h.DB.Bun, scimOrg(c).ID, h.scimBase(c), req.Filter, start, count)
	if err != nil {
		return err
	}
	return scimList(c, list.Total, start, list.Resources)
}

func (h *Handler) scimGetUser(c *fiber.Ctx) error {
	u, err := models.GetSCIMUser(c.UserContext(), h.DB.Bun, scimOrg(c).ID, h.scimBase(c), copyString(c.Params("id")))
	if err != nil {
		return err
	}
	return scimResource(c, http.StatusOK, u)
}

func (h *Handler) scimCreateUser(c *fiber.Ctx) error {
	body, err := scimBody(c)
	if err != nil {
		return err
	}
	if err := scim.CheckSchemas(body, scim.SchemaUser, scim.SchemaEnterpriseUser, scim.SchemaExtension); err != nil {
		return err
	}
	in, err := scim.ParseUser(body)
	if err != nil {
		return err
	}
	u, err := models.ProvisionSCIMUser(c.UserContext(), h.DB.Bun, h.Mailer, scimOrg(c).ID, scimActor(c), h.scimBase(c), in)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderLocation, u.Meta.Location)
	return scimResource(c, http.StatusCreated, u)
}

func (h *Handler) scimReplaceUser(c *fiber.Ctx) error {
	body, err := scimBody(c)
	if err != nil {
		return err
	}
	if err := scim.CheckSchemas(body, scim.SchemaUser, scim.SchemaEnterpriseUser, scim.SchemaExtension); err != nil {
		return err
	}
	in, err := scim.ParseUser(body)
	if err != nil {
		return err
	}
	u, err := models.ReplaceSCIMUser(c.UserContext(), h.DB.Bun, h.Mailer, scimOrg(c).ID, scimActor(c), h.scimBase(c), copyString(c.Params("id")), in, scim.SendsActive(body))
	if err != nil {
		return err
	}
	return scimResource(c, http.StatusOK, u)
}

func (h *Handler) scimPatchUser(c *fiber.Ctx) error {
	body, err := scimBody(c)
	if err != nil {
		return err
	}
	ops, err := scim.ParsePatch(body)
	if err != nil {
		return err
	}
	u, err := models.PatchSCIMUser(c.UserContext(), h.DB.Bun, h.Mailer, scimOrg(c).ID, scimActor(c), h.scimBase(c), copyString(c.Params("id")), ops)
	if err != nil {
		return err
	}
	return scimResource(c, http.StatusOK, u)
}

func (h *Handler) scimDeleteUser(c *fiber.Ctx) error {
	if err := models.DeleteSCIMUser(c.UserContext(), h.DB.Bun, scimOrg(c).ID, scimActor(c), copyString(c.Params("id"))); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// withMembers reports whether the response carries members (not when
// excludedAttributes names them or attributes leaves them out): only then are they
// loaded, which matters for groups of 10,000+ members.
// scimAttrs is the request's attributes/excludedAttributes selection.
func scimAttrs(c *fiber.Ctx) scim.Projection {
	return scim.ParseProjection(c.Query("attributes"), c.Query("excludedAttributes"))
}

func withMembers(c *fiber.Ctx) bool { return scimAttrs(c).Wants("members") }

func (h *Handler) scimListGroups(c *fiber.Ctx) error {
	start, count, err := scimPaging(c)
	if err != nil {
		return err
	}
	list, err := models.ListSCIMGroups(c.UserContext(), h.DB.Bun, scimOrg(c).ID, h.scimBase(c), c.Query("filter"), start, count, withMembers(c))
	if err != nil {
		return err
	}
	return scimList(c, list.Total, start, list.Resources)
}

func (h *Handler) scimGetGroup(c *fiber.Ctx) error {
	g, err := models.GetSCIMGroup(c.UserContext(), h.DB.Bun, scimOrg(c).ID, h.scimBase(c), copyString(c.Params("id")), withMembers(c))
	if err != nil {
		return err
	}
	return scimResource(c, http.StatusOK, g)
}

func (h *Handler) scimCreateGroup(c *fiber.Ctx) error {
	body, err := scimBody(c)
	if err != nil {
		return err
	}
	if err := scim.CheckSchemas(body, scim.SchemaGroup); err != nil {
		return err
	}
	in, err := scim.ParseGroup(body)
	if err != nil {
		return err
	}
	g, err := models.CreateSCIMGroup(c.UserContext(), h.DB.Bun, scimOrg(c).ID, scimActor(c), h.scimBase(c), in)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderLocation, g.Meta.Location)
	return scimResource(c, http.StatusCreated, g)
}

func (h *Handler) scimReplaceGroup(c *fiber.Ctx) error {
	body, err := scimBody(c)
	if err != nil {
		return err
	}
	if err := scim.CheckSchemas(body, scim.SchemaGroup); err != nil {
		return err
	}
	in, err := scim.ParseGroup(body)
	if err != nil {
		return err
	}
	g, err := models.ReplaceSCIMGroup(c.UserContext(), h.DB.Bun, scimOrg(c).ID, scimActor(c), h.scimBase(c), copyString(c.Params("id")), in)
	if err != nil {
		return err
	}
	return scimResource(c, http.StatusOK, g)
}

func (h *Handler) scimPatchGroup(c *fiber.Ctx) error {
	body, err := scimBody(c)
	if err != nil {
		return err
	}
	ops, err := scim.ParsePatch(body)
	if err != nil {
		return err
	}
	change, err := scim.GroupPatch(ops)
	if err != nil {
		return err
	}
	g, err := models.PatchSCIMGroup(c.UserContext(), h.DB.Bun, scimOrg(c).ID, scimActor(c), h.scimBase(c), copyString(c.Params("id")), change, withMembers(c))
	if err != nil {
		return err
	}
	return scimResource(c, http.StatusOK, g)
}

func (h *Handler) scimDeleteGroup(c *fiber.Ctx) error {
	if err := models.DeleteSCIMGroup(c.UserContext(), h.DB.Bun, scimOrg(c).ID, scimActor(c), copyString(c.Params("id"))); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// scimResource writes one User or Group with the request's attribute selection.
func scimResource(c *fiber.Ctx, status int, v any) error {
	out, err := scimAttrs(c).Apply(v)
	if err != nil {
		return err
	}
	return scimJSON(c, status, out)
}

// scimList writes a list response with the request's attribute selection.
func scimList[T any](c *fiber.Ctx, total, start int, items []T) error {
	a := scimAttrs(c)
	res := make([]any, 0, len(items))
	for _, it := range items {
		p, err := a.Apply(it)
		if err != nil {
			return err
		}
		res = append(res, p)
	}
	return scimJSON(c, http.StatusOK, scim.ListResponse{TotalResults: total, StartIndex: start, Resources: res})
}
