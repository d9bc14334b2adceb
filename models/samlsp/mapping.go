package samlsp

import (
	"fmt"
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
type MapError struct {
	Msg     string
	Missing []string // the mapping fields without a value (LabelIdentifier, LabelEmail)
}

func (e *MapError) Error() string { return e.Msg }

// Messages shown on the org login page after "Authentication error: ".
const (
	MsgInvalidIdentity = "The provider did not return a valid user identity."
	MsgNoSSO           = "The organization does not exist or does not have SAML SSO enabled."
)

// Claim URIs that Entra ID, ADFS and Auth0 send by default.
const (
	claimNameIdentifier = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
	claimEmail          = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	claimName           = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	claimGivenName      = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
	claimSurname        = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
	claimUPN            = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
)

// Name formats of a NameID (SAML Core §8.3).
const (
	NameIDFormatEmail     = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	NameIDFormatTransient = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
)

// vendorDefaults are, for a key a preset maps, the keys the same vendor's *default*
// application sends instead (SPEC §3.3: presets work with the default app as well as
// the catalogue app). They are tried, in order, only when the mapped key is absent.
var vendorDefaults = map[string][]string{
	// Auth0's SAML add-on without custom mappings sends claim URIs.
	"user_id": {claimNameIdentifier},
	"email":   {claimEmail},
	// Entra ID without a mail attribute sends no emailaddress claim; its UPN (the
	// name claim, and the emailAddress NameID) is the address (see MapIdentity).
	claimEmail: {claimUPN},
}

// Keys that carry a given name or a surname, tried (case-insensitively) when the
// mapped first or last name key is absent: names only label the account.
var (
	givenNameKeys = []string{"firstName", "givenName", "given_name", "User.FirstName", claimGivenName, "urn:oid:2.5.4.42"}
	surnameKeys   = []string{"lastName", "sn", "surname", "family_name", "User.LastName", claimSurname, "urn:oid:2.5.4.4"}
)

// value is the first non-empty value of key: exactly as mapped, else the attribute
// whose name differs only in case (Okta's setup page says FirstName, its apps send
// firstName) when exactly one does. NameIDKey is the Subject NameID.
func (a *Assertion) value(key string) string {
	if key == "" {
		return ""
	}
	if key == NameIDKey {
		return a.NameID
	}
	if v := firstValue(a.Attributes[key]); v != "" {
		return v
	}
	found, n := "", 0
	for name, values := range a.Attributes {
		if strings.EqualFold(name, key) {
			if v := firstValue(values); v != "" {
				found, n = v, n+1
			}
		}
	}
	if n == 1 {
		return found
	}
	return ""
}

func firstValue(values []string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// valueOrDefaults is value(key), else the first of the vendor's default keys for it.
func (a *Assertion) valueOrDefaults(key string, more ...string) string {
	if v := a.value(key); v != "" {
		return v
	}
	for _, k := range append(vendorDefaults[key], more...) {
		if v := a.value(k); v != "" {
			return v
		}
	}
	return ""
}

// nameIDIsStable reports whether the NameID can key an identity: a transient NameID
// changes at every sign-in.
func (a *Assertion) nameIDIsStable() bool {
	return a.NameID != "" && a.NameIDFormat != NameIDFormatTransient
}

func isEmail(s string) bool {
	addr, err := mail.ParseAddress(s)
	return err == nil && addr.Address == s && len(s) <= 254
}

// Field labels of the mapping form, for messages.
const (
	LabelIdentifier = "IdP User ID"
	LabelEmail      = "User Email"
)

// MapIdentity applies m to a validated assertion (SPEC §3.3, §3.5):
//   - IdP User ID: the mapped key; when the IdP sent no such attribute, the Subject
//     NameID unless it is transient (Okta's wizard apps send no identifier attribute);
//   - User Email: the mapped key or the vendor's default key for it; else the NameID
//     when its format is emailAddress (Entra ID users without mail, Google Workspace);
//   - names: the mapped keys, case-insensitively, else a usual given-name/surname key.
//
// A missing IdP user id or email yields Sentry's "Failed to map SAML attributes"
// message listing the keys received, followed by which field to set to which key
// the IdP did send; a value that is not an email address yields MsgInvalidIdentity.
func MapIdentity(a *Assertion, m Mapping) (Identity, error) {
	id := Identity{ID: a.valueOrDefaults(m.Identifier), Email: a.valueOrDefaults(m.Email)}
	if id.ID == "" && m.Identifier != "" && a.nameIDIsStable() {
		id.ID = a.NameID
	}
	if id.Email == "" && a.NameIDFormat == NameIDFormatEmail && isEmail(a.NameID) {
		id.Email = a.NameID
	}
	id.FirstName = a.valueOrDefaults(m.FirstName, givenNameKeys...)
	id.LastName = a.valueOrDefaults(m.LastName, surnameKeys...)
	if id.ID == "" || id.Email == "" {
		keys := a.AttributeNames()
		quoted := make([]string, len(keys))
		for i, k := range keys {
			quoted[i] = "'" + k + "'"
		}
		msg := "Failed to map SAML attributes. Assertion returned the following attribute keys: " + strings.Join(quoted, ", ")
		if id.ID == "" {
			msg += ". " + a.identifierHint(m)
		}
		if id.Email == "" {
			msg += ". " + a.emailHint(m)
		}
		return Identity{}, &MapError{Msg: msg, Missing: missing(id)}
	}
	if !isEmail(id.Email) || len(id.ID) > 512 {
		return Identity{}, &MapError{Msg: MsgInvalidIdentity}
	}
	id.FirstName, id.LastName = clipRunes(id.FirstName, 100), clipRunes(id.LastName, 100)
	return id, nil
}

func missing(id Identity) []string {
	var out []string
	if id.ID == "" {
		out = append(out, LabelIdentifier)
	}
	if id.Email == "" {
		out = append(out, LabelEmail)
	}
	return out
}

// identifierHint says how to fix a missing IdP User ID.
func (a *Assertion) identifierHint(m Mapping) string {
	if a.NameID != "" && !a.nameIDIsStable() {
		return fmt.Sprintf("Set %s to one of the keys above (the IdP did not send '%s', and its NameID is transient: it changes at every sign-in), or make the IdP send a persistent NameID", LabelIdentifier, m.Identifier)
	}
	return fmt.Sprintf("The IdP did not send '%s': set %s to one of the keys above", m.Identifier, LabelIdentifier)
}

// emailHint names the received key that holds an email address, when one does.
func (a *Assertion) emailHint(m Mapping) string {
	for _, k := range a.AttributeNames() {
		if isEmail(firstValue(a.Attributes[k])) {
			return fmt.Sprintf("The IdP did not send '%s': set %s to '%s'", m.Email, LabelEmail, k)
		}
	}
	if isEmail(a.NameID) {
		return fmt.Sprintf("The IdP did not send '%s': set %s to %s", m.Email, LabelEmail, NameIDKey)
	}
	return fmt.Sprintf("The IdP did not send '%s' and sent no email address: add an email attribute to the IdP's application, then set %s to its name", m.Email, LabelEmail)
}

// clipRunes cuts s to at most n characters (never inside a UTF-8 sequence).
func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}
