package scim

import (
	"encoding/json"
	"net/http"
	"strings"
)

// CheckSchemas refuses a resource body whose "schemas" lacks core when it lists any,
// or lists another resource's core schema (RFC 7643 §3). Extension URNs this server
// does not know (Okta custom attributes, Entra custom extensions) are accepted and
// their attributes ignored. A body without "schemas" is accepted: some clients leave
// it out of PUT bodies.
func CheckSchemas(body []byte, core string, extensions ...string) error {
	var doc struct {
		Schemas []string `json:"schemas"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil // the parser reports malformed JSON with its own message
	}
	if len(doc.Schemas) == 0 {
		return nil
	}
	known := map[string]bool{core: true}
	for _, e := range extensions {
		known[e] = true
	}
	hasCore := false
	for _, s := range doc.Schemas {
		if !known[s] && (s == SchemaUser || s == SchemaGroup || !strings.HasPrefix(strings.ToLower(s), "urn:")) {
			return Errorf(http.StatusBadRequest, "invalidSyntax", "unknown schema %q", s)
		}
		hasCore = hasCore || s == core
	}
	if !hasCore {
		return Errorf(http.StatusBadRequest, "invalidSyntax", "schemas must include %s", core)
	}
	return nil
}
