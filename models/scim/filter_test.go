package scim

import (
	"strings"
	"testing"
	"time"
)

// userSpec and groupSpec are shaped like the specs of models/scim_users.go and
// models/scim_groups.go.
var userSpec = FilterSpec{
	"username":          {SQL: "lower(u.email)", Type: String},
	"emails.value":      {SQL: "lower(u.email)", Type: String},
	"emails.type":       {SQL: "'work'", Type: String},
	"externalid":        {SQL: "m.external_id", Type: String, CaseExact: true},
	"id":                {SQL: "m.id::text", Type: String, CaseExact: true},
	"active":            {SQL: "m.active", Type: Bool},
	"displayname":       {SQL: "m.display_name", Type: String},
	"name.familyname":   {SQL: "lower(m.family_name)", Type: String},
	"meta.created":      {SQL: "m.created_at", Type: DateTime},
	"meta.lastmodified": {SQL: "m.updated_at", Type: DateTime},
	"urn:ietf:params:scim:schemas:extension:gatehouse:2.0:user:orgrole": {SQL: "m.role", Type: String},
}

var groupSpec = FilterSpec{
	"displayname":   {SQL: "lower(t.name)", Type: String},
	"externalid":    {SQL: "t.external_id", Type: String, CaseExact: true},
	"id":            {SQL: "t.id::text", Type: String, CaseExact: true},
	"members.value": {Template: "EXISTS (SELECT 1 FROM team_members tm WHERE tm.team_id = t.id AND tm.member_id::text %s)", Type: String, CaseExact: true},
}

func TestTranslateFilter(t *testing.T) {
	members := "EXISTS (SELECT 1 FROM team_members tm WHERE tm.team_id = t.id AND tm.member_id::text %s)"
	exists := func(cmp string) string { return strings.Replace(members, "%s", cmp, 1) }
	invalid := func(detail string) *Error { return bad(InvalidFilter, detail) }
	syntax := invalid("The filter is not valid (RFC 7644 §3.4.2.2)")
	tests := []struct {
		name   string
		spec   FilterSpec
		filter string
		sql    string
		args   []any
		err    *Error
	}{
		{name: "empty filter", spec: userSpec, filter: "  "},
		{name: "userName eq, case-insensitive", spec: userSpec, filter: `userName eq "A@B.com"`,
			sql: "lower(u.email) = ?", args: []any{"a@b.com"}},
		{name: "attribute and operator in any case", spec: userSpec, filter: `USERNAME Eq "A@B.com"`,
			sql: "lower(u.email) = ?", args: []any{"a@b.com"}},
		{name: "entra test connection: a random guid", spec: userSpec, filter: `userName eq "8a0ca3b9-2f6a-4a7b-9d6e-2b1f2c4f6a10"`,
			sql: "lower(u.email) = ?", args: []any{"8a0ca3b9-2f6a-4a7b-9d6e-2b1f2c4f6a10"}},
		{name: "externalId eq is case-exact", spec: userSpec, filter: `externalId eq "X-1"`,
			sql: "m.external_id = ?", args: []any{"X-1"}},
		{name: "emails.value eq", spec: userSpec, filter: `emails.value eq "Ada@Example.com"`,
			sql: "lower(u.email) = ?", args: []any{"ada@example.com"}},
		{name: "emails without sub-attribute means emails.value", spec: userSpec, filter: `emails co "example"`,
			sql: "lower(u.email) LIKE ?", args: []any{"%example%"}},
		{name: "value path with and", spec: userSpec, filter: `emails[type eq "work" and value co "@x"]`,
			sql: "(lower('work') = ? AND lower(u.email) LIKE ?)", args: []any{"work", "%@x%"}},
		{name: "and with a boolean", spec: userSpec, filter: `userName eq "x" and active eq true`,
			sql: "(lower(u.email) = ? AND m.active = ?)", args: []any{"x", true}},
		{name: "boolean sent as a string", spec: userSpec, filter: `active eq "False"`,
			sql: "m.active = ?", args: []any{false}},
		{name: "not with sw", spec: userSpec, filter: `not (userName sw "a")`,
			sql: "NOT COALESCE(lower(u.email) LIKE ?, FALSE)", args: []any{"a%"}},
		{name: "ne counts missing values as different", spec: userSpec, filter: `externalId ne "x"`,
			sql: "m.external_id IS DISTINCT FROM ?", args: []any{"x"}},
		{name: "ew", spec: userSpec, filter: `userName ew "@Example.com"`,
			sql: "lower(u.email) LIKE ?", args: []any{"%@example.com"}},
		{name: "pr on a string", spec: userSpec, filter: `externalId pr`, sql: "m.external_id <> ''"},
		{name: "pr on a date", spec: userSpec, filter: `meta.created pr`, sql: "m.created_at IS NOT NULL"},
		{name: "datetime gt", spec: userSpec, filter: `meta.lastModified gt "2024-01-01T00:00:00Z"`,
			sql: "m.updated_at > ?", args: []any{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{name: "datetime with offset and fraction, le", spec: userSpec, filter: `meta.created le "2015-10-10T14:38:21.8617979-07:00"`,
			sql: "m.created_at <= ?", args: []any{time.Date(2015, 10, 10, 21, 38, 21, 861797900, time.UTC)}},
		{name: "precedence: and before or, grouping", spec: userSpec,
			filter: `name.familyName eq "Employee" and (emails.value co "example.com" or emails.value co "example.org")`,
			sql:    "(lower(m.family_name) = ? AND (lower(u.email) LIKE ? OR lower(u.email) LIKE ?))",
			args:   []any{"employee", "%example.com%", "%example.org%"}},
		{name: "chained and", spec: userSpec, filter: `active eq true and id eq "1" and externalId pr`,
			sql: "((m.active = ? AND m.id::text = ?) AND m.external_id <> '')", args: []any{true, "1"}},
		{name: "column not yet lower-cased is wrapped", spec: userSpec, filter: `displayName eq "Team"`,
			sql: "lower(m.display_name) = ?", args: []any{"team"}},
		{name: "number compared with a text column", spec: userSpec, filter: `id eq 5`,
			sql: "m.id::text = ?", args: []any{"5"}},
		{name: "URN-qualified core attribute", spec: userSpec, filter: `urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a@b.c"`,
			sql: "lower(u.email) = ?", args: []any{"a@b.c"}},
		{name: "URN-qualified extension attribute", spec: userSpec, filter: `urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User:orgRole eq "Admin"`,
			sql: "lower(m.role) = ?", args: []any{"admin"}},
		{name: "LIKE wildcards are escaped", spec: userSpec, filter: `userName co "50%_off\\"`,
			sql: "lower(u.email) LIKE ?", args: []any{`%50\%\_off\\%`}},
		{name: "JSON escapes in a value", spec: userSpec, filter: `displayName eq "say \"hi\" \u00E9"`,
			sql: "lower(m.display_name) = ?", args: []any{`say "hi" é`}},
		{name: "bare values (Microsoft test collection)", spec: userSpec, filter: `userName sw O`,
			sql: "lower(u.email) LIKE ?", args: []any{"o%"}},
		{name: "bare date-time (Microsoft test collection)", spec: userSpec, filter: `meta.Created gt 2015-10-10T14:38:21.8617979-07:00`,
			sql: "m.created_at > ?", args: []any{time.Date(2015, 10, 10, 21, 38, 21, 861797900, time.UTC)}},
		{name: "bare values in a group (Microsoft test collection)", spec: userSpec,
			filter: `name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)`,
			sql:    "(lower(m.family_name) = ? AND (lower(u.email) LIKE ? OR lower(u.email) LIKE ?))",
			args:   []any{"employee", "%example.com%", "%example.org%"}},

		// groups
		{name: "group displayName eq", spec: groupSpec, filter: `displayName eq "Team"`,
			sql: "lower(t.name) = ?", args: []any{"team"}},
		{name: "group externalId eq", spec: groupSpec, filter: `externalId eq "8aa1"`,
			sql: "t.external_id = ?", args: []any{"8aa1"}},
		{name: "members value path", spec: groupSpec, filter: `members[value eq "5"]`,
			sql: exists("= ?"), args: []any{"5"}},
		{name: "id and members", spec: groupSpec, filter: `id eq "5" and members[value eq "7"]`,
			sql: "(t.id::text = ? AND " + exists("= ?") + ")", args: []any{"5", "7"}},
		{name: "members.value pr", spec: groupSpec, filter: `members.value pr`, sql: exists("<> ''")},
		{name: "members with not", spec: groupSpec, filter: `not (members[value eq "7"])`,
			sql: "NOT COALESCE(" + exists("= ?") + ", FALSE)", args: []any{"7"}},

		// errors
		{name: "unknown attribute", spec: userSpec, filter: `title pr`, err: invalid("Filtering on title is not supported")},
		{name: "unknown attribute inside a value path", spec: userSpec, filter: `emails[display eq "x"]`,
			err: invalid("Filtering on emails.display is not supported")},
		{name: "unknown schema", spec: userSpec, filter: `urn:example:x:User:userName eq "x"`,
			err: invalid("Filtering on urn:example:x:User:userName is not supported")},
		{name: "okta: an email as the whole filter", spec: userSpec, filter: `RUNSCOPE123ABCDEFGH456@ATKO.COM`, err: syntax},
		{name: "missing value", spec: userSpec, filter: `userName eq`, err: syntax},
		{name: "unknown operator", spec: userSpec, filter: `userName is "x"`, err: syntax},
		{name: "unbalanced parenthesis", spec: userSpec, filter: `(userName eq "x"`, err: syntax},
		{name: "unterminated string", spec: userSpec, filter: `userName eq "x`, err: syntax},
		{name: "dangling and", spec: userSpec, filter: `userName eq "x" and`, err: syntax},
		{name: "boolean compared with a string", spec: userSpec, filter: `active eq "yes"`, err: invalid("active takes true or false")},
		{name: "gt on a boolean", spec: userSpec, filter: `active gt true`, err: invalid("active takes only eq and ne")},
		{name: "bad date-time", spec: userSpec, filter: `meta.created gt "yesterday"`, err: invalid("meta.created takes an RFC 3339 date-time")},
		{name: "co on a date-time", spec: userSpec, filter: `meta.created co "2024"`, err: invalid("meta.created does not take co")},
		{name: "string attribute compared with true", spec: userSpec, filter: `userName eq true`, err: invalid("userName takes a string")},
		{name: "null value", spec: userSpec, filter: `userName eq null`, err: invalid("userName takes a string")},
		{name: "NUL character", spec: userSpec, filter: `userName eq "a\u0000b"`, err: invalid("userName takes a string")},
		{name: "longer than 1000 characters", spec: userSpec, filter: `userName eq "` + strings.Repeat("a", 990) + `"`,
			err: invalid("The filter is longer than 1000 characters")},
		{name: "more than 50 comparisons", spec: userSpec, filter: strings.Repeat(`id eq "1" or `, 50) + `id eq "1"`,
			err: invalid("The filter has more than 50 comparisons")},
		{name: "nested deeper than 10", spec: userSpec, filter: strings.Repeat("(", 11) + `id eq "1"` + strings.Repeat(")", 11),
			err: invalid("The filter nests deeper than 10 levels")},
		{name: "nested 10 deep is fine", spec: userSpec, filter: strings.Repeat("(", 10) + `id eq "1"` + strings.Repeat(")", 10),
			sql: "m.id::text = ?", args: []any{"1"}},
		{name: "brackets inside strings do not count as nesting", spec: userSpec, filter: `userName eq "((((((((((((x"`,
			sql: "lower(u.email) = ?", args: []any{"((((((((((((x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sql, args, err := TranslateFilter(tt.filter, tt.spec)
			checkErr(t, err, tt.err)
			if sql != tt.sql {
				t.Fatalf("sql =\n  %s\nwant\n  %s", sql, tt.sql)
			}
			deepEqual(t, "args", args, tt.args)
		})
	}
}

func TestTranslateFilterMisconfiguredColumn(t *testing.T) {
	_, _, err := TranslateFilter(`userName eq "x"`, FilterSpec{"username": {}})
	if err == nil || strings.Contains(err.Error(), "scim: 400") {
		t.Fatalf("err = %v, want an internal error", err)
	}
	if _, ok := err.(*Error); ok {
		t.Fatalf("err = %v is a SCIM error; a broken spec is a server bug", err)
	}
}
