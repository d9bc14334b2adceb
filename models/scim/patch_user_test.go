package scim

import (
	"testing"
)

// ada is the user every PATCH row starts from (unless the row says otherwise).
func ada() User {
	return User{
		ID: "42", ExternalID: "ext-42", UserName: "ada@example.com", DisplayName: "Ada Lovelace",
		Name:   Name{GivenName: "Ada", FamilyName: "Lovelace"},
		Emails: []Email{{Value: "ada@example.com", Type: "work", Primary: true}},
		Active: true,
		Groups: []GroupRef{{Value: "7", Display: "Engines", Ref: base + "/Groups/7"}},
		Meta:   Meta{ResourceType: "User", Created: t0, LastModified: t0, Location: base + "/Users/42"},
	}
}

func TestApplyUserPatch(t *testing.T) {
	tests := []struct {
		name   string
		before func(*User) // changes to ada() before the patch; nil: none
		body   string      // a testdata file or an inline body
		want   func(*User) // changes to the starting user the patch must make; nil: none
		err    *Error
	}{
		// Microsoft Entra ID
		{name: "entra: replace active with the string False (no aadOptscim062020 flag)",
			body: "entra/user-replace-active-string.json", want: func(u *User) { u.Active = false }},
		{name: "entra: replace active with a boolean",
			body: "entra/user-replace-active-bool.json", want: func(u *User) { u.Active = false }},
		{name: "entra: path-less replace of active",
			body: "entra/user-pathless-replace-active.json", want: func(u *User) { u.Active = false }},
		{name: "entra: path-less add with dotted and URN-qualified keys",
			body: "entra/user-pathless-add-dotted-urn.json",
			want: func(u *User) { u.Name.GivenName = "Augusta"; u.DisplayName = "Augusta King" }},
		{name: "entra: path-less replace of many attributes, filtered email and enterprise key included",
			body: "entra/user-pathless-replace-many.json",
			want: func(u *User) {
				u.DisplayName = "Pvlo"
				u.Emails[0].Value = "TestBcwqnm@test.microsoft.com"
				u.Name = Name{GivenName: "Gtfd", FamilyName: "Pkqf"}
				u.ExternalID = "Eqpj"
			}},
		{name: "entra: replace the work email and the family name",
			body: "entra/user-replace-work-email.json",
			want: func(u *User) {
				u.Emails[0].Value = "updatedEmail@microsoft.com"
				u.Name.FamilyName = "updatedFamilyName"
			}},
		{name: "entra: add on the work email of a user without email adds it (title ignored)",
			before: func(u *User) { u.Emails = nil },
			body:   "entra/user-add-title-and-work-email.json",
			want:   func(u *User) { u.Emails = []Email{{Value: "joe@joe.com", Type: "work", Primary: true}} }},
		{name: "entra: add on the work email of a user with one changes it",
			body: "entra/user-add-title-and-work-email.json",
			want: func(u *User) { u.Emails[0].Value = "joe@joe.com" }},
		{name: "entra: replace on the work email of a user with only a home email adds a work email",
			before: func(u *User) { u.Emails = []Email{{Value: "ada@home.example", Type: "home", Primary: true}} },
			body:   "entra/user-replace-work-email.json",
			want: func(u *User) {
				u.Emails = append(u.Emails, Email{Value: "updatedEmail@microsoft.com", Type: "work"})
				u.Name.FamilyName = "updatedFamilyName"
			}},
		{name: "entra: orgRole by its extension URN path",
			body: "entra/user-replace-orgrole-urn.json", want: func(u *User) { u.OrgRole = "admin" }},
		{name: "entra: path-less add of the extension object",
			body: "entra/user-add-extension-object.json", want: func(u *User) { u.OrgRole = "manager" }},
		{name: "entra: several operations in one request",
			body: "entra/user-several-ops.json",
			want: func(u *User) {
				u.UserName = "ada.king@example.com"
				u.Emails[0].Value = "ada.king@example.com"
				u.Name.Formatted = "Ada King"
				u.ExternalID = ""
			}},
		{name: "entra: several operations, the last unknown: nothing changes",
			body: "entra/user-several-ops-one-fails.json",
			err:  bad(InvalidPath, `Operation 3: Unknown attribute "favoriteColor"`)},

		// Okta
		{name: "okta: deactivate", body: "okta/user-deactivate.json", want: func(u *User) { u.Active = false }},
		{name: "okta: reactivate", before: func(u *User) { u.Active = false },
			body: "okta/user-reactivate.json", want: func(u *User) { u.Active = true }},
		{name: "okta: a password push is ignored", body: "okta/user-replace-password.json"},

		// Microsoft SCIM test collection
		{name: "postman: replace userName", body: "postman/user-replace-username.json",
			want: func(u *User) { u.UserName = "newusername" }},

		// RFC 7644 §3.5.2 and the edges
		{name: "op in upper case", body: patchBody(`{"op":"ADD","path":"displayName","value":"Countess"}`),
			want: func(u *User) { u.DisplayName = "Countess" }},
		{name: "attribute names in any case", body: patchBody(`{"op":"replace","path":"NAME.GIVENNAME","value":"A."}`),
			want: func(u *User) { u.Name.GivenName = "A." }},
		{name: "active not a boolean", body: patchBody(`{"op":"replace","path":"active","value":"maybe"}`),
			err: bad(InvalidValue, "Operation 1: active must be a boolean")},
		{name: "active null", body: patchBody(`{"op":"replace","path":"active","value":null}`),
			err: bad(InvalidValue, "Operation 1: active must be a boolean")},
		{name: "id is read-only", body: patchBody(`{"op":"replace","path":"id","value":"43"}`),
			err: bad(Mutability, "Operation 1: id is read-only")},
		{name: "meta sub-attributes are read-only", body: patchBody(`{"op":"replace","path":"meta.lastModified","value":"2024-01-01T00:00:00Z"}`),
			err: bad(Mutability, "Operation 1: meta.lastModified is read-only")},
		{name: "groups are read-only", body: patchBody(`{"op":"add","path":"groups","value":[{"value":"8"}]}`),
			err: bad(Mutability, "Operation 1: groups is read-only")},
		{name: "meta in a path-less value is read-only", body: patchBody(`{"op":"replace","value":{"meta":{"created":"x"}}}`),
			err: bad(Mutability, "Operation 1: meta is read-only")},
		{name: "path-less id equal to the user's is skipped", body: patchBody(`{"op":"replace","value":{"id":"42","displayName":"X"}}`),
			want: func(u *User) { u.DisplayName = "X" }},
		{name: "path-less id of another user", body: patchBody(`{"op":"replace","value":{"displayName":"X","id":"43"}}`),
			err: bad(Mutability, "Operation 1: id is read-only")},
		{name: "path-less schemas key is skipped", body: patchBody(`{"op":"replace","value":{"schemas":["x"],"active":"false"}}`),
			want: func(u *User) { u.Active = false }},
		{name: "path-less value not an object", body: patchBody(`{"op":"replace","value":"x"}`),
			err: bad(InvalidValue, "Operation 1: Without a path the value must be an object of attributes")},
		{name: "core schema URN as path", body: patchBody(`{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User","value":{"displayName":"Z"}}`),
			want: func(u *User) { u.DisplayName = "Z" }},
		{name: "core schema URN as a nested path-less object", body: patchBody(`{"op":"replace","value":{"urn:ietf:params:scim:schemas:core:2.0:User":{"active":"False","userName":"ada2@example.com"}}}`),
			want: func(u *User) { u.Active = false; u.UserName = "ada2@example.com" }},
		{name: "core schema URN cannot be removed", body: patchBody(`{"op":"remove","path":"urn:ietf:params:scim:schemas:core:2.0:User"}`),
			err: bad(InvalidPath, "Operation 1: urn:ietf:params:scim:schemas:core:2.0:User cannot be removed")},
		{name: "remove userName", body: patchBody(`{"op":"remove","path":"userName"}`),
			err: bad(Mutability, "Operation 1: userName is required and cannot be removed")},
		{name: "remove active", body: patchBody(`{"op":"remove","path":"active"}`),
			err: bad(Mutability, "Operation 1: active cannot be removed (replace it with false)")},
		{name: "empty userName", body: patchBody(`{"op":"replace","path":"userName","value":"  "}`),
			err: bad(InvalidValue, "Operation 1: userName must be a non-empty string")},
		{name: "userName is trimmed", body: patchBody(`{"op":"replace","path":"userName","value":" ada@new.example "}`),
			want: func(u *User) { u.UserName = "ada@new.example" }},
		{name: "externalId not a string", body: patchBody(`{"op":"replace","path":"externalId","value":{"a":1}}`),
			err: bad(InvalidValue, "Operation 1: externalId must be a string")},
		{name: "externalId as a number is its text", body: patchBody(`{"op":"replace","path":"externalId","value":1234}`),
			want: func(u *User) { u.ExternalID = "1234" }},
		{name: "remove optional attributes", body: patchBody(`{"op":"remove","path":"externalId"},{"op":"remove","path":"displayName"},{"op":"remove","path":"name.givenName"}`),
			want: func(u *User) { u.ExternalID = ""; u.DisplayName = ""; u.Name.GivenName = "" }},
		{name: "replace with null clears", body: patchBody(`{"op":"replace","path":"displayName","value":null}`),
			want: func(u *User) { u.DisplayName = "" }},
		{name: "remove name", body: patchBody(`{"op":"remove","path":"name"}`),
			want: func(u *User) { u.Name = Name{} }},
		{name: "replace name sets the parts given and keeps the others", body: patchBody(`{"op":"replace","path":"name","value":{"givenName":"Augusta","middleName":"Ada"}}`),
			want: func(u *User) { u.Name.GivenName = "Augusta" }},
		{name: "name not an object", body: patchBody(`{"op":"replace","path":"name","value":"Ada"}`),
			err: bad(InvalidValue, "Operation 1: name must be an object")},
		{name: "name part not a string", body: patchBody(`{"op":"replace","path":"name.familyName","value":["x"]}`),
			err: bad(InvalidValue, "Operation 1: name.familyName must be a string")},
		{name: "unstored name parts are ignored", body: patchBody(`{"op":"replace","path":"name.honorificPrefix","value":"Lady"}`)},
		{name: "replace emails", body: patchBody(`{"op":"replace","path":"emails","value":[{"value":"a@x.com","type":"Work","primary":"true"},{"value":"b@y.com","type":"home"}]}`),
			want: func(u *User) {
				u.Emails = []Email{{Value: "a@x.com", Type: "work", Primary: true}, {Value: "b@y.com", Type: "home"}}
			}},
		{name: "add emails updates a value already there and appends the others", body: patchBody(`{"op":"add","path":"emails","value":[{"value":"ADA@example.com","type":"work"},{"value":"ada@home.example","type":"home","primary":true}]}`),
			want: func(u *User) {
				u.Emails = []Email{{Value: "ada@example.com", Type: "work"}, {Value: "ada@home.example", Type: "home", Primary: true}}
			}},
		{name: "remove emails", body: patchBody(`{"op":"remove","path":"emails"}`),
			want: func(u *User) { u.Emails = nil }},
		{name: "remove a filtered email",
			before: func(u *User) { u.Emails = append(u.Emails, Email{Value: "ada@home.example", Type: "home"}) },
			body:   patchBody(`{"op":"remove","path":"emails[type eq \"home\"]"}`),
			want:   func(u *User) { u.Emails = u.Emails[:1] }},
		{name: "remove a filtered email that is not there is a no-op", body: patchBody(`{"op":"remove","path":"emails[type eq \"home\"].value"}`)},
		{name: "null on the work email removes it", body: patchBody(`{"op":"replace","path":"emails[type eq \"work\"].value","value":null}`),
			want: func(u *User) { u.Emails = nil }},
		{name: "replace the primary email's value", body: patchBody(`{"op":"replace","path":"emails[primary eq true].value","value":"lovelace@example.com"}`),
			want: func(u *User) { u.Emails[0].Value = "lovelace@example.com" }},
		{name: "make another email primary",
			before: func(u *User) { u.Emails = append(u.Emails, Email{Value: "ada@home.example", Type: "home"}) },
			body:   patchBody(`{"op":"replace","path":"emails[value eq \"ADA@home.example\"].primary","value":"True"}`),
			want:   func(u *User) { u.Emails[0].Primary = false; u.Emails[1].Primary = true }},
		{name: "replace a whole filtered email", body: patchBody(`{"op":"replace","path":"emails[type eq \"work\"]","value":{"value":"w@example.com","primary":false}}`),
			want: func(u *User) { u.Emails[0].Value = "w@example.com"; u.Emails[0].Primary = false }},
		{name: "replace on a filter matching nothing that describes no email", body: patchBody(`{"op":"replace","path":"emails[value co \"zz\"].value","value":"zz@example.com"}`),
			err: bad(NoTarget, `Operation 1: No email matches [value co "zz"]`)},
		{name: "email filter on an unknown sub-attribute", body: patchBody(`{"op":"replace","path":"emails[kind eq \"work\"].value","value":"x@example.com"}`),
			err: bad(InvalidPath, `Operation 1: Unsupported email filter [kind eq "work"]`)},
		{name: "email value not a string", body: patchBody(`{"op":"replace","path":"emails[type eq \"work\"].value","value":true}`),
			err: bad(InvalidValue, "Operation 1: emails.value must be a string")},
		{name: "bad filter in a path", body: patchBody(`{"op":"replace","path":"emails[type eq].value","value":"x"}`),
			err: bad(InvalidPath, `Operation 1: "emails[type eq].value" has an invalid filter`)},
		{name: "unclosed filter", body: patchBody(`{"op":"replace","path":"emails[type eq \"work\".value","value":"x"}`),
			err: bad(InvalidPath, `Operation 1: "emails[type eq \"work\".value" is not a valid path`)},
		{name: "filter on a single-valued attribute", body: patchBody(`{"op":"replace","path":"name[givenName eq \"Ada\"]","value":"x"}`),
			err: bad(InvalidPath, `Operation 1: Invalid path "name[givenName eq \"Ada\"]"`)},
		{name: "sub-attribute of a simple attribute", body: patchBody(`{"op":"replace","path":"active.value","value":false}`),
			err: bad(InvalidPath, `Operation 1: Invalid path "active.value"`)},
		{name: "unknown schema URN", body: patchBody(`{"op":"replace","path":"urn:example:custom:1.0:User:color","value":"x"}`),
			err: bad(InvalidPath, `Operation 1: Unknown schema in path "urn:example:custom:1.0:User:color"`)},
		{name: "extension attribute other than orgRole", body: patchBody(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User:team","value":"x"}`),
			err: bad(InvalidPath, `Operation 1: urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User has no attribute "team"`)},
		{name: "extension object with another attribute", body: patchBody(`{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User":{"team":"x"}}}`),
			err: bad(InvalidPath, `Operation 1: urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User has no attribute "team"`)},
		{name: "sentryOrgRole path", body: patchBody(`{"op":"replace","path":"sentryOrgRole","value":" admin "}`),
			want: func(u *User) { u.OrgRole = "admin" }},
		{name: "orgRole as a path-less key", body: patchBody(`{"op":"replace","value":{"orgRole":"billing"}}`),
			want: func(u *User) { u.OrgRole = "billing" }},
		{name: "remove orgRole by its URN path", before: func(u *User) { u.OrgRole = "admin" },
			body: patchBody(`{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User:orgRole"}`),
			want: func(u *User) { u.OrgRole = "" }},
		{name: "remove the extension object", before: func(u *User) { u.OrgRole = "admin" },
			body: patchBody(`{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User"}`),
			want: func(u *User) { u.OrgRole = "" }},
		{name: "orgRole not a string", body: patchBody(`{"op":"replace","path":"orgRole","value":3.5e0}`),
			want: func(u *User) { u.OrgRole = "3.5e0" }},
		{name: "orgRole an object", body: patchBody(`{"op":"replace","path":"orgRole","value":{"role":"admin"}}`),
			err: bad(InvalidValue, "Operation 1: orgRole must be a string")},
		{name: "unknown attribute", body: patchBody(`{"op":"add","path":"favoriteColor","value":"green"}`),
			err: bad(InvalidPath, `Operation 1: Unknown attribute "favoriteColor"`)},
		{name: "unknown attribute in a path-less value", body: patchBody(`{"op":"add","value":{"displayName":"X","favoriteColor":"green"}}`),
			err: bad(InvalidPath, `Operation 1: Unknown attribute "favoriteColor"`)},
		{name: "malformed path", body: patchBody(`{"op":"add","path":"display Name","value":"x"}`),
			err: bad(InvalidPath, `Operation 1: "display Name" is not a valid path`)},
		{name: "remove without path", body: patchBody(`{"op":"remove"}`),
			err: bad(NoTarget, "operation 1 (remove) needs a path")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := ada()
			if tt.before != nil {
				tt.before(&start)
			}
			want := *start.Clone()
			if tt.want != nil {
				tt.want(&want)
			}
			got := *start.Clone()
			ops, err := ParsePatch(body(t, tt.body))
			if err == nil {
				err = ApplyUserPatch(&got, ops)
			}
			checkErr(t, err, tt.err)
			if tt.err != nil {
				want = start // all or nothing
			}
			deepEqual(t, "user", got, want)
		})
	}
}

// TestEmailFilters pins how emails[filter] paths match: each row removes the emails
// its filter matches from three and lists the ones left.
func TestEmailFilters(t *testing.T) {
	three := []Email{
		{Value: "ada@example.com", Type: "work", Primary: true},
		{Value: "ada@home.example", Type: "home"},
		{Value: "ADA@other.example", Type: "other"},
	}
	tests := []struct {
		name   string
		filter string
		left   []string
		err    *Error
	}{
		{name: "eq without case", filter: `type eq "HOME"`, left: []string{"ada@example.com", "ADA@other.example"}},
		{name: "ne", filter: `type ne "work"`, left: []string{"ada@example.com"}},
		{name: "co", filter: `value co "OTHER"`, left: []string{"ada@example.com", "ada@home.example"}},
		{name: "sw", filter: `value sw "ada@h"`, left: []string{"ada@example.com", "ADA@other.example"}},
		{name: "ew", filter: `value ew ".example"`, left: []string{"ada@example.com"}},
		{name: "gt and le", filter: `type gt "home" and type le "other"`, left: []string{"ada@example.com", "ada@home.example"}},
		{name: "ge, lt", filter: `type ge "work" or type lt "home"`, left: []string{"ada@home.example", "ADA@other.example"}},
		{name: "pr", filter: `type pr`, left: nil},
		{name: "display is never set", filter: `display pr`, left: []string{"ada@example.com", "ada@home.example", "ADA@other.example"}},
		{name: "primary eq true", filter: `primary eq true`, left: []string{"ada@home.example", "ADA@other.example"}},
		{name: "primary ne true", filter: `primary ne true`, left: []string{"ada@example.com"}},
		{name: "primary as a string", filter: `primary eq "False"`, left: []string{"ada@example.com"}},
		{name: "primary pr", filter: `primary pr`, left: nil},
		{name: "not", filter: `not (type eq "work")`, left: []string{"ada@example.com"}},
		{name: "or", filter: `type eq "work" or type eq "other"`, left: []string{"ada@home.example"}},
		{name: "number compared as text", filter: `value eq 5`, left: []string{"ada@example.com", "ada@home.example", "ADA@other.example"}},
		{name: "primary gt", filter: `primary gt true`, err: bad(InvalidPath, `Operation 1: Unsupported email filter [primary gt true]`)},
		{name: "value compared with a boolean", filter: `value eq true`, err: bad(InvalidPath, "Operation 1: Email filters compare with strings")},
		{name: "sub-attribute in the filter", filter: `value.x eq "a"`, err: bad(InvalidPath, `Operation 1: Unsupported email filter [value.x eq "a"]`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := ada()
			u.Emails = append([]Email(nil), three...)
			ops := []PatchOp{{Op: "remove", Path: "emails[" + tt.filter + "]"}}
			err := ApplyUserPatch(&u, ops)
			checkErr(t, err, tt.err)
			var left []string
			for _, e := range u.Emails {
				left = append(left, e.Value)
			}
			if tt.err != nil {
				tt.left = []string{"ada@example.com", "ada@home.example", "ADA@other.example"}
			}
			deepEqual(t, "emails left", left, tt.left)
		})
	}
}

// TestEmailFromFilter pins which email a replace on a filter matching nothing adds.
func TestEmailFromFilter(t *testing.T) {
	tests := []struct {
		name   string
		before []Email
		path   string
		want   []Email
		err    *Error
	}{
		{name: "type and primary", path: `emails[type eq "Work" and primary eq true].value`,
			want: []Email{{Value: "new@example.com", Type: "work", Primary: true}}},
		{name: "the first email is primary", path: `emails[type eq "home"].value`,
			want: []Email{{Value: "new@example.com", Type: "home", Primary: true}}},
		{name: "next to another email it is not", before: []Email{{Value: "a@example.com", Type: "work", Primary: true}},
			path: `emails[type eq "home"].value`,
			want: []Email{{Value: "a@example.com", Type: "work", Primary: true}, {Value: "new@example.com", Type: "home"}}},
		{name: "value in the filter, type set", path: `emails[value eq "x@example.com"].type`,
			want: []Email{{Value: "x@example.com", Type: "new@example.com", Primary: true}}},
		{name: "or describes no email", path: `emails[type eq "work" or type eq "home"].value`,
			err: bad(NoTarget, `Operation 1: No email matches [type eq "work" or type eq "home"]`)},
		{name: "not describes no email", path: `emails[not (type eq "work")].value`,
			err: bad(NoTarget, `Operation 1: No email matches [not(type eq "work")]`)},
		{name: "ne describes no email", path: `emails[type ne "work"].value`,
			err: bad(NoTarget, `Operation 1: No email matches [type ne "work"]`)},
		{name: "display describes no email", path: `emails[display eq "x"].value`,
			err: bad(NoTarget, `Operation 1: No email matches [display eq "x"]`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := ada()
			u.Emails = tt.before
			err := ApplyUserPatch(&u, []PatchOp{{Op: "replace", Path: tt.path, Value: []byte(`"new@example.com"`)}})
			checkErr(t, err, tt.err)
			if tt.err != nil {
				tt.want = tt.before
			}
			deepEqual(t, "emails", u.Emails, tt.want)
		})
	}
}
