package pages

import (
	"net/url"
	"regexp"
	"strings"
	"time"
)

func withNext(path, next string) string {
	if next == "" {
		return path
	}
	return path + "?next=" + url.QueryEscape(next)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func roleLabel(r string) string {
	switch r {
	case "member":
		return "Member"
	case "admin":
		return "Admin"
	case "manager":
		return "Manager"
	case "owner":
		return "Owner"
	case "billing":
		return "Billing"
	}
	return r
}

func joinedLabel(v string) string {
	switch v {
	case "creator":
		return "Created the organization"
	case "invite":
		return "Invitation"
	case "sso":
		return "SSO just-in-time"
	case "scim":
		return "SCIM"
	case "cli":
		return "CLI"
	}
	return v
}

func joinTeams(ts []string) string {
	if len(ts) == 0 {
		return "—"
	}
	return strings.Join(ts, ", ")
}

type segment struct{ Text, URL string }

var urlRe = regexp.MustCompile(`https?://[^\s<>"]+`)

// linkSegments splits text into plain parts and URLs, so a kept email's links can be
// clicked on the dev mail page.
func linkSegments(text string) []segment {
	var out []segment
	last := 0
	for _, loc := range urlRe.FindAllStringIndex(text, -1) {
		if loc[0] > last {
			out = append(out, segment{Text: text[last:loc[0]]})
		}
		out = append(out, segment{URL: text[loc[0]:loc[1]]})
		last = loc[1]
	}
	if last < len(text) {
		out = append(out, segment{Text: text[last:]})
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// providerDescription is one line about a provider on its card.
func providerDescription(kind string) string {
	switch kind {
	case "saml2":
		return "Any SAML 2.0 identity provider: ADFS, Keycloak, PingFederate, Shibboleth…"
	case "okta":
		return "Okta's catalogue app, with SCIM provisioning."
	case "entra":
		return "Microsoft Entra ID (Azure AD) enterprise application, with SCIM provisioning."
	case "onelogin":
		return "OneLogin SAML connector, with SCIM provisioning."
	case "auth0":
		return "Auth0 SAML2 Web App add-on."
	case "jumpcloud":
		return "JumpCloud SSO application, with SCIM provisioning."
	case "google":
		return "Google Workspace accounts of your domains (OAuth 2.0)."
	case "github":
		return "Members of your GitHub organization (OAuth 2.0)."
	}
	return ""
}

// providerMonogram is the short mark on a provider's card (no third-party logos are
// shipped: a monogram in the provider's colour).
func providerMonogram(kind string) string {
	switch kind {
	case "saml2":
		return "SAML"
	case "okta":
		return "Ok"
	case "entra":
		return "En"
	case "onelogin":
		return "1L"
	case "auth0":
		return "A0"
	case "jumpcloud":
		return "JC"
	case "google":
		return "G"
	case "github":
		return "GH"
	}
	return "?"
}

func activitySuffix(v AuthView) string {
	if v.Provider != nil && v.Provider.SCIMEnabled {
		return " and SCIM requests"
	}
	return ""
}

// errorTitle heads the error page.
func errorTitle(status int) string {
	switch status {
	case 403:
		return "You don't have access to this"
	case 404:
		return "Page not found"
	case 409:
		return "This changed in the meantime"
	case 422:
		return "This cannot be done"
	case 429:
		return "Too many attempts"
	case 503:
		return "Temporarily unavailable"
	}
	if status >= 500 {
		return "Something went wrong"
	}
	return "This cannot be done"
}

func providerListID(compact bool) string {
	if compact {
		return "other-provider-list"
	}
	return "provider-list"
}

// idpPlace names where the owner creates the application.
func idpPlace(kind, name string) string {
	if kind == "saml2" {
		return "your identity provider"
	}
	return name
}
