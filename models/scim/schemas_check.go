package scim

import (
	"encoding/json"
	"net/http"
)

// CheckSchemas refuses a resource body whose "schemas" lists a URN this server does
// not know, or lacks core when it lists any (RFC 7643 §3). A body without "schemas"
// is accepted: some clients leave it out of PUT bodies.
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
		if !known[s] {
			return Errorf(http.StatusBadRequest, "invalidSyntax", "unknown schema %q", s)
		}
		hasCore = hasCore || s == core
	}
	if !hasCore {
		return Errorf(http.StatusBadRequest, "invalidSyntax", "schemas must include %s", core)
	}
	return nil
}
