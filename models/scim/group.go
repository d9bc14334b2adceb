package scim

import (
	"encoding/json"
	"strings"
)

// Member is one value of a Group's "members": value is the member's User id.
type Member struct {
	Value, Display string
}

// Group is the SCIM view of a team.
type Group struct {
	ID, ExternalID, DisplayName string
	Members                     []Member // nil: left out of the JSON (excludedAttributes=members)
	Meta                        Meta
}

type memberJSON struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
}

type groupJSON struct {
	Schemas     []string      `json:"schemas"`
	ID          string        `json:"id"`
	ExternalID  string        `json:"externalId,omitempty"`
	DisplayName string        `json:"displayName"`
	Members     *[]memberJSON `json:"members,omitempty"`
	Meta        metaJSON      `json:"meta"`
}

// MarshalJSON gives the Group resource. "members" is left out when g.Members is nil
// and is [] when it is empty but not nil.
func (g Group) MarshalJSON() ([]byte, error) {
	out := groupJSON{Schemas: []string{SchemaGroup}, ID: g.ID, ExternalID: g.ExternalID, DisplayName: g.DisplayName,
		Meta: g.Meta.toJSON("Group")}
	if g.Members != nil {
		ms := make([]memberJSON, 0, len(g.Members))
		for _, m := range g.Members {
			ms = append(ms, memberJSON(m))
		}
		out.Members = &ms
	}
	return json.Marshal(out)
}

// ParseGroup decodes the body of a POST or PUT /Groups. displayName is required
// (400 invalidValue); members is an array of {"value": id, "display": …} whose values
// must be non-empty strings (duplicates are dropped). Members is nil when the body has
// no "members" (or null), empty when it has []. Unknown and read-only attributes are
// ignored; a body that is not a JSON object is 400 invalidSyntax.
func ParseGroup(body []byte) (*Group, error) {
	fields, err := bodyObject(body)
	if err != nil {
		return nil, err
	}
	g := &Group{}
	for _, f := range fields {
		key := strings.ToLower(f.Key)
		if rest, ok := cutPrefixFold(key, SchemaGroup+":"); ok {
			key = rest
		}
		switch key {
		case "displayname":
			if g.DisplayName, err = stringAttr("displayName", f.Value); err != nil {
				return nil, err
			}
		case "externalid":
			if g.ExternalID, err = stringAttr("externalId", f.Value); err != nil {
				return nil, err
			}
		case "members":
			if isNull(f.Value) {
				g.Members = nil
				break
			}
			ms, err := memberValues(f.Value)
			if err != nil {
				return nil, err
			}
			g.Members = ms
		}
	}
	if strings.TrimSpace(g.DisplayName) == "" {
		return nil, badRequest(InvalidValue, "displayName is required")
	}
	return g, nil
}

// memberValues reads a "members" value: an array of member objects (Entra, Okta), a
// single object, or ids as bare strings (the Microsoft test collection sends
// "value": "id"). Each member needs a non-empty value; duplicates are dropped.
func memberValues(raw json.RawMessage) ([]Member, error) {
	items, ok := arrayItems(raw)
	if !ok {
		items = []json.RawMessage{raw}
	}
	out := make([]Member, 0, len(items))
	seen := make(map[string]bool, len(items))
	for _, item := range items {
		var m Member
		if fields, ok := objectFields(item); ok {
			for _, f := range fields {
				switch strings.ToLower(f.Key) {
				case "value":
					s, ok := stringValue(f.Value)
					if !ok {
						return nil, badRequest(InvalidValue, "members.value must be a string")
					}
					m.Value = s
				case "display":
					s, ok := stringValue(f.Value)
					if !ok {
						return nil, badRequest(InvalidValue, "members.display must be a string")
					}
					m.Display = s
				}
			}
		} else if s, ok := stringValue(item); ok && !isNull(item) {
			m.Value = s
		} else {
			return nil, badRequest(InvalidValue, "each value of members must be an object with a value")
		}
		m.Value = strings.TrimSpace(m.Value)
		if m.Value == "" {
			return nil, badRequest(InvalidValue, "each value of members needs a value (the User id)")
		}
		if !seen[m.Value] {
			seen[m.Value] = true
			out = append(out, m)
		}
	}
	return out, nil
}
