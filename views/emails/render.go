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
