package scim

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Meta is the common "meta" attribute (RFC 7643 §3.1).
type Meta struct {
	ResourceType string // "User" or "Group"; the resource's marshaller fills it when empty
	Created      time.Time
	LastModified time.Time
	Location     string
	Version      string // ETag; omitted when empty (etag is not supported today)
}

// Name is the "name" complex attribute; the other sub-attributes of RFC 7643 §4.1.1
// (middleName, honorific…) are accepted on input and not stored.
type Name struct {
	GivenName, FamilyName, Formatted string
}

// Email is one value of "emails".
type Email struct {
	Value, Type string
	Primary     bool
}

// GroupRef is one value of a User's read-only "groups".
type GroupRef struct {
	Value, Display, Ref string
}

// User is the SCIM view of a member.
type User struct {
	ID, ExternalID, UserName, DisplayName string
	Name                                  Name
	Emails                                []Email
	Active                                bool
	OrgRole                               string     // extension attribute orgRole ("" = not set)
	Groups                                []GroupRef // read-only
	Meta                                  Meta
}

type metaJSON struct {
	ResourceType string `json:"resourceType"`
	Created      string `json:"created,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
	Location     string `json:"location,omitempty"`
	Version      string `json:"version,omitempty"`
}

func (m Meta) toJSON(resourceType string) metaJSON {
	if m.ResourceType != "" {
		resourceType = m.ResourceType
	}
	return metaJSON{ResourceType: resourceType, Created: timeJSON(m.Created), LastModified: timeJSON(m.LastModified),
		Location: m.Location, Version: m.Version}
}

// timeJSON is the RFC 3339 form of t in UTC ("" for the zero time).
func timeJSON(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

type nameJSON struct {
	Formatted  string `json:"formatted,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
	GivenName  string `json:"givenName,omitempty"`
}

type emailJSON struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

type groupRefJSON struct {
	Value   string `json:"value"`
	Ref     string `json:"$ref,omitempty"`
	Display string `json:"display,omitempty"`
}

type extensionJSON struct {
	OrgRole string `json:"orgRole"`
}

type userJSON struct {
	Schemas     []string       `json:"schemas"`
	ID          string         `json:"id"`
	ExternalID  string         `json:"externalId,omitempty"`
	UserName    string         `json:"userName"`
	Name        *nameJSON      `json:"name,omitempty"`
	DisplayName string         `json:"displayName,omitempty"`
	Emails      []emailJSON    `json:"emails,omitempty"`
	Active      bool           `json:"active"`
	Groups      []groupRefJSON `json:"groups,omitempty"`
	Extension   *extensionJSON `json:"urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User,omitempty"`
	Meta        metaJSON       `json:"meta"`
}

// MarshalJSON gives the User resource: schemas (core, plus the extension when OrgRole
// is set), id, externalId, userName, name, displayName, emails, active, groups, the
// extension object and meta. Empty optional attributes are left out (RFC 7643 §2.5).
func (u User) MarshalJSON() ([]byte, error) {
	out := userJSON{Schemas: []string{SchemaUser}, ID: u.ID, ExternalID: u.ExternalID, UserName: u.UserName,
		DisplayName: u.DisplayName, Active: u.Active, Meta: u.Meta.toJSON("User")}
	if u.Name != (Name{}) {
		out.Name = &nameJSON{Formatted: u.Name.Formatted, FamilyName: u.Name.FamilyName, GivenName: u.Name.GivenName}
	}
	for _, e := range u.Emails {
		out.Emails = append(out.Emails, emailJSON(e))
	}
	for _, g := range u.Groups {
		out.Groups = append(out.Groups, groupRefJSON{Value: g.Value, Ref: g.Ref, Display: g.Display})
	}
	if u.OrgRole != "" {
		out.Schemas = append(out.Schemas, SchemaExtension)
		out.Extension = &extensionJSON{OrgRole: u.OrgRole}
	}
	return json.Marshal(out)
}

// Clone returns a deep copy of u.
func (u *User) Clone() *User {
	c := *u
	c.Emails = slices.Clone(u.Emails)
	c.Groups = slices.Clone(u.Groups)
	return &c
}

// PrimaryEmail is the email marked primary, else the first of type "work", else the
// first one; "" when there is none.
func (u *User) PrimaryEmail() string {
	for _, e := range u.Emails {
		if e.Primary {
			return e.Value
		}
	}
	for _, e := range u.Emails {
		if strings.EqualFold(e.Type, "work") {
			return e.Value
		}
	}
	if len(u.Emails) > 0 {
		return u.Emails[0].Value
	}
	return ""
}

// ParseUser decodes the body of a POST or PUT /Users (RFC 7644 §3.3, §3.5.1).
// Attribute names match in any case; orgRole is read from the extension object, from
// the URN-qualified key, or from top-level "orgRole" / "sentryOrgRole" (in that order
// of precedence); booleans may be strings; unknown and read-only attributes (id, meta,
// groups, the enterprise extension …) are ignored. Absent or null "active" reads as
// true (SendsActive tells whether it was sent: a PUT without it keeps the stored value). userName is required (400 invalidValue); a body that is not a JSON object is
// 400 invalidSyntax. Email syntax and roles are the caller's to check.
func ParseUser(body []byte) (*User, error) {
	fields, err := bodyObject(body)
	if err != nil {
		return nil, err
	}
	u := &User{Active: true}
	var roleExt, roleTop, roleSentry *string
	haveUserName := false
	for _, f := range fields {
		key := strings.ToLower(f.Key)
		if rest, ok := cutPrefixFold(key, SchemaUser+":"); ok {
			key = rest
		}
		switch key {
		case "username":
			s, ok := stringValue(f.Value)
			if !ok {
				return nil, badRequest(InvalidValue, "userName must be a string")
			}
			u.UserName, haveUserName = strings.TrimSpace(s), true
		case "externalid":
			if u.ExternalID, err = stringAttr("externalId", f.Value); err != nil {
				return nil, err
			}
		case "displayname":
			if u.DisplayName, err = stringAttr("displayName", f.Value); err != nil {
				return nil, err
			}
		case "name":
			if u.Name, err = parseName(f.Value); err != nil {
				return nil, err
			}
		case "emails":
			if u.Emails, err = parseEmails(f.Value); err != nil {
				return nil, err
			}
		case "active":
			if isNull(f.Value) {
				u.Active = true
				break
			}
			b, ok := boolValue(f.Value)
			if !ok {
				return nil, badRequest(InvalidValue, "active must be a boolean")
			}
			u.Active = b
		case "orgrole", "sentryorgrole", strings.ToLower(SchemaExtension) + ":orgrole":
			s, err := stringAttr(f.Key, f.Value)
			if err != nil {
				return nil, err
			}
			switch key {
			case "orgrole":
				roleTop = &s
			case "sentryorgrole":
				roleSentry = &s
			default:
				roleExt = &s
			}
		case strings.ToLower(SchemaExtension):
			if isNull(f.Value) {
				break
			}
			ext, ok := objectFields(f.Value)
			if !ok {
				return nil, badRequest(InvalidValue, "%s must be an object", SchemaExtension)
			}
			if v, found := lookup(ext, "orgRole"); found {
				s, err := stringAttr("orgRole", v)
				if err != nil {
					return nil, err
				}
				roleExt = &s
			}
		}
	}
	if !haveUserName || u.UserName == "" {
		return nil, badRequest(InvalidValue, "userName is required")
	}
	for _, r := range []*string{roleExt, roleTop, roleSentry} {
		if r != nil {
			u.OrgRole = strings.TrimSpace(*r)
			break
		}
	}
	return u, nil
}

// bodyObject decodes a request body that must be a JSON object (400 invalidSyntax).
func bodyObject(body []byte) ([]field, error) {
	if !json.Valid(body) {
		return nil, badRequest(InvalidSyntax, "The request body is not valid JSON")
	}
	fields, ok := objectFields(body)
	if !ok {
		return nil, badRequest(InvalidSyntax, "The request body must be a JSON object")
	}
	return fields, nil
}

// stringAttr reads a string attribute (null = ""); anything else is 400 invalidValue.
func stringAttr(name string, raw json.RawMessage) (string, error) {
	s, ok := stringValue(raw)
	if !ok {
		return "", badRequest(InvalidValue, "%s must be a string", name)
	}
	return s, nil
}

// parseName reads the "name" complex attribute (null = no name).
func parseName(raw json.RawMessage) (Name, error) {
	var n Name
	if isNull(raw) {
		return n, nil
	}
	fields, ok := objectFields(raw)
	if !ok {
		return n, badRequest(InvalidValue, "name must be an object")
	}
	err := mergeName(&n, fields)
	return n, err
}

// mergeName sets the sub-attributes of name present in fields (the others stay).
func mergeName(n *Name, fields []field) error {
	for _, f := range fields {
		var dst *string
		switch strings.ToLower(f.Key) {
		case "givenname":
			dst = &n.GivenName
		case "familyname":
			dst = &n.FamilyName
		case "formatted":
			dst = &n.Formatted
		default:
			continue // middleName, honorificPrefix …: not stored
		}
		s, err := stringAttr("name."+f.Key, f.Value)
		if err != nil {
			return err
		}
		*dst = s
	}
	return nil
}

// parseEmails reads "emails": an array of {value, type, primary} (a single object is
// read as an array of one). Values without "value" are dropped; only the first value
// marked primary stays primary (RFC 7643 §2.4).
func parseEmails(raw json.RawMessage) ([]Email, error) {
	if isNull(raw) {
		return nil, nil
	}
	items, ok := arrayItems(raw)
	if !ok {
		if !isKind(raw, '{') {
			return nil, badRequest(InvalidValue, "emails must be an array")
		}
		items = []json.RawMessage{raw}
	}
	var out []Email
	for _, item := range items {
		e, err := parseEmail(item)
		if err != nil {
			return nil, err
		}
		if e.Value != "" {
			out = append(out, e)
		}
	}
	return onePrimary(out, -1), nil
}

func parseEmail(raw json.RawMessage) (Email, error) {
	var e Email
	fields, ok := objectFields(raw)
	if !ok {
		return e, badRequest(InvalidValue, "each value of emails must be an object")
	}
	for _, f := range fields {
		switch strings.ToLower(f.Key) {
		case "value":
			s, err := stringAttr("emails.value", f.Value)
			if err != nil {
				return e, err
			}
			e.Value = strings.TrimSpace(s)
		case "type":
			s, err := stringAttr("emails.type", f.Value)
			if err != nil {
				return e, err
			}
			e.Type = strings.ToLower(strings.TrimSpace(s))
		case "primary":
			if isNull(f.Value) {
				e.Primary = false
				break
			}
			b, ok := boolValue(f.Value)
			if !ok {
				return e, badRequest(InvalidValue, "emails.primary must be a boolean")
			}
			e.Primary = b
		}
	}
	return e, nil
}

// onePrimary keeps at most one primary email: the one at index keep when it is
// primary, else the first marked primary.
func onePrimary(emails []Email, keep int) []Email {
	if keep < 0 || keep >= len(emails) || !emails[keep].Primary {
		keep = slices.IndexFunc(emails, func(e Email) bool { return e.Primary })
	}
	for i := range emails {
		emails[i].Primary = i == keep
	}
	return emails
}

// cutPrefixFold is strings.CutPrefix ignoring case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// SendsActive reports whether a User body carries a non-null "active" (any case, or
// URN-qualified). A PUT without it leaves the member's state as it is.
func SendsActive(body []byte) bool {
	fields, err := bodyObject(body)
	if err != nil {
		return false
	}
	for _, f := range fields {
		key := strings.ToLower(f.Key)
		if rest, ok := cutPrefixFold(key, SchemaUser+":"); ok {
			key = rest
		}
		if key == "active" && !isNull(f.Value) {
			return true
		}
	}
	return false
}
