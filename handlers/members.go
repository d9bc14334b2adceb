package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"gatehouse/models"
	"gatehouse/views/components"
	"gatehouse/views/pages"
)

const membersPerPage = 50

// membersView loads everything the members page shows.
func (h *Handler) membersView(c *fiber.Ctx, invite pages.InviteForm) (pages.MembersView, error) {
	ctx := c.UserContext()
	org, m := currentOrg(c)
	search, notLinked := c.Query("q"), c.Query("sso") == "not-linked"
	pageNo, _ := strconv.Atoi(c.Query("page"))
	after, _ := strconv.ParseInt(c.Query("after"), 10, 64)
	before, _ := strconv.ParseInt(c.Query("before"), 10, 64)
	res, err := models.ListMembers(ctx, h.DB.Bun, org.ID, models.MemberQuery{Search: search, NotLinked: notLinked,
		After: after, Before: before, Page: pageNo, Limit: membersPerPage})
	if err != nil {
		return pages.MembersView{}, err
	}
	v := pages.MembersView{Slug: org.Slug, CanManage: m.Role.CanManageMembers(), IsOwner: m.Role == models.RoleOwner,
		MyMemberID: m.ID, Search: search, NotLinked: notLinked, Page: res, Invite: invite}
	pageURL := func(key string, id int64) string {
		q := url.Values{}
		if search != "" {
			q.Set("q", search)
		}
		if notLinked {
			q.Set("sso", "not-linked")
		}
		if key != "" {
			q.Set(key, strconv.FormatInt(id, 10))
		}
		s := "/settings/" + org.Slug + "/members/"
		if len(q) > 0 {
			s += "?" + q.Encode()
		}
		return s
	}
	// Keyset links: the next page starts after this page's last row, the previous one
	// ends before its first.
	if res.HasPrev && len(res.Rows) > 0 {
		v.PrevURL = pageURL("before", res.Rows[0].ID)
	} else if res.HasPrev {
		v.PrevURL = pageURL("", 0)
	}
	if res.HasNext && len(res.Rows) > 0 {
		v.NextURL = pageURL("after", res.Rows[len(res.Rows)-1].ID)
	}
	if isPartial(c) {
		return v, nil
	}
	if v.Invitations, err = models.ListInvitations(ctx, h.DB.Bun, org.ID, 200); err != nil {
		return v, err
	}
	if v.CanManage {
		if v.Teams, err = models.ListTeams(ctx, h.DB.Bun, org.ID); err != nil {
			return v, err
		}
	}
	return v, nil
}

func (h *Handler) membersPage(c *fiber.Ctx) error {
	v, err := h.membersView(c, pages.InviteForm{Role: string(models.RoleMember)})
	if err != nil {
		return err
	}
	p := h.page(c, "Members")
	p.Section = "members"
	if isPartial(c) {
		return h.render(c, http.StatusOK, pages.MembersList(p, v))
	}
	return h.render(c, http.StatusOK, pages.Members(p, v))
}

func (h *Handler) invite(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	form := pages.InviteForm{Email: c.FormValue("email"), Role: c.FormValue("role"), TeamIDs: map[int64]bool{}}
	var teamIDs []int64
	for _, raw := range c.Context().PostArgs().PeekMulti("teams") {
		id, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			continue
		}
		teamIDs = append(teamIDs, id)
		form.TeamIDs[id] = true
	}
	_, err := models.InviteMember(c.UserContext(), h.DB.Bun, h.Mailer, org.ID, actor(c),
		models.Invite{Email: form.Email, Role: form.Role, TeamIDs: teamIDs})
	if errs, ferr := formErrors(err); err != nil {
		if ferr != nil {
			return ferr
		}
		form.Errors = errs
		v, err := h.membersView(c, form)
		if err != nil {
			return err
		}
		p := h.page(c, "Members")
		p.Section = "members"
		return h.render(c, http.StatusUnprocessableEntity, pages.Members(p, v))
	}
	h.flash(c, "Invitation sent to "+models.NormalizeEmail(form.Email)+".")
	return h.redirect(c, "/settings/"+org.Slug+"/members/")
}

// memberAction runs one operation on the member in the URL and returns to the list
// with a message; a refusal (last owner, owner-only) is shown as an error message.
func (h *Handler) memberAction(done string, op func(c *fiber.Ctx, orgID, memberID int64) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		org, _ := currentOrg(c)
		id, err := paramID(c, "id")
		if err != nil {
			return err
		}
		err = op(c, org.ID, id)
		var forbidden *models.ForbiddenError
		switch {
		case errors.As(err, &forbidden):
			h.flashError(c, forbidden.Reason)
		case err != nil:
			if v, ok := models.AsValidation(err); ok {
				h.flashError(c, components.Errors(v.Fields)["role"])
				break
			}
			return err
		default:
			h.flash(c, done)
		}
		return h.redirect(c, "/settings/"+org.Slug+"/members/")
	}
}

func (h *Handler) changeRole(c *fiber.Ctx, orgID, memberID int64) error {
	return models.ChangeRole(c.UserContext(), h.DB.Bun, orgID, actor(c), memberID, c.FormValue("role"))
}

func (h *Handler) removeMember(c *fiber.Ctx, orgID, memberID int64) error {
	return models.RemoveMember(c.UserContext(), h.DB.Bun, orgID, actor(c), memberID)
}

func (h *Handler) resendInvitation(c *fiber.Ctx, orgID, memberID int64) error {
	return models.ResendInvitation(c.UserContext(), h.DB.Bun, h.Mailer, orgID, actor(c), memberID)
}

func (h *Handler) cancelInvitation(c *fiber.Ctx, orgID, memberID int64) error {
	return models.CancelInvitation(c.UserContext(), h.DB.Bun, orgID, actor(c), memberID)
}

func (h *Handler) leaveOrg(c *fiber.Ctx) error {
	org, _ := currentOrg(c)
	err := models.LeaveOrganization(c.UserContext(), h.DB.Bun, org.ID, actor(c))
	var forbidden *models.ForbiddenError
	if errors.As(err, &forbidden) {
		h.flashError(c, forbidden.Reason)
		return h.redirect(c, "/organizations/"+org.Slug+"/")
	}
	if err != nil {
		return err
	}
	h.flash(c, "You left "+org.Name+".")
	return h.redirect(c, "/")
}
