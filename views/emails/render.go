package emails

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"text/template"

	"github.com/a-h/templ"

	"gatehouse/models/mail"
)

var textTemplates = template.Must(template.New("").Parse(`
{{define "invitation"}}{{if .inviter}}{{.inviter}} has invited you{{else}}You have been invited{{end}} to join {{.org_name}} on Gatehouse.

Accept the invitation:
{{.link}}

The link works once and expires in {{.expires_days}} days.
{{end}}
{{define "link_confirm"}}Someone signed in to {{.org_name}} through its identity provider with this email address.
Open this link in the same browser to link that sign-in to your Gatehouse account:
{{.link}}

The link works once, for 30 minutes. If this was not you, ignore this email: nothing is linked without it.
{{end}}
{{define "link_reminder"}}{{.org_name}} now uses single sign-on. Link your Gatehouse account to it: sign in once through the organization's identity provider at its Login URL:
{{.link}}

Keep this URL to sign in from now on.
{{end}}
{{define "sso_disabled"}}An owner of {{.org_name}} disabled single sign-on. From now on, sign in to Gatehouse with your email and password.
{{if eq .has_password "yes"}}You already have a password. If you forgot it, reset it here:{{else}}Your account has no password yet. Choose one here:{{end}}
{{.link}}

The link works once, for 7 days.
{{end}}
{{define "owner_fallback"}}{{.owner}} reached {{.org_name}} with a password (from {{.ip}}), although the organization requires single sign-on, because no owner has linked their account to the identity provider yet.
Link your own account to SSO to close this fallback:
{{.link}}
{{end}}
{{define "trust_changed"}}{{.actor}} {{.what}} for {{.org_name}}{{if .ip}} (from {{.ip}}){{end}}.
This changes whom {{.org_name}} trusts to sign its members in. If you did not expect it, review the organization's authentication settings now:
{{.link}}
{{end}}
{{define "verify_email"}}Hello {{.name}},

Confirm that this is your email address to finish setting up your Gatehouse account:
{{.link}}

The link works once, for 24 hours. If you did not sign up, ignore this email: nothing happens without it.
{{end}}
{{define "account_exists"}}Someone tried to sign up to Gatehouse with this email address, which already has an account.
If it was you, log in, or reset your password here:
{{.link}}

If it was not you, ignore this email: nothing changed.
{{end}}
{{define "cert_expiry"}}{{if eq .stage "expired"}}The identity provider signing certificate of {{.org_name}} ({{.fingerprint}}) expired on {{.not_after}}.
Sign-ins still work: Gatehouse trusts that certificate's key, which you registered, not its dates.{{else}}The identity provider signing certificate of {{.org_name}} ({{.fingerprint}}) expires on {{.not_after}}.
Sign-ins will keep working after that date, because Gatehouse trusts the registered key, but renew it in your identity provider.{{end}}
Create a new signing certificate in the identity provider, then update the registration on the Auth page (a metadata URL registration picks it up by itself):
{{.link}}
{{end}}
{{define "domain_lost"}}Gatehouse could no longer find the DNS record that proves {{.org_name}} owns {{.domain}} (checked {{.lost_at}}). The domain is no longer verified.

Until it is verified again:
- {{.org_name}}'s identity provider no longer proves the email addresses of new accounts at {{.domain}};
- other organizations' identity providers are no longer kept away from addresses at {{.domain}};
{{if eq .capture "yes"}}- domain capture is on but does not apply: accounts at {{.domain}} can sign in with a password again.{{else}}- domain capture (off now) could not apply to {{.domain}}.{{end}}

What to do: publish this TXT record again in the DNS of {{.domain}} (at your DNS provider):

  Name:  {{.record_name}}
  Type:  TXT
  Value: {{.record_value}}

Gatehouse checks again every hour for {{.recheck_hours}} hours and verifies the domain as soon as it finds the record; or press Verify next to {{.domain}} on the Auth page:
{{.link}}

If you removed the record on purpose, remove the domain on the Auth page.
{{end}}
{{define "password_reset"}}Hello {{.name}},

Someone (hopefully you) asked to reset your Gatehouse password. Choose a new one here:
{{.link}}

The link works once, for one hour. If you did not ask for it, ignore this email.
{{end}}`))

// Renderer renders mail jobs with links under BaseURL.
type Renderer struct {
	BaseURL string
}

// Render implements mail.Renderer.
func (r Renderer) Render(a mail.Args) (mail.Message, error) {
	data := map[string]string{}
	for k, v := range a.Data {
		data[k] = v
	}
	var subject string
	var html templ.Component
	switch a.Template {
	case mail.TemplateInvitation:
		subject = "Join " + data["org_name"] + " on Gatehouse"
		data["link"] = r.url("/accept/" + url.PathEscape(data["token"]) + "/")
		html = invitationHTML(data, data["link"])
	case mail.TemplatePasswordReset:
		subject = "Reset your Gatehouse password"
		data["link"] = r.url("/auth/password/reset/" + url.PathEscape(data["token"]) + "/")
		html = passwordResetHTML(data, data["link"])
	case mail.TemplateLinkConfirm:
		subject = "Link your account to " + data["org_name"] + " single sign-on"
		data["link"] = r.url("/auth/link/confirm/" + url.PathEscape(data["token"]) + "/")
		html = linkConfirmHTML(data, data["link"])
	case mail.TemplateLinkReminder:
		subject = "Action Required for " + data["org_name"]
		data["link"] = r.url("/auth/login/" + url.PathEscape(data["org_slug"]) + "/")
		html = linkReminderHTML(data, data["link"])
	case mail.TemplateSSODisabled:
		subject = "Single sign-on disabled for " + data["org_name"]
		data["link"] = r.url("/auth/password/reset/" + url.PathEscape(data["token"]) + "/")
		html = ssoDisabledHTML(data, data["link"])
	case mail.TemplateOwnerFallback:
		subject = data["owner"] + " signed in to " + data["org_name"] + " without SSO"
		data["link"] = r.url("/organizations/" + url.PathEscape(data["org_slug"]) + "/")
		html = ownerFallbackHTML(data, data["link"])
	case mail.TemplateTrustChanged:
		subject = data["org_name"] + ": " + data["actor"] + " " + data["what"]
		data["link"] = r.url("/settings/" + url.PathEscape(data["org_slug"]) + "/auth/")
		html = trustChangedHTML(data, data["link"])
	case mail.TemplateVerifyEmail:
		subject = "Verify your email address for Gatehouse"
		data["link"] = r.url("/auth/verify/" + url.PathEscape(data["token"]) + "/")
		html = verifyEmailHTML(data, data["link"])
	case mail.TemplateAccountExists:
		subject = "You already have a Gatehouse account"
		data["link"] = r.url("/auth/password/reset/")
		html = accountExistsHTML(data, data["link"])
	case mail.TemplateCertExpiry:
		if data["stage"] == "expired" {
			subject = "The identity provider certificate of " + data["org_name"] + " has expired"
		} else {
			subject = "The identity provider certificate of " + data["org_name"] + " expires on " + data["not_after"]
		}
		data["link"] = r.url("/settings/" + url.PathEscape(data["org_slug"]) + "/auth/")
		html = certExpiryHTML(data, data["link"])
	case mail.TemplateDomainLost:
		subject = data["org_name"] + ": the domain " + data["domain"] + " is no longer verified"
		data["link"] = r.url("/settings/" + url.PathEscape(data["org_slug"]) + "/auth/#domains")
		html = domainLostHTML(data, data["link"])
	default:
		return mail.Message{}, fmt.Errorf("unknown email template %q", a.Template)
	}
	var hb, tb bytes.Buffer
	if err := html.Render(context.Background(), &hb); err != nil {
		return mail.Message{}, err
	}
	if err := textTemplates.ExecuteTemplate(&tb, a.Template, data); err != nil {
		return mail.Message{}, err
	}
	return mail.Message{To: a.To, Subject: subject, Text: strings.TrimSpace(tb.String()) + "\n", HTML: hb.String()}, nil
}

func (r Renderer) url(path string) string { return strings.TrimRight(r.BaseURL, "/") + path }
