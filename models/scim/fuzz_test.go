package scim

// Fuzz targets for the filter translator, the PATCH engine and the resource parsers
// (SECURITY.md: they never panic). Plain `go test` replays the seeds below and the
// corpus in testdata/fuzz/<FuzzName>/; fuzz one target at a time with
//
//	go test -run='^$' -fuzz='^FuzzTranslateFilter$' -fuzztime=60s -fuzzminimizetime=5s ./models/scim/
//
// (without -fuzzminimizetime the workers can spend a minute minimising each new
// input while the log shows 0 execs/sec: golang/go#51484).

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// fuzzUserSpec and fuzzGroupSpec are shaped like models.SCIMUserFilter and
// models.SCIMGroupFilter (models imports this package, so they cannot be used here),
// plus an extension attribute.
var (
	fuzzUserSpec = FilterSpec{
		"username":          {SQL: "lower(m.email)", Type: String},
		"emails.value":      {SQL: "lower(m.email)", Type: String},
		"emails.type":       {SQL: "'work'", Type: String},
		"externalid":        {SQL: "m.external_id", Type: String, CaseExact: true},
		"id":                {SQL: "m.id::text", Type: String, CaseExact: true},
		"active":            {SQL: "m.active", Type: Bool},
		"displayname":       {SQL: "lower(coalesce(nullif(m.display_name, ''), u.name, ''))", Type: String},
		"name.givenname":    {SQL: "lower(m.given_name)", Type: String},
		"name.familyname":   {SQL: "m.family_name", Type: String},
		"meta.created":      {SQL: "m.created_at", Type: DateTime},
		"meta.lastmodified": {SQL: "m.updated_at", Type: DateTime},
		"urn:ietf:params:scim:schemas:extension:gatehouse:2.0:user:orgrole": {SQL: "m.role", Type: String},
	}
	fuzzGroupSpec = FilterSpec{
		"displayname":       {SQL: "lower(t.name)", Type: String},
		"externalid":        {SQL: "t.external_id", Type: String, CaseExact: true},
		"id":                {SQL: "t.id::text", Type: String, CaseExact: true},
		"members.value":     {Template: "EXISTS (SELECT 1 FROM team_members tm WHERE tm.team_id = t.id AND tm.member_id::text %s)", Type: String, CaseExact: true},
		"meta.created":      {SQL: "t.created_at", Type: DateTime},
		"meta.lastmodified": {SQL: "t.updated_at", Type: DateTime},
	}
)

// fuzzSQLWords is every fragment a translated filter may contain besides the specs'
// SQL: a filter's text must never reach the SQL, only its arguments.
var fuzzSQLWords = []string{"(", ")", " ", ",", "?", "AND", "OR", "NOT", "COALESCE", "FALSE", "lower",
	"=", "IS", "DISTINCT", "FROM", ">", ">=", "<", "<=", "LIKE", "<>", "''", "NULL"}

// fuzzSQLOnlyFrom reports whether sql is made only of the specs' SQL and fuzzSQLWords.
func fuzzSQLOnlyFrom(sql string, spec FilterSpec) bool {
	var parts []string
	for _, c := range spec {
		if c.Template != "" {
			before, after, _ := strings.Cut(c.Template, "%s")
			parts = append(parts, before, after)
		} else {
			parts = append(parts, c.SQL)
		}
	}
	parts = append(parts, fuzzSQLWords...)
	slices.SortFunc(parts, func(a, b string) int { return len(b) - len(a) }) // longest first
	for sql != "" {
		n := 0
		for _, p := range parts {
			if p != "" && strings.HasPrefix(sql, p) {
				n = len(p)
				break
			}
		}
		if n == 0 {
			return false
		}
		sql = sql[n:]
	}
	return true
}

// fuzzSCIMError fails unless err is an *Error with a 400 status and one of scimTypes
// (any non-empty scimType when none is given).
func fuzzSCIMError(t *testing.T, what string, err error, scimTypes ...string) {
	t.Helper()
	se, ok := err.(*Error)
	if !ok {
		t.Fatalf("%s: error %T %v, want *scim.Error", what, err, err)
	}
	if se.Status != 400 {
		t.Fatalf("%s: status %d, want 400 (%v)", what, se.Status, se)
	}
	if len(scimTypes) == 0 && se.ScimType == "" || len(scimTypes) > 0 && !slices.Contains(scimTypes, se.ScimType) {
		t.Fatalf("%s: scimType %q, want one of %q (%v)", what, se.ScimType, scimTypes, se)
	}
	if se.Detail == "" {
		t.Fatalf("%s: empty detail", what)
	}
	if _, err := json.Marshal(se); err != nil {
		t.Fatalf("%s: marshal error: %v", what, err)
	}
}

// fuzzBodies adds the recorded IdP request bodies (testdata/entra, okta, postman).
func fuzzBodies(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	for _, file := range files {
		if filepath.Base(filepath.Dir(file)) == "discovery" {
			continue
		}
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
}

func FuzzTranslateFilter(f *testing.F) {
	for _, s := range []string{
		``,
		`userName eq "a@b.com"`,
		`USERNAME Eq "A@B.com"`,
		`userName eq "8a0ca3b9-2f6a-4a7b-9d6e-2b1f2c4f6a10"`,
		`externalId eq "x"`,
		`externalId eq "00aa00aa-bb11-cc22-dd33-44ee44ee44ee"`,
		`emails[type eq "work" and value co "@x"]`,
		`emails[type eq "work"]`,
		`emails[value eq "a@b.c"].value eq "x"`,
		`emails co "example"`,
		`emails.value eq "Ada@Example.com"`,
		`members[value eq "5"]`,
		`members.value eq "5"`,
		`members eq 5`,
		`displayName eq "Group 1" and members[value eq "5"]`,
		`not (userName sw "a")`,
		`not(not(userName sw "a"))`,
		`userName ew "@Example.com"`,
		`externalId ne "x"`,
		`externalId pr`,
		`meta.created pr`,
		`meta.lastModified gt "2024-01-01T00:00:00Z"`,
		`meta.created le "2015-10-10T14:38:21.8617979-07:00"`,
		`meta.lastModified ge "2024-13-01T00:00:00Z"`,
		`meta.created co "2024"`,
		`active eq true`,
		`active eq "False"`,
		`active gt true`,
		`active eq null`,
		`active eq 1`,
		`id eq 5`,
		`id eq 5.5e3`,
		`id eq -0`,
		`id eq 1e999`,
		`id eq 99999999999999999999999`,
		`id eq -`,
		`id eq 1.`,
		`id eq 01`,
		`id eq 0x1F`,
		`userName eq "x" and active eq true`,
		`active eq true and id eq "1" and externalId pr`,
		`name.familyName eq "Employee" and (emails.value co "example.com" or emails.value co "example.org")`,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a@b.c"`,
		`urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User:orgRole eq "Admin"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x"`,
		`urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x"`,
		`userName co "50%_off\\"`,
		`displayName eq "say \"hi\" \u00E9"`,
		`displayName eq "\ud83d\ude00"`,
		`displayName eq "\ud83d"`,
		`displayName eq "\u0000"`,
		`displayName eq "\x"`,
		"displayName eq \"\xff\xfe\"",
		`displayName eq "Åsa Ölund"`,
		`userName sw O`,
		`userName sw O and meta.created gt 2015-10-10T14:38:21.8617979-07:00`,
		`userName eq O'Brien`,
		`userName eq a\b`,
		`userName eq "unterminated`,
		`userName eq`,
		`userName`,
		`eq "x"`,
		`userName xx "x"`,
		`(userName eq "x"`,
		`userName eq "x")`,
		`emails[type eq "work"`,
		`emails[type eq "work"]]`,
		`emails[type eq "work"].value`,
		`emails[[type eq "work"]]`,
		`emails[emails[type eq "work"]]`,
		`emails.type[value eq "x"]`,
		`members[value eq "5"] or members[value eq "6"]`,
		`title eq "x"`,
		`userName eq "x" or`,
		`and`,
		`not`,
		`()`,
		`[]`,
		`"`,
		`\`,
		`((((((((((userName eq "x"))))))))))`,
		`(((((((((((userName eq "x")))))))))))`,
		`userName eq "((((((((((((((("`,
		strings.Repeat(`userName eq "x" or `, 50) + `userName eq "x"`,
		strings.Repeat(`userName eq "x" or `, 49) + `userName eq "x"`,
		`userName eq "` + strings.Repeat("a", 990) + `"`,
		`userName eq "` + strings.Repeat("a", 2000) + `"`,
		strings.Repeat("(", 500) + strings.Repeat(")", 500),
		strings.Repeat("not (", 9) + `userName eq "x"` + strings.Repeat(")", 9),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, filterText string) {
		for _, spec := range []FilterSpec{fuzzUserSpec, fuzzGroupSpec} {
			sql, args, err := TranslateFilter(filterText, spec)
			if err != nil {
				fuzzSCIMError(t, "TranslateFilter", err, InvalidFilter)
				if sql != "" || args != nil {
					t.Fatalf("error %v with sql %q args %v", err, sql, args)
				}
				continue
			}
			if got := strings.Count(sql, "?"); got != len(args) {
				t.Fatalf("%q: %d placeholders in %q, %d args %v", filterText, got, sql, len(args), args)
			}
			if (sql == "") != (strings.TrimSpace(filterText) == "") {
				t.Fatalf("%q: sql %q", filterText, sql)
			}
			if !fuzzSQLOnlyFrom(sql, spec) {
				t.Fatalf("%q: the SQL %q holds text from the filter", filterText, sql)
			}
			if strings.Count(sql, "(") != strings.Count(sql, ")") {
				t.Fatalf("%q: unbalanced SQL %q", filterText, sql)
			}
			for _, a := range args {
				switch a := a.(type) {
				case string:
					if strings.ContainsRune(a, 0) {
						t.Fatalf("%q: NUL in argument %q", filterText, a)
					}
				case bool:
				case time.Time:
					if a.Location() != time.UTC {
						t.Fatalf("%q: time %v is not UTC", filterText, a)
					}
				default:
					t.Fatalf("%q: argument %#v of type %T", filterText, a, a)
				}
			}
		}
	})
}

// fuzzPatchSeeds are PATCH bodies as Entra, Okta and the Microsoft test collection
// send them, and some that are wrong.
var fuzzPatchSeeds = []string{
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","value":{"name.givenName":"A","urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User:orgRole":"admin","emails[type eq \"work\"].value":"a@b.c"}}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"work\"].value","value":"new@example.com"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"other\" and primary eq true].primary","value":"True"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"emails[value co \"home\"]"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[not (type eq \"work\")].type","value":"Other"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"emails","value":[{"value":"x@y.z","primary":true},{"value":"ADA@example.com","type":"Home"}]}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"work\"]","value":{"value":"w@x.y","primary":true}}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[value pr].value","value":null}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:name","value":{"givenName":"G","familyName":"F","middleName":"M"}}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User","value":{"userName":"b@c.d","id":"42"}}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User","value":{"orgRole":" owner "}}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"sentryOrgRole","value":"manager"},{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User:orgRole"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"1"}}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"userName","value":"a@b.c"},{"op":"replace","path":"id","value":"1"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"userName"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"name.givenName"},{"op":"remove","path":"externalId"},{"op":"remove","path":"displayName"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"phoneNumbers[type eq \"work\"].value","value":"+1"},{"op":"add","path":"title","value":"x"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"emails[type eq \"work\" or value ew \"x\"].type"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"5","display":"Ada"},{"value":6}]}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"5\" or value eq \"6\"]"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members","value":[{"value":"5"}]},{"op":"remove","path":"members"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"members","value":[]},{"op":"add","path":"members","value":"7"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"3","displayName":"Eng","externalId":"e"}}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:Group:displayName","value":"X"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"5\"].display"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"move","path":"x"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"work\"","value":"x"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"work\"]]","value":"x"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"emails[]","value":"x"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"urn:x:y","value":"x"}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"operations":[{"OP":"ADD","PATH":"displayName","VALUE":"x"}]}`,
	`{"schemas":"urn:ietf:params:scim:api:messages:2.0:PatchOp","Operations":{}}`,
	`{"Operations":[{"op":"add","value":{}}]}`,
	`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","value":{}}]} trailing`,
	`[]`,
	`null`,
	``,
	`{`,
}

func fuzzUser() *User {
	return &User{ID: "42", ExternalID: "ext-42", UserName: "ada@example.com", DisplayName: "Ada",
		Name:   Name{GivenName: "Ada", FamilyName: "Lovelace", Formatted: "Ada Lovelace"},
		Emails: []Email{{Value: "ada@example.com", Type: "work", Primary: true}, {Value: "ada@home.example", Type: "home"}, {Value: "a@other.example"}},
		Active: true, OrgRole: "member",
		Groups: []GroupRef{{Value: "7", Display: "Engineering", Ref: base + "/Groups/7"}},
		Meta:   Meta{ResourceType: "User", Created: t0, LastModified: t1, Location: base + "/Users/42"}}
}

func FuzzApplyUserPatch(f *testing.F) {
	for _, s := range fuzzPatchSeeds {
		f.Add([]byte(s))
	}
	for _, s := range fuzzRegressionBodies() {
		f.Add([]byte(s))
	}
	fuzzBodies(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		if ops, ok := fuzzParsePatch(t, body); ok {
			fuzzCheckUserPatch(t, ops)
		}
	})
}

// fuzzRegressionBodies are the PATCH bodies that once crashed the process.
func fuzzRegressionBodies() []string {
	wrap := func(path string) string {
		b, _ := json.Marshal(map[string]any{"schemas": []string{SchemaPatchOp},
			"Operations": []any{map[string]any{"op": "replace", "path": path, "value": "x@y.z"}}})
		return string(b)
	}
	deep := strings.Repeat("(", 100_000) + `type eq "work"` + strings.Repeat(")", 100_000)
	return []string{
		// fatal error: stack overflow (goroutine stack exceeds 1000000000-byte limit)
		// in the filter parser: PATCH paths had no length or depth limit.
		wrap(`emails[` + deep + `].value`),
		wrap(`members[` + strings.Repeat("(", 100_000) + `value eq "1"` + strings.Repeat(")", 100_000) + `]`),
	}
}

// fuzzParsePatch runs ParsePatch and checks what it returns; ok is false on error.
func fuzzParsePatch(t *testing.T, body []byte) (ops []PatchOp, ok bool) {
	t.Helper()
	ops, err := ParsePatch(body)
	if err != nil {
		fuzzSCIMError(t, "ParsePatch", err, InvalidSyntax, InvalidValue, InvalidPath, NoTarget)
		if ops != nil {
			t.Fatalf("ParsePatch failed (%v) and returned %#v", err, ops)
		}
		return nil, false
	}
	if len(ops) == 0 || len(ops) > maxPatchOps {
		t.Fatalf("ParsePatch gave %d operations", len(ops))
	}
	for _, op := range ops {
		switch {
		case op.Op != "add" && op.Op != "replace" && op.Op != "remove":
			t.Fatalf("ParsePatch gave op %q", op.Op)
		case op.Op == "remove" && op.Path == "":
			t.Fatalf("ParsePatch gave remove without a path: %#v", op)
		case op.Op != "remove" && op.Value == nil:
			t.Fatalf("ParsePatch gave %s without a value: %#v", op.Op, op)
		}
	}
	return ops, true
}

// fuzzCheckUserPatch applies ops to two users: all or nothing, 400 *Error, read-only
// attributes kept, a userName left, at most one primary email.
func fuzzCheckUserPatch(t *testing.T, ops []PatchOp) {
	t.Helper()
	for _, u := range []*User{fuzzUser(), {ID: "1", UserName: "u"}} {
		before := u.Clone()
		err := ApplyUserPatch(u, ops)
		if err != nil {
			fuzzSCIMError(t, "ApplyUserPatch", err, InvalidPath, InvalidValue, Mutability, NoTarget)
			if !reflect.DeepEqual(u, before) {
				t.Fatalf("ApplyUserPatch failed (%v) and changed the user:\n  %#v\nwas\n  %#v", err, u, before)
			}
			continue
		}
		if u.ID != before.ID || !reflect.DeepEqual(u.Groups, before.Groups) || u.Meta != before.Meta {
			t.Fatalf("ApplyUserPatch changed a read-only attribute:\n  %#v\nwas\n  %#v", u, before)
		}
		if u.UserName == "" || u.UserName != strings.TrimSpace(u.UserName) {
			t.Fatalf("ApplyUserPatch left userName %q", u.UserName)
		}
		if n := fuzzPrimaries(u.Emails); n > 1 {
			t.Fatalf("ApplyUserPatch left %d primary emails: %#v", n, u.Emails)
		}
		if _, err := json.Marshal(u); err != nil {
			t.Fatalf("marshal the patched user: %v", err)
		}
	}
}

func fuzzPrimaries(emails []Email) int {
	n := 0
	for _, e := range emails {
		if e.Primary {
			n++
		}
	}
	return n
}

func FuzzGroupPatch(f *testing.F) {
	for _, s := range fuzzPatchSeeds {
		f.Add([]byte(s))
	}
	for _, s := range fuzzRegressionBodies() {
		f.Add([]byte(s))
	}
	fuzzBodies(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		if ops, ok := fuzzParsePatch(t, body); ok {
			fuzzCheckGroupPatch(t, ops)
		}
	})
}

// fuzzCheckGroupPatch runs GroupPatch: 400 *Error, or a change whose membership steps
// are well formed (kinds, ids non-blank and unique, merged, replace and removeAll first).
func fuzzCheckGroupPatch(t *testing.T, ops []PatchOp) {
	t.Helper()
	ch, err := GroupPatch(ops)
	if err != nil {
		fuzzSCIMError(t, "GroupPatch", err, InvalidPath, InvalidValue, Mutability, NoTarget)
		if ch != nil {
			t.Fatalf("GroupPatch failed (%v) and returned %#v", err, ch)
		}
		return
	}
	if ch == nil {
		t.Fatal("GroupPatch returned nil without an error")
	}
	if ch.DisplayName != nil && strings.TrimSpace(*ch.DisplayName) == "" {
		t.Fatalf("GroupPatch set displayName %q", *ch.DisplayName)
	}
	for i, st := range ch.Members {
		switch st.Kind {
		case StepRemoveAll:
			if st.IDs != nil {
				t.Fatalf("step %d: removeAll with ids %q", i, st.IDs)
			}
			if i != 0 {
				t.Fatalf("step %d: removeAll after other steps: %#v", i, ch.Members)
			}
		case StepReplace:
			if i != 0 {
				t.Fatalf("step %d: replace after other steps: %#v", i, ch.Members)
			}
			fallthrough
		case StepAdd, StepRemove:
			if len(st.IDs) == 0 {
				t.Fatalf("step %d: %s without ids", i, st.Kind)
			}
			seen := map[string]bool{}
			for _, id := range st.IDs {
				if id == "" || id != strings.TrimSpace(id) || seen[id] {
					t.Fatalf("step %d: id %q blank, untrimmed or repeated in %q", i, id, st.IDs)
				}
				seen[id] = true
			}
			if i > 0 && ch.Members[i-1].Kind == st.Kind {
				t.Fatalf("steps %d and %d are both %s and were not merged", i-1, i, st.Kind)
			}
		default:
			t.Fatalf("step %d: kind %q", i, st.Kind)
		}
	}
}

// FuzzPatchOp fuzzes one operation by its parts, which keeps most inputs valid JSON
// and so reaches deeper into both PATCH engines than whole bodies do. A value that is
// not JSON is sent as a JSON string.
func FuzzPatchOp(f *testing.F) {
	for _, s := range fuzzPatchSeeds {
		var msg struct{ Operations []map[string]json.RawMessage }
		if json.Unmarshal([]byte(s), &msg) != nil {
			continue
		}
		for _, op := range msg.Operations {
			var name, path string
			json.Unmarshal(op["op"], &name)
			json.Unmarshal(op["path"], &path)
			f.Add(name, path, []byte(op["value"]))
		}
	}
	for _, s := range []struct{ op, path, value string }{
		{"replace", `emails[type eq "work" and primary eq true].value`, `"w@x.y"`},
		{"replace", `emails[value gt "a" and value le "b"].primary`, `true`},
		{"replace", `emails[value lt "z" or value ge "a"].type`, `"Home"`},
		{"remove", `emails[value sw "ada" and not (type ne "work")]`, ``},
		{"add", `emails[type pr and display co "x"].display`, `"x"`},
		{"replace", `emails[primary eq "True"]`, `{"value":"p@q.r","type":"work","primary":false}`},
		{"replace", `emails[type eq "other" and value eq "n@e.w"].value`, `"n@e.w"`},
		{"replace", `emails[primary ne false].primary`, `"false"`},
		{"replace", `emails[value co 5].value`, `5`},
		{"replace", `emails.value`, `"all@same.x"`},
		{"remove", `emails.type`, ``},
		{"replace", `name.formatted`, `null`},
		{"add", `urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User`, `{"ORGROLE":"admin","x":1}`},
		{"remove", `urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User`, ``},
		{"replace", `urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User:title`, `"x"`},
		{"replace", `urn:ietf:params:scim:schemas:core:2.0:Group:members`, `[{"value":" 1 "},{"value":"1"}]`},
		{"remove", `members[value eq "1" or value eq 2 or value eq "1"]`, ``},
		{"remove", `members[value eq "1" and value eq "2"]`, ``},
		{"remove", `members[display eq "x"]`, ``},
		{"add", `members.value`, `["3","4"]`},
		{"replace", `externalId`, `{"a":1}`},
		{"replace", `displayName`, `"  "`},
		{"add", `meta.lastModified`, `"2024-01-01T00:00:00Z"`},
		{"add", `groups`, `[{"value":"1"}]`},
		{"add", ``, `{"urn:ietf:params:scim:schemas:core:2.0:User":{"urn:ietf:params:scim:schemas:core:2.0:User":{"active":"false"}}}`},
		{"add", ``, `{"urn:ietf:params:scim:schemas:core:2.0:Group":{"displayName":"G","members":[{"value":"9"}]}}`},
	} {
		f.Add(s.op, s.path, []byte(s.value))
	}
	f.Fuzz(func(t *testing.T, op, path string, value []byte) {
		o := map[string]any{"op": op}
		if path != "" {
			o["path"] = path
		}
		switch {
		case len(value) == 0:
		case json.Valid(value):
			o["value"] = json.RawMessage(value)
		default:
			o["value"] = string(value)
		}
		body, err := json.Marshal(map[string]any{"schemas": []string{SchemaPatchOp}, "Operations": []any{o}})
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if ops, ok := fuzzParsePatch(t, body); ok {
			fuzzCheckUserPatch(t, ops)
			fuzzCheckGroupPatch(t, ops)
		}
	})
}

var fuzzResourceSeeds = []string{
	`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"value":"ada@example.com","type":"work","primary":true}],"active":true,"externalId":"x"}`,
	`{"userName":" Ada@Example.com ","active":"False","emails":{"value":"a@b.c","primary":"true"},"urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User":{"orgRole":"admin"}}`,
	`{"USERNAME":"a","sentryOrgRole":"manager","orgRole":"member","urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User:orgRole":"owner"}`,
	`{"urn:ietf:params:scim:schemas:core:2.0:User:userName":"u","emails":[{"value":"a","primary":true},{"value":"b","primary":true},{"type":"work"}],"active":null,"name":null}`,
	`{"userName":5,"displayName":null,"externalId":7}`,
	`{"userName":"","active":true}`,
	`{"userName":"u","emails":"a@b.c"}`,
	`{"userName":"u","active":"yes"}`,
	`{"userName":"u","name":{"givenName":1}}`,
	`{"userName":"u","urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User":"admin"}`,
	`{"userName":"u","id":"9","meta":{"created":"x"},"groups":[{"value":"1"}]}`,
	`{"userName":"\ud83d\ude00","displayName":"\u0000"}`,
	"{\"userName\":\"\xff\"}",
	`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","externalId":"e","members":[{"value":"5","display":"Ada"},{"value":"5"},{"value":6}]}`,
	`{"displayName":"G","members":["1","2"]}`,
	`{"displayName":"G","members":{"value":"1"}}`,
	`{"displayName":"G","members":[]}`,
	`{"displayName":"G","members":null}`,
	`{"displayName":"G","members":[{"value":""}]}`,
	`{"displayName":"G","members":[null]}`,
	`{"displayName":"  "}`,
	`{"urn:ietf:params:scim:schemas:core:2.0:Group:displayName":"G"}`,
	`{"displayName":"a","displayName":"b"}`,
	`{"a":1} {"b":2}`,
	`{"a":1}]`,
	`[]`,
	`"x"`,
	`null`,
	``,
	`{`,
}

func FuzzParseUser(f *testing.F) {
	for _, s := range fuzzResourceSeeds {
		f.Add([]byte(s))
	}
	fuzzBodies(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := ParseUser(body)
		if err != nil {
			fuzzSCIMError(t, "ParseUser", err, InvalidSyntax, InvalidValue)
			if u != nil {
				t.Fatalf("ParseUser failed (%v) and returned %#v", err, u)
			}
			return
		}
		if u.UserName == "" || u.UserName != strings.TrimSpace(u.UserName) {
			t.Fatalf("ParseUser gave userName %q", u.UserName)
		}
		if u.ID != "" || u.Groups != nil || !reflect.DeepEqual(u.Meta, Meta{}) {
			t.Fatalf("ParseUser read a read-only attribute: %#v", u)
		}
		if n := fuzzPrimaries(u.Emails); n > 1 {
			t.Fatalf("ParseUser gave %d primary emails: %#v", n, u.Emails)
		}
		for _, e := range u.Emails {
			if e.Value == "" {
				t.Fatalf("ParseUser kept an email without a value: %#v", u.Emails)
			}
		}
		// What the User marshals to parses back to the same User.
		out, err := json.Marshal(u)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := ParseUser(out)
		if err != nil {
			t.Fatalf("ParseUser(%s): %v", out, err)
		}
		if !reflect.DeepEqual(again, u) {
			t.Fatalf("round trip through %s:\n  %#v\nwant\n  %#v", out, again, u)
		}
	})
}

func FuzzParseGroup(f *testing.F) {
	for _, s := range fuzzResourceSeeds {
		f.Add([]byte(s))
	}
	fuzzBodies(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		g, err := ParseGroup(body)
		if err != nil {
			fuzzSCIMError(t, "ParseGroup", err, InvalidSyntax, InvalidValue)
			if g != nil {
				t.Fatalf("ParseGroup failed (%v) and returned %#v", err, g)
			}
			return
		}
		if strings.TrimSpace(g.DisplayName) == "" {
			t.Fatalf("ParseGroup gave displayName %q", g.DisplayName)
		}
		if g.ID != "" || !reflect.DeepEqual(g.Meta, Meta{}) {
			t.Fatalf("ParseGroup read a read-only attribute: %#v", g)
		}
		seen := map[string]bool{}
		for _, m := range g.Members {
			if m.Value == "" || m.Value != strings.TrimSpace(m.Value) || seen[m.Value] {
				t.Fatalf("ParseGroup gave member value %q (blank, untrimmed or repeated): %#v", m.Value, g.Members)
			}
			seen[m.Value] = true
		}
		out, err := json.Marshal(g)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := ParseGroup(out)
		if err != nil {
			t.Fatalf("ParseGroup(%s): %v", out, err)
		}
		if !reflect.DeepEqual(again, g) {
			t.Fatalf("round trip through %s:\n  %#v\nwant\n  %#v", out, again, g)
		}
	})
}

// TestNestedSchemaValuesAreCheap: a path-less value nesting the core URN inside itself
// is refused at once (it used to be decoded again at every level: seconds of CPU).
func TestNestedSchemaValuesAreCheap(t *testing.T) {
	for _, urn := range []string{SchemaUser, SchemaGroup} {
		body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":` +
			strings.Repeat(`{"`+urn+`":`, 5000) + `{"displayName":"x"}` + strings.Repeat(`}`, 5000) + `}]}`
		ops, err := ParsePatch([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if urn == SchemaUser {
			err = ApplyUserPatch(&User{ID: "1", UserName: "a@b.c"}, ops)
		} else {
			_, err = GroupPatch(ops)
		}
		if err == nil {
			t.Fatalf("%s nested inside itself was accepted", urn)
		}
	}
}
