package scim

import (
	"encoding/json"
	"regexp"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// PatchOp is one operation of a PATCH request (RFC 7644 §3.5.2).
type PatchOp struct {
	Op    string          // "add", "replace" or "remove" (normalised to lower case)
	Path  string          // "" when absent
	Value json.RawMessage // nil when absent; the JSON null when sent as null
}

// maxPatchOps bounds the operations of one request (bodies are size-limited too).
const maxPatchOps = 1000

// ParsePatch decodes a PATCH body: {"schemas":[PatchOp URN], "Operations":[…]}
// (member names in any case). It needs the PatchOp schema and 1 to 1000 operations,
// each with op add, replace or remove in any case (else 400 invalidSyntax); add and
// replace need a value (400 invalidValue); remove needs a path (400 noTarget, as
// RFC 7644 §3.5.2.2 says). Paths are checked by ApplyUserPatch and GroupPatch.
func ParsePatch(body []byte) ([]PatchOp, error) {
	fields, err := bodyObject(body)
	if err != nil {
		return nil, err
	}
	raw, _ := lookup(fields, "schemas")
	var schemas []string
	if err := json.Unmarshal(raw, &schemas); err != nil || !containsFold(schemas, SchemaPatchOp) {
		return nil, badRequest(InvalidSyntax, "schemas must contain %s", SchemaPatchOp)
	}
	raw, _ = lookup(fields, "Operations")
	items, ok := arrayItems(raw)
	switch {
	case !ok:
		return nil, badRequest(InvalidSyntax, "Operations must be an array of operations")
	case len(items) == 0:
		return nil, badRequest(InvalidSyntax, "Operations must not be empty")
	case len(items) > maxPatchOps:
		return nil, badRequest(InvalidSyntax, "Operations has more than %d operations", maxPatchOps)
	}
	ops := make([]PatchOp, 0, len(items))
	for i, item := range items {
		opFields, ok := objectFields(item)
		if !ok {
			return nil, badRequest(InvalidSyntax, "operation %d is not an object", i+1)
		}
		var op PatchOp
		for _, f := range opFields {
			switch strings.ToLower(f.Key) {
			case "op":
				s, ok := stringValue(f.Value)
				if !ok {
					return nil, badRequest(InvalidSyntax, "operation %d: op must be a string", i+1)
				}
				op.Op = strings.ToLower(strings.TrimSpace(s))
			case "path":
				s, ok := stringValue(f.Value)
				if !ok {
					return nil, badRequest(InvalidPath, "operation %d: path must be a string", i+1)
				}
				op.Path = strings.TrimSpace(s)
			case "value":
				op.Value = f.Value
			}
		}
		switch op.Op {
		case "add", "replace":
			if op.Value == nil {
				return nil, badRequest(InvalidValue, "operation %d (%s) needs a value", i+1, op.Op)
			}
		case "remove":
			if op.Path == "" {
				return nil, badRequest(NoTarget, "operation %d (remove) needs a path", i+1)
			}
		default:
			return nil, badRequest(InvalidSyntax, "operation %d: op must be add, replace or remove, not %q", i+1, op.Op)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), s) {
			return true
		}
	}
	return false
}

// path is a PATCH path (RFC 7644 §3.5.2 PATH = attrPath / valuePath [subAttr]) once
// its schema URN has been taken off: attr and sub are lower case; expr is the filter
// between brackets (nil without one).
type path struct {
	attr string
	sub  string
	expr filter.Expression
}

var (
	attrNameRE = regexp.MustCompile(`^[A-Za-z$][A-Za-z0-9_$-]*$`)
	attrPathRE = regexp.MustCompile(`^[A-Za-z$][A-Za-z0-9_$-]*(\.[A-Za-z$][A-Za-z0-9_$-]*)?$`)
)

// parsePath splits "name.givenName", "emails[type eq \"work\"].value" or
// "members[value eq \"1\" or value eq \"2\"]". The filter between brackets takes the
// full filter grammar. Anything malformed is 400 invalidPath.
func parsePath(s string) (path, error) {
	// The filter limits apply here too: the parser recurses once per nesting level,
	// and a body of 200 kB of "(" overflowed the goroutine stack (a fatal error).
	if len(s) > maxFilterLength {
		return path{}, badRequest(InvalidPath, "The path is longer than %d characters", maxFilterLength)
	}
	if filterDepth(s) > maxFilterDepth {
		return path{}, badRequest(InvalidPath, "The path nests deeper than %d levels", maxFilterDepth)
	}
	open := strings.IndexByte(s, '[')
	if open < 0 {
		if !attrPathRE.MatchString(s) {
			return path{}, badRequest(InvalidPath, "%q is not a valid path", s)
		}
		attr, sub, _ := strings.Cut(strings.ToLower(s), ".")
		return path{attr: attr, sub: sub}, nil
	}
	name := s[:open]
	end := closingBracket(s, open)
	if !attrNameRE.MatchString(name) || end < 0 {
		return path{}, badRequest(InvalidPath, "%q is not a valid path", s)
	}
	p := path{attr: strings.ToLower(name)}
	if rest := s[end+1:]; rest != "" {
		sub, ok := strings.CutPrefix(rest, ".")
		if !ok || !attrNameRE.MatchString(sub) {
			return path{}, badRequest(InvalidPath, "%q is not a valid path", s)
		}
		p.sub = strings.ToLower(sub)
	}
	expr, err := parseFilter(strings.TrimSpace(s[open+1 : end]))
	if err != nil {
		return path{}, badRequest(InvalidPath, "%q has an invalid filter", s)
	}
	p.expr = expr
	return p, nil
}

// closingBracket is the index of the ']' closing the '[' at open, outside quoted
// strings; -1 when there is none.
func closingBracket(s string, open int) int {
	inString := false
	for i := open + 1; i < len(s); i++ {
		switch c := s[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && c == ']':
			return i
		}
	}
	return -1
}
