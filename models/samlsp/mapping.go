package samlsp

import (
	"net/mail"
	"strings"
)

// NameIDKey in a mapping means the assertion's Subject NameID, not an attribute.
const NameIDKey = "NameID"

// Mapping says which assertion values are the IdP user id, email and names (SPEC §3.3).
type Mapping struct {
	Identifier string `json:"identifier"`
	Email      string `json:"email"`
	FirstName  string `json:"first_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
}

// Preset is a provider's instructions, labels and default mapping.
type Preset struct {
	Kind    string
	Name    string
	Mapping Mapping
}

// Presets, in the order the provider list shows them (SPEC §2, §3.3).
var Presets = []Preset{
	{Kind: "saml2", Name: "SAML2"},
	{Kind: "okta", Name: "Okta", Mapping: Mapping{Identifier: "identifier", Email: "email", FirstName: "firstName", LastName: "lastName"}},
	{Kind: "entra", Name: "Microsoft Entra ID (Azure AD)", Mapping: Mapping{
		Identifier: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
		Email:      "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
		FirstName:  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
		LastName:   "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
	}},
	{Kind: "onelogin", Name: "OneLogin", Mapping: Mapping{Identifier: "PersonImmutableID", Email: "User.email", FirstName: "User.FirstName", LastName: "User.LastName"}},
	{Kind: "auth0", Name: "Auth0", Mapping: Mapping{Identifier: "user_id", Email: "email", FirstName: "name"}},
	{Kind: "jumpcloud", Name: "JumpCloud"},
}

// PresetOf returns the SAML preset of kind.
func PresetOf(kind string) (Preset, bool) {
	for _, p := range Presets {
		if p.Kind == kind {
			return p, true
		}
	}
	return Preset{}, false
}

// Identity is a person as the IdP describes them.
type Identity struct {
	ID        string
	Email     string
	FirstName string
	LastName  string
}

// Name joins first and last name.
func (i Identity) Name() string { return strings.TrimSpace(i.FirstName + " " + i.LastName) }

// MapError carries Sentry's message for a mapping failure (SPEC §3.5).
type MapError struct{ Msg string }

func (e *MapError) Error() string { return e.Msg }

// Messages shown on the org login page after "Authentication error: ".
const (
	MsgInvalidIdentity = "The provider did not return a valid user identity."
	MsgNoSSO           = "The organization does not exist or does not have SAML SSO enabled."
)

func (a *Assertion) value(key string) string {
	if key == "" {
		return ""
	}
	if key == NameIDKey {
		return a.NameID
	}
	for _, v := range a.Attributes[key] {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// MapIdentity applies m to a validated assertion. A missing IdP user id or email
// yields Sentry's "Failed to map SAML attributes" message listing the keys received;
// a value that is not an email address yields MsgInvalidIdentity.
func MapIdentity(a *Assertion, m Mapping) (Identity, error) {
	id := Identity{ID: a.value(m.Identifier), Email: a.value(m.Email), FirstName: a.value(m.FirstName), LastName: a.value(m.LastName)}
	if id.ID == "" || id.Email == "" {
		keys := a.AttributeNames()
		quoted := make([]string, len(keys))
		for i, k := range keys {
			quoted[i] = "'" + k + "'"
		}
		return Identity{}, &MapError{Msg: "Failed to map SAML attributes. Assertion returned the following attribute keys: " + strings.Join(quoted, ", ")}
	}
	addr, err := mail.ParseAddress(id.Email)
	if err != nil || addr.Address != id.Email || len(id.Email) > 254 || len(id.ID) > 512 {
		return Identity{}, &MapError{Msg: MsgInvalidIdentity}
	}
	id.FirstName, id.LastName = clipRunes(id.FirstName, 100), clipRunes(id.LastName, 100)
	return id, nil
}

// clipRunes cuts s to at most n characters (never inside a UTF-8 sequence).
func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}
