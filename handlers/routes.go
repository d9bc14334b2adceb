package handlers

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gatehouse/models"
	"gatehouse/models/scim"
	"gatehouse/static"
)

// BodyLimit caps every request body (the SAML ACS needs 512 KiB at most).
const BodyLimit = 1 << 20

// NewApp builds the Fiber app with every route. This is the only route table.
func NewApp(h *Handler) *fiber.App {
	app := fiber.New(fiber.Config{
		ErrorHandler: h.ErrorHandler,
		BodyLimit:    bodyReadLimit, // limitBody answers 413 above BodyLimit
		// The request line and headers: a sealed SSO handoff (models.MaxSealedHandoff)
		// plus a browser's usual headers and cookies fit with room to spare.
		ReadBufferSize:        16 << 10,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
		DisableStartupMessage: true,
	})

	// Order: recover first (contains panics everywhere), then request id, client address,
	// access log and security headers for every response; then the request deadline and
	// the body limit, before any database work.
	app.Use(recover.New(recover.Config{EnableStackTrace: false}))
	app.Use(requestid.New())
	app.Use(h.clientAddress)
	app.Use(h.accessLog)
	app.Use(securityHeaders)
	app.Use(h.deadline)
	app.Use(limitBody)

	// Probes, metrics and assets: no session.
	app.Get("/healthz", h.healthz)
	app.Get("/readyz", h.readyz)
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.Handler()))
	app.Use("/static", filesystem.New(filesystem.Config{Root: http.FS(static.FS), MaxAge: 3600}))

	// SAML endpoints at Sentry's paths (SPEC §3.1). The ACS and SLS receive cross-site
	// POSTs from the IdP: they are outside CSRF and protected by signatures, request
	// state and the replay cache instead.
	saml := app.Group("/saml", h.loadSession, h.loadUser)
	saml.Get("/metadata/:slug/", h.samlMetadata)
	saml.Post("/acs/:slug/", h.acs)
	saml.Get("/sls/:slug/", h.sls)
	saml.Post("/sls/:slug/", h.sls)

	// SCIM 2.0 (SPEC §5): bearer tokens, no session, no CSRF; SCIM errors only.
	scimAPI := app.Group("/api/0/organizations/:org/scim/v2", h.scimAuth)
	scimAPI.Get("/ServiceProviderConfig", h.scimServiceProviderConfig)
	scimAPI.Get("/ResourceTypes", h.scimResourceTypes)
	scimAPI.Get("/ResourceTypes/:name", h.scimResourceTypes)
	scimAPI.Get("/Schemas", h.scimSchemas)
	scimAPI.Get("/Schemas/:urn", h.scimSchemas)
	scimAPI.Get("/Users", h.scimListUsers)
	scimAPI.Post("/Users", h.scimCreateUser)
	scimAPI.Post("/Users/.search", h.scimSearchUsers)
	scimAPI.Get("/Users/:id", h.scimGetUser)
	scimAPI.Put("/Users/:id", h.scimReplaceUser)
	scimAPI.Patch("/Users/:id", h.scimPatchUser)
	scimAPI.Delete("/Users/:id", h.scimDeleteUser)
	scimAPI.Get("/Groups", h.scimListGroups)
	scimAPI.Post("/Groups", h.scimCreateGroup)
	scimAPI.Get("/Groups/:id", h.scimGetGroup)
	scimAPI.Put("/Groups/:id", h.scimReplaceGroup)
	scimAPI.Patch("/Groups/:id", h.scimPatchGroup)
	scimAPI.Delete("/Groups/:id", h.scimDeleteGroup)
	scimAPI.Use(func(c *fiber.Ctx) error {
		return scim.Errorf(http.StatusNotFound, "", "No such SCIM endpoint")
	})

	// Browser pages: session, CSRF on state changes, the signed-in user.
	web := app.Group("", h.loadSession, h.csrf, h.loadUser)
	web.Get("/", h.home)
	web.Get("/setup/", h.setupPage)
	web.Post("/setup/", h.setup)

	// Accounts (SPEC §1).
	web.Get("/auth/register/", h.registerPage)
	web.Post("/auth/register/", h.register)
	web.Get("/auth/verify/:token/", h.verifyEmailPage)
	web.Post("/auth/verify/:token/", h.verifyEmail)
	web.Get("/auth/login/", h.loginPage)
	web.Post("/auth/login/", h.login)
	web.Post("/auth/sso/", h.ssoLookup) // "Sign in with SSO": an org slug or a work email
	web.Post("/auth/logout/", h.logout)
	web.Get("/auth/password/reset/", h.forgotPage)
	web.Post("/auth/password/reset/", h.forgot)
	web.Get("/auth/password/reset/:token/", h.resetPage)
	web.Post("/auth/password/reset/:token/", h.reset)
	web.Get("/auth/login/:slug/", h.orgLoginPage)
	web.Post("/auth/login/:slug/", h.startOrgLogin)
	web.Get(OAuthCallbackPath, h.oauthCallback)
	web.Get(ssoCompletePath+":token/", h.completeSSOHandoff)
	web.Post(ssoCompletePath+":token/", h.completeSSOHandoff)
	web.Get("/auth/link/confirm/:token/", h.linkConfirm)
	web.Get("/auth/link/:token/", h.linkPage)
	web.Post("/auth/link/:token/", h.link)
	web.Post("/auth/link/:token/email/", h.linkEmail)
	web.Get("/accept/:token/", h.acceptPage)
	web.Post("/accept/:token/", h.accept)

	// Signed-in pages. (A Group with an empty prefix would apply its middleware to
	// every later route, so requireUser is named per route or per prefixed group.)
	web.Get("/account/", h.requireUser, h.accountPage)
	web.Post("/account/", h.requireUser, h.updateProfile)
	web.Post("/account/password/", h.requireUser, h.changePassword)
	web.Post("/account/password/link/", h.requireUser, h.firstPasswordLink)
	web.Post("/account/sessions/revoke-others/", h.requireUser, h.revokeOtherSessions)
	web.Get("/organizations/new/", h.requireUser, h.newOrgPage) // before the :slug group
	web.Post("/organizations/new/", h.requireUser, h.createOrg)

	// One organization: the user must be an active member (else 404).
	org := web.Group("/organizations/:slug", h.requireUser, h.loadOrg)
	org.Get("/", h.orgHome)

	settings := web.Group("/settings/:slug", h.requireUser, h.loadOrg)
	viewMembers := requireRole(models.Role.CanViewMembers)
	manageMembers := requireRole(models.Role.CanManageMembers)
	settings.Get("/members/", viewMembers, h.membersPage)
	settings.Post("/members/invite/", manageMembers, h.invite)
	settings.Post("/members/leave/", h.leaveOrg)
	settings.Post("/members/:id/role/", manageMembers, h.memberAction("Role changed.", h.changeRole))
	settings.Post("/members/:id/remove/", manageMembers, h.memberAction("Member removed.", h.removeMember))
	settings.Post("/members/:id/resend/", manageMembers, h.memberAction("Invitation sent again.", h.resendInvitation))
	settings.Post("/members/:id/cancel/", manageMembers, h.memberAction("Invitation canceled.", h.cancelInvitation))

	manageTeams := requireRole(models.Role.CanManageTeams)
	settings.Get("/teams/", viewMembers, h.teamsPage)
	settings.Post("/teams/", manageTeams, h.createTeam)
	settings.Get("/teams/:team/", viewMembers, h.teamPage)
	settings.Post("/teams/:team/", manageTeams, h.renameTeam)
	settings.Post("/teams/:team/delete/", manageTeams, h.deleteTeam)
	settings.Post("/teams/:team/members/", manageTeams, h.addTeamMember)
	settings.Post("/teams/:team/members/:id/remove/", manageTeams, h.removeTeamMember)

	settings.Get("/audit-log/", requireRole(models.Role.CanViewAudit), h.auditLog)

	// Org Settings › Auth (SPEC §2): owners and managers.
	settings.Get("/auth/", manageMembers, h.authSettings)
	settings.Get("/auth/configure/:kind/", manageMembers, h.configurePage)
	settings.Post("/auth/configure/:kind/", manageMembers, h.configure)
	settings.Post("/auth/activate/", manageMembers, h.activate)
	settings.Post("/auth/test/", manageMembers, h.testConfiguration)
	settings.Get("/auth/test/:token/", manageMembers, h.ssoResult(models.PurposeTest))
	settings.Get("/auth/activation/:token/", manageMembers, h.ssoResult(models.PurposeActivate))
	settings.Post("/auth/settings/", manageMembers, h.saveAuthSettings)
	settings.Post("/auth/reminders/", manageMembers, h.sendReminders)
	settings.Post("/auth/reminders/:id/", manageMembers, h.sendReminders)
	settings.Get("/auth/disable/", manageMembers, h.disablePage)
	settings.Post("/auth/disable/", manageMembers, h.disableProvider)
	settings.Post("/auth/sp-keys/", manageMembers, h.saveSPKeys)
	settings.Post("/auth/scim/tokens/", manageMembers, h.createSCIMToken)
	settings.Post("/auth/scim/tokens/:id/revoke/", manageMembers, h.revokeSCIMToken)
	// Verified domains: owners only (models.Authorize), shown to managers.
	settings.Post("/auth/domains/", manageMembers, h.addDomain)
	settings.Post("/auth/domains/capture/", manageMembers, h.setDomainCapture)
	settings.Post("/auth/domains/:id/verify/", manageMembers, h.verifyDomain)
	settings.Post("/auth/domains/:id/remove/", manageMembers, h.removeDomain)

	if h.Config.DevMail {
		dev := web.Group("/_dev/mail", h.requireUser, requireSuperuser)
		dev.Get("/", h.devMail)
		dev.Get("/:id/", h.devMailMessage)
	}

	app.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
	return app
}

// requireSuperuser guards instance-wide pages (the dev outbox holds live links).
func requireSuperuser(c *fiber.Ctx) error {
	if u := currentUser(c); u == nil || !u.IsSuperuser {
		return fiber.ErrNotFound
	}
	return c.Next()
}
