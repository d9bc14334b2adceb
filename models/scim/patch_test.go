package scim

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParsePatch(t *testing.T) {
	tooMany := patchBody(strings.TrimSuffix(strings.Repeat(`{"op":"add","path":"displayName","value":"x"},`, 1001), ","))
	tests := []struct {
		name string
		body string
		want []PatchOp
		err  *Error
	}{
		{name: "entra: Replace with a string boolean", body: "entra/user-replace-active-string.json",
			want: []PatchOp{{Op: "replace", Path: "active", Value: json.RawMessage(`"False"`)}}},
		{name: "okta: path-less replace", body: "okta/user-deactivate.json",
			want: []PatchOp{{Op: "replace", Value: json.RawMessage(`{"active":false}`)}}},
		{name: "member names in any case, path trimmed",
			body: `{"Schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"operations":[{"OP":"Remove","PATH":" members "}]}`,
			want: []PatchOp{{Op: "remove", Path: "members"}}},
		{name: "null value is kept as null", body: patchBody(`{"op":"replace","path":"displayName","value":null}`),
			want: []PatchOp{{Op: "replace", Path: "displayName", Value: json.RawMessage(`null`)}}},
		{name: "remove with a value array (entra), extra members ignored",
			body: patchBody(`{"name":"removeMember","op":"Remove","path":"members","value":[{"value":"3"}]}`),
			want: []PatchOp{{Op: "remove", Path: "members", Value: json.RawMessage(`[{"value":"3"}]`)}}},
		{name: "several operations keep their order",
			body: patchBody(`{"op":"add","path":"a","value":1},{"op":"Remove","path":"b"}`),
			want: []PatchOp{{Op: "add", Path: "a", Value: json.RawMessage(`1`)}, {Op: "remove", Path: "b"}}},
		{name: "not JSON", body: `{"schemas":`, err: bad(InvalidSyntax, "The request body is not valid JSON")},
		{name: "not an object", body: `[]`, err: bad(InvalidSyntax, "The request body must be a JSON object")},
		{name: "no schemas", body: `{"Operations":[{"op":"add","path":"a","value":1}]}`,
			err: bad(InvalidSyntax, "schemas must contain urn:ietf:params:scim:api:messages:2.0:PatchOp")},
		{name: "another schema", body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[{"op":"add","path":"a","value":1}]}`,
			err: bad(InvalidSyntax, "schemas must contain urn:ietf:params:scim:api:messages:2.0:PatchOp")},
		{name: "no Operations", body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`,
			err: bad(InvalidSyntax, "Operations must be an array of operations")},
		{name: "Operations not an array", body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":{"op":"add"}}`,
			err: bad(InvalidSyntax, "Operations must be an array of operations")},
		{name: "empty Operations", body: patchBody(``), err: bad(InvalidSyntax, "Operations must not be empty")},
		{name: "more than 1000 operations", body: tooMany, err: bad(InvalidSyntax, "Operations has more than 1000 operations")},
		{name: "operation not an object", body: patchBody(`"add"`), err: bad(InvalidSyntax, "operation 1 is not an object")},
		{name: "unknown op", body: patchBody(`{"op":"add","path":"a","value":1},{"op":"move","path":"a"}`),
			err: bad(InvalidSyntax, `operation 2: op must be add, replace or remove, not "move"`)},
		{name: "op missing", body: patchBody(`{"path":"a","value":1}`),
			err: bad(InvalidSyntax, `operation 1: op must be add, replace or remove, not ""`)},
		{name: "op not a string", body: patchBody(`{"op":["add"],"path":"a","value":1}`),
			err: bad(InvalidSyntax, "operation 1: op must be a string")},
		{name: "path not a string", body: patchBody(`{"op":"add","path":{"a":1},"value":1}`),
			err: bad(InvalidPath, "operation 1: path must be a string")},
		{name: "add without value", body: patchBody(`{"op":"add","path":"a"}`),
			err: bad(InvalidValue, "operation 1 (add) needs a value")},
		{name: "remove without path (RFC 7644 §3.5.2.2)", body: patchBody(`{"op":"remove","value":{"a":1}}`),
			err: bad(NoTarget, "operation 1 (remove) needs a path")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePatch(body(t, tt.body))
			checkErr(t, err, tt.err)
			deepEqual(t, "ops", got, tt.want)
		})
	}
}

func ptr(s string) *string { return &s }

func TestGroupPatch(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *GroupChange
		err  *Error
	}{
		// Microsoft Entra ID
		{name: "entra: add members", body: "entra/group-add-members.json",
			want: &GroupChange{Members: []MemberStep{{Kind: "add", IDs: []string{"1", "2"}}}}},
		{name: "entra: remove members with a value array removes only those", body: "entra/group-remove-members.json",
			want: &GroupChange{Members: []MemberStep{{Kind: "remove", IDs: []string{"3"}}}}},
		{name: "entra: remove a member by filter (aadOptscim062020)", body: "entra/group-remove-member-filter.json",
			want: &GroupChange{Members: []MemberStep{{Kind: "remove", IDs: []string{"7f4bc1a3"}}}}},
		{name: "entra: rename with a path", body: "entra/group-replace-displayname.json",
			want: &GroupChange{DisplayName: ptr("1879db59updatedDisplayName")}},
		{name: "entra: path-less replace with id, displayName and externalId", body: "entra/group-pathless-replace.json",
			want: &GroupChange{DisplayName: ptr("Renamed"), ExternalID: ptr("8aa1a0c0")}},

		// Okta
		{name: "okta: path-less rename with the group's id", body: "okta/group-rename.json",
			want: &GroupChange{DisplayName: ptr("Test SCIMv2")}},
		{name: "okta: add a member", body: "okta/group-add-member.json",
			want: &GroupChange{Members: []MemberStep{{Kind: "add", IDs: []string{"23"}}}}},
		{name: "okta: remove a member by filter", body: "okta/group-remove-member.json",
			want: &GroupChange{Members: []MemberStep{{Kind: "remove", IDs: []string{"3"}}}}},

		// Microsoft SCIM test collection
		{name: "postman: add a member sent with displayName", body: "postman/group-add-member-named.json",
			want: &GroupChange{Members: []MemberStep{{Kind: "add", IDs: []string{"44"}}}}},
		{name: "postman: add a member sent as a bare string", body: "postman/group-add-member-string.json",
			want: &GroupChange{Members: []MemberStep{{Kind: "add", IDs: []string{"string id 1"}}}}},
		{name: "postman: remove all members", body: "postman/group-remove-all.json",
			want: &GroupChange{Members: []MemberStep{{Kind: "removeAll"}}}},

		// RFC 7644 §3.5.2 and the edges
		{name: "replace members", body: patchBody(`{"op":"replace","path":"members","value":[{"value":"5"},{"value":"6"}]}`),
			want: &GroupChange{Members: []MemberStep{{Kind: "replace", IDs: []string{"5", "6"}}}}},
		{name: "replace members with none", body: patchBody(`{"op":"replace","path":"members","value":[]}`),
			want: &GroupChange{Members: []MemberStep{{Kind: "removeAll"}}}},
		{name: "remove members with a filter of or-ed ids",
			body: patchBody(`{"op":"remove","path":"members[value eq \"a\" or value eq \"b\" or VALUE EQ \"c\"]"}`),
			want: &GroupChange{Members: []MemberStep{{Kind: "remove", IDs: []string{"a", "b", "c"}}}}},
		{name: "consecutive adds merge without repeats",
			body: patchBody(`{"op":"add","path":"members","value":[{"value":"1"},{"value":"2"}]},{"op":"add","path":"members","value":[{"value":"2"},{"value":"3"}]}`),
			want: &GroupChange{Members: []MemberStep{{Kind: "add", IDs: []string{"1", "2", "3"}}}}},
		{name: "add then remove stay in order",
			body: patchBody(`{"op":"add","path":"members","value":[{"value":"1"}]},{"op":"remove","path":"members[value eq \"2\"]"}`),
			want: &GroupChange{Members: []MemberStep{{Kind: "add", IDs: []string{"1"}}, {Kind: "remove", IDs: []string{"2"}}}}},
		{name: "removeAll then add",
			body: patchBody(`{"op":"remove","path":"members"},{"op":"add","path":"members","value":[{"value":"9"}]}`),
			want: &GroupChange{Members: []MemberStep{{Kind: "removeAll"}, {Kind: "add", IDs: []string{"9"}}}}},
		{name: "a replace makes earlier steps moot",
			body: patchBody(`{"op":"add","path":"members","value":[{"value":"1"}]},{"op":"replace","path":"members","value":[{"value":"4"}]}`),
			want: &GroupChange{Members: []MemberStep{{Kind: "replace", IDs: []string{"4"}}}}},
		{name: "remove of an empty value array changes nothing", body: patchBody(`{"op":"remove","path":"members","value":[]}`),
			want: &GroupChange{}},
		{name: "path-less add of members", body: patchBody(`{"op":"add","value":{"members":[{"value":"8"}]}}`),
			want: &GroupChange{Members: []MemberStep{{Kind: "add", IDs: []string{"8"}}}}},
		{name: "numeric member ids", body: patchBody(`{"op":"add","path":"members","value":[{"value":12}]}`),
			want: &GroupChange{Members: []MemberStep{{Kind: "add", IDs: []string{"12"}}}}},
		{name: "remove externalId", body: patchBody(`{"op":"remove","path":"externalId"}`),
			want: &GroupChange{ExternalID: ptr("")}},
		{name: "externalId null", body: patchBody(`{"op":"replace","path":"externalId","value":null}`),
			want: &GroupChange{ExternalID: ptr("")}},
		{name: "URN-qualified path", body: patchBody(`{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:Group:displayName","value":"Core"}`),
			want: &GroupChange{DisplayName: ptr("Core")}},
		{name: "the last rename wins",
			body: patchBody(`{"op":"replace","path":"displayName","value":"A"},{"op":"replace","value":{"displayName":"B"}}`),
			want: &GroupChange{DisplayName: ptr("B")}},
		{name: "unknown attribute", body: patchBody(`{"op":"replace","path":"owner","value":"x"}`),
			err: bad(InvalidPath, `Operation 1: Unknown attribute "owner"`)},
		{name: "unknown key in a path-less value", body: patchBody(`{"op":"replace","value":{"displayName":"x","color":"red"}}`),
			err: bad(InvalidPath, `Operation 1: Unknown attribute "color"`)},
		{name: "id is read-only", body: patchBody(`{"op":"replace","path":"id","value":"3"}`),
			err: bad(Mutability, "Operation 1: id is read-only")},
		{name: "meta is read-only", body: patchBody(`{"op":"replace","path":"meta.created","value":"x"}`),
			err: bad(Mutability, "Operation 1: meta.created is read-only")},
		{name: "remove displayName", body: patchBody(`{"op":"remove","path":"displayName"}`),
			err: bad(Mutability, "Operation 1: displayName is required and cannot be removed")},
		{name: "empty displayName", body: patchBody(`{"op":"replace","path":"displayName","value":" "}`),
			err: bad(InvalidValue, "Operation 1: displayName must be a non-empty string")},
		{name: "displayName not a string", body: patchBody(`{"op":"replace","path":"displayName","value":{"x":1}}`),
			err: bad(InvalidValue, "Operation 1: displayName must be a non-empty string")},
		{name: "member filter other than value eq", body: patchBody(`{"op":"remove","path":"members[value ne \"x\"]"}`),
			err: bad(InvalidPath, `Operation 1: "members[value ne \"x\"]": only value eq "id" filters, joined with or, are supported`)},
		{name: "member filter with and", body: patchBody(`{"op":"remove","path":"members[value eq \"x\" and value eq \"y\"]"}`),
			err: bad(InvalidPath, `Operation 1: "members[value eq \"x\" and value eq \"y\"]": only value eq "id" filters, joined with or, are supported`)},
		{name: "add on a member filter", body: patchBody(`{"op":"add","path":"members[value eq \"x\"]","value":[{"value":"x"}]}`),
			err: bad(InvalidPath, `Operation 1: members[value eq "x"]: add and replace take the path "members"`)},
		{name: "member without value", body: patchBody(`{"op":"add","path":"members","value":[{"display":"x"}]}`),
			err: bad(InvalidValue, "Operation 1: each value of members needs a value (the User id)")},
		{name: "member not an object", body: patchBody(`{"op":"add","path":"members","value":[true]}`),
			err: bad(InvalidValue, "Operation 1: each value of members must be an object with a value")},
		{name: "unknown schema URN", body: patchBody(`{"op":"add","path":"urn:example:x:Group:color","value":"x"}`),
			err: bad(InvalidPath, `Operation 1: Unknown schema in path "urn:example:x:Group:color"`)},
		{name: "path-less value not an object", body: patchBody(`{"op":"replace","value":[{"displayName":"x"}]}`),
			err: bad(InvalidValue, "Operation 1: Without a path the value must be an object of attributes")},
		{name: "the failing operation is named", body: patchBody(`{"op":"replace","path":"displayName","value":"A"},{"op":"add","path":"members","value":[{}]}`),
			err: bad(InvalidValue, "Operation 2: each value of members needs a value (the User id)")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, err := ParsePatch(body(t, tt.body))
			if err != nil {
				t.Fatalf("ParsePatch: %v", err)
			}
			got, err := GroupPatch(ops)
			checkErr(t, err, tt.err)
			deepEqual(t, "change", got, tt.want)
		})
	}
}
