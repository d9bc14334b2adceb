package scim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"
)

// AttrType is the SCIM type of a filterable attribute.
type AttrType int

const (
	String   AttrType = iota // compared as text; co/sw/ew/gt… allowed
	Bool                     // eq and ne only; true/false (also "true"/"false")
	DateTime                 // RFC 3339 values; eq ne gt ge lt le
)

// Column says how one SCIM attribute maps to SQL.
//
// Case: when CaseExact is false and Type is String, the comparison value is
// lower-cased in Go and the column is compared as lower(SQL) — SQL is wrapped in
// lower(...) unless it already starts with "lower(", so write "lower(u.email)" to
// match an index on lower(email). A Template is used as written: with CaseExact false
// it must lower-case its own column (the value still arrives lower-cased).
type Column struct {
	SQL       string // e.g. "lower(u.email)" or "m.external_id"
	Type      AttrType
	CaseExact bool
	// Template, when set, is used instead of "SQL op ?": a fmt pattern with one %s that
	// receives the comparison ("= ?", "LIKE ?", "IS DISTINCT FROM ?", "<> ''" …), e.g.
	// "EXISTS (SELECT 1 FROM team_members tm WHERE tm.team_id = t.id AND tm.member_id::text %s)".
	Template string
}

// FilterSpec maps attribute paths to columns. Keys are lower case: "username",
// "emails.value", "meta.created", "members.value" …. A filter may also name an
// attribute with its schema URN ("urn:ietf:params:scim:schemas:core:2.0:User:userName"):
// the core and Gatehouse extension URNs are stripped before the look-up, any other URN
// is looked up whole. A multi-valued attribute without a sub-attribute ("emails co
// \"x\"") uses its "value" key.
type FilterSpec map[string]Column

// Limits on a filter (SECURITY.md: a real grammar with length and depth limits).
const (
	maxFilterLength      = 1000
	maxFilterComparisons = 50
	maxFilterDepth       = 10 // nested ( ) and [ ]
)

// TranslateFilter parses a filter (RFC 7644 §3.4.2.2) and returns it as a SQL boolean
// expression with bun '?' placeholders and its arguments, in order. Logical
// expressions are parenthesised, so the result can be AND-ed to a WHERE clause as is.
// "not (x)" becomes NOT COALESCE(x, FALSE) and "ne" IS DISTINCT FROM, so attributes
// without a value count as "not equal". co/sw/ew become LIKE with %, _ and \ escaped
// (PostgreSQL's default LIKE escape character is the backslash).
//
// An empty filter gives ("", nil, nil). Bad syntax, an attribute missing from spec, an
// operator or value the attribute's type does not take, more than 1000 characters,
// more than 50 comparisons or nesting deeper than 10 is 400 invalidFilter.
func TranslateFilter(filterText string, spec FilterSpec) (string, []any, error) {
	f := strings.TrimSpace(filterText)
	if f == "" {
		return "", nil, nil
	}
	if len(f) > maxFilterLength {
		return "", nil, badRequest(InvalidFilter, "The filter is longer than %d characters", maxFilterLength)
	}
	if filterDepth(f) > maxFilterDepth {
		return "", nil, badRequest(InvalidFilter, "The filter nests deeper than %d levels", maxFilterDepth)
	}
	expr, err := parseFilter(f)
	if err != nil {
		return "", nil, badRequest(InvalidFilter, "The filter is not valid (RFC 7644 §3.4.2.2)")
	}
	t := translator{spec: spec}
	sql, err := t.expr(expr, "")
	if err != nil {
		return "", nil, err
	}
	return sql, t.args, nil
}

// SingleComparison reports whether filterText is one attribute comparison and nothing
// else (`userName eq "…"`, as Entra and Okta look users up): no and/or/not, no value
// path. Such filters translate to a small, fixed set of SQL shapes (attributes ×
// operators), which may be run as prepared statements; any other filter may not.
func SingleComparison(filterText string) bool {
	f := strings.TrimSpace(filterText)
	if f == "" || len(f) > maxFilterLength || filterDepth(f) > maxFilterDepth {
		return false
	}
	expr, err := parseFilter(f)
	if err != nil {
		return false
	}
	_, ok := expr.(*filter.AttributeExpression)
	return ok
}

type translator struct {
	spec        FilterSpec
	args        []any
	comparisons int
}

func (t *translator) expr(e filter.Expression, prefix string) (string, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, err := t.expr(e.Left, prefix)
		if err != nil {
			return "", err
		}
		r, err := t.expr(e.Right, prefix)
		if err != nil {
			return "", err
		}
		return "(" + l + " " + strings.ToUpper(string(e.Operator)) + " " + r + ")", nil
	case *filter.NotExpression:
		inner, err := t.expr(e.Expression, prefix)
		if err != nil {
			return "", err
		}
		return "NOT COALESCE(" + inner + ", FALSE)", nil
	case *filter.ValuePath:
		// emails[type eq "work" and value co "@x"]: the sub-attributes are looked up
		// under the parent ("emails.type", "emails.value").
		if prefix != "" || e.AttributePath.SubAttribute != nil {
			return "", badRequest(InvalidFilter, "Invalid value path %s", e.AttributePath)
		}
		return t.expr(e.ValueFilter, attrName(e.AttributePath)+".")
	case *filter.AttributeExpression:
		return t.compare(e, prefix)
	}
	return "", badRequest(InvalidFilter, "The filter is not valid (RFC 7644 §3.4.2.2)")
}

// attrName is the lower-case look-up key of a path, schema URN left out.
func attrName(p filter.AttributePath) string {
	name := strings.ToLower(p.AttributeName)
	if p.SubAttribute != nil {
		name += "." + strings.ToLower(*p.SubAttribute)
	}
	return name
}

// column finds the spec entry of an attribute path (see FilterSpec).
func (t *translator) column(p filter.AttributePath, prefix string) (Column, bool) {
	name := prefix + attrName(p)
	var keys []string
	if uri := strings.ToLower(p.URI()); uri != "" {
		if prefix != "" {
			return Column{}, false
		}
		keys = append(keys, uri+":"+name)
		if strings.EqualFold(uri, SchemaUser) || strings.EqualFold(uri, SchemaGroup) || strings.EqualFold(uri, SchemaExtension) {
			keys = append(keys, name)
		}
	} else {
		keys = append(keys, name)
	}
	if p.SubAttribute == nil {
		keys = append(keys, keys[len(keys)-1]+".value")
	}
	for _, k := range keys {
		if c, ok := t.spec[k]; ok {
			return c, true
		}
		for sk, c := range t.spec { // keys written in another case still work
			if strings.EqualFold(sk, k) {
				return c, true
			}
		}
	}
	return Column{}, false
}

func (t *translator) compare(e *filter.AttributeExpression, prefix string) (string, error) {
	t.comparisons++
	if t.comparisons > maxFilterComparisons {
		return "", badRequest(InvalidFilter, "The filter has more than %d comparisons", maxFilterComparisons)
	}
	col, ok := t.column(e.AttributePath, prefix)
	if !ok {
		return "", badRequest(InvalidFilter, "Filtering on %s is not supported", prefix+e.AttributePath.String())
	}
	if col.SQL == "" && col.Template == "" {
		return "", fmt.Errorf("scim: filter column for %s has neither SQL nor Template", e.AttributePath)
	}
	op := strings.ToLower(string(e.Operator))
	name := prefix + e.AttributePath.String()
	if op == string(filter.PR) {
		if col.Type == String {
			return col.render("<> ''"), nil
		}
		return col.render("IS NOT NULL"), nil
	}
	sqlOp, ok := map[string]string{"eq": "=", "ne": "IS DISTINCT FROM", "gt": ">", "ge": ">=", "lt": "<", "le": "<=",
		"co": "LIKE", "sw": "LIKE", "ew": "LIKE"}[op]
	if !ok {
		return "", badRequest(InvalidFilter, "Unknown operator %q", op)
	}
	var arg any
	switch col.Type {
	case Bool:
		b, ok := filterBool(e.CompareValue)
		if !ok {
			return "", badRequest(InvalidFilter, "%s takes true or false", name)
		}
		if op != "eq" && op != "ne" {
			return "", badRequest(InvalidFilter, "%s takes only eq and ne", name)
		}
		arg = b
	case DateTime:
		if sqlOp == "LIKE" {
			return "", badRequest(InvalidFilter, "%s does not take %s", name, op)
		}
		s, ok := filterText(e.CompareValue)
		tm, err := time.Parse(time.RFC3339Nano, s)
		if !ok || err != nil {
			return "", badRequest(InvalidFilter, "%s takes an RFC 3339 date-time", name)
		}
		arg = tm.UTC()
	default:
		s, ok := filterText(e.CompareValue)
		if !ok {
			return "", badRequest(InvalidFilter, "%s takes a string", name)
		}
		if !col.CaseExact {
			s = strings.ToLower(s)
		}
		switch op {
		case "co":
			s = "%" + escapeLike(s) + "%"
		case "sw":
			s = escapeLike(s) + "%"
		case "ew":
			s = "%" + escapeLike(s)
		}
		arg = s
	}
	t.args = append(t.args, arg)
	return col.render(sqlOp + " ?"), nil
}

// render places the comparison after the column (or into its Template).
func (c Column) render(cmp string) string {
	if c.Template != "" {
		return fmt.Sprintf(c.Template, cmp)
	}
	expr := c.SQL
	if c.Type == String && !c.CaseExact {
		if _, lowered := cutPrefixFold(expr, "lower("); !lowered {
			expr = "lower(" + expr + ")"
		}
	}
	return expr + " " + cmp
}

// filterText reads a comparison value as text: a string (JSON escapes decoded) or a
// number ("id eq 5"). NUL characters are refused.
func filterText(v any) (string, bool) {
	var s string
	switch v := v.(type) {
	case string:
		s = unescapeFilterString(v)
	case json.Number:
		s = v.String()
	default:
		return "", false
	}
	return s, !strings.ContainsRune(s, 0)
}

func filterBool(v any) (bool, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		switch strings.ToLower(unescapeFilterString(v)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// unescapeFilterString decodes the JSON escapes the parser leaves in a string value.
func unescapeFilterString(raw string) string {
	if !strings.Contains(raw, `\`) {
		return raw
	}
	var s string
	if err := json.Unmarshal([]byte(`"`+raw+`"`), &s); err != nil {
		return raw
	}
	return s
}

// escapeLike escapes LIKE's wildcards and its escape character.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// filterDepth is the deepest nesting of ( ) and [ ] outside quoted strings.
func filterDepth(s string) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '(' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == ')' || c == ']':
			depth--
		}
	}
	return deepest
}

// parseFilter parses with the RFC grammar; when that fails it tries once more with
// bare comparison values quoted (`userName sw O`, `meta.created gt 2015-10-10T…`),
// which the Microsoft SCIM test collection sends.
func parseFilter(s string) (filter.Expression, error) {
	expr, err := filter.ParseFilterNumber([]byte(s))
	if err == nil {
		return expr, nil
	}
	if quoted := quoteBareValues(s); quoted != s {
		if expr, err2 := filter.ParseFilterNumber([]byte(quoted)); err2 == nil {
			return expr, nil
		}
	}
	if folded := foldValuePathSub(s); folded != s {
		if expr, err2 := filter.ParseFilterNumber([]byte(folded)); err2 == nil {
			return expr, nil
		}
	}
	return nil, err
}

// valuePathSubRE is `attr[filter].sub op "value"` (or `… pr`), which Entra sends
// (`emails[type eq "work"].value eq "a@example.com"`) and the RFC grammar lacks.
var valuePathSubRE = regexp.MustCompile(`(?i)([A-Za-z][A-Za-z0-9_$-]*)\[([^\]"]*(?:"(?:[^"\\]|\\.)*"[^\]"]*)*)\]\.([A-Za-z][A-Za-z0-9_$-]*) +(?:(pr)\b|(eq|ne|co|sw|ew|gt|ge|lt|le) +("(?:[^"\\]|\\.)*"|[^ ()\[\]]+))`)

// foldValuePathSub rewrites `attr[filter].sub op value` as the equivalent RFC form
// `attr[filter and sub op value]`.
func foldValuePathSub(s string) string {
	return valuePathSubRE.ReplaceAllStringFunc(s, func(m string) string {
		g := valuePathSubRE.FindStringSubmatch(m)
		cmp := g[3] + " pr"
		if g[4] == "" {
			cmp = g[3] + " " + g[5] + " " + g[6]
		}
		inner := g[2]
		if strings.Contains(strings.ToLower(inner), " or ") {
			inner = "(" + inner + ")" // keeps the meaning; the parser may still refuse it
		}
		return g[1] + "[" + inner + " and " + cmp + "]"
	})
}

var (
	bareValueRE = regexp.MustCompile(`(?i)(^|[ (\[])([A-Za-z$][A-Za-z0-9_$.:-]*) +(eq|ne|co|sw|ew|gt|ge|lt|le) +([^ "()\[\]]+)`)
	literalRE   = regexp.MustCompile(`(?i)^(true|false|null|-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)$`)
)

// quoteBareValues puts quotes around comparison values that are neither quoted nor
// literals, outside quoted strings.
func quoteBareValues(s string) string {
	var b strings.Builder
	start, inString := 0, false
	flush := func(end int) {
		seg := s[start:end]
		if !inString {
			seg = bareValueRE.ReplaceAllStringFunc(seg, func(m string) string {
				sub := bareValueRE.FindStringSubmatch(m)
				if literalRE.MatchString(sub[4]) {
					return m
				}
				quoted := `"` + strings.ReplaceAll(sub[4], `\`, `\\`) + `"`
				return m[:len(m)-len(sub[4])] + quoted
			})
		}
		b.WriteString(seg)
		start = end
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inString {
				i++
			}
		case '"':
			if inString {
				flush(i + 1) // the string, both quotes included, as it is
				inString = false
			} else {
				flush(i)
				inString = true
			}
		}
	}
	flush(len(s))
	return b.String()
}
