package scim

import (
	"encoding/json"
	"testing"
	"time"
)

func TestMarshal(t *testing.T) {
	full := ada()
	full.OrgRole = "admin"
	full.Name.Formatted = "Ada King"
	full.Meta.LastModified = t1.In(time.FixedZone("CEST", 2*3600))
	full.Meta.Version = `W/"3"`
	tests := []struct {
		name string
		v    any
		want string
	}{
		{name: "user with every attribute", v: &full,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User"],` +
				`"id":"42","externalId":"ext-42","userName":"ada@example.com",` +
				`"name":{"formatted":"Ada King","familyName":"Lovelace","givenName":"Ada"},"displayName":"Ada Lovelace",` +
				`"emails":[{"value":"ada@example.com","type":"work","primary":true}],"active":true,` +
				`"groups":[{"value":"7","$ref":"` + base + `/Groups/7","display":"Engines"}],` +
				`"urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User":{"orgRole":"admin"},` +
				`"meta":{"resourceType":"User","created":"2024-05-01T09:30:00Z","lastModified":"2024-06-02T10:45:15Z",` +
				`"location":"` + base + `/Users/42","version":"W/\"3\""}}`},
		{name: "user as a value, not a pointer", v: ada(),
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"42","externalId":"ext-42","userName":"ada@example.com",` +
				`"name":{"familyName":"Lovelace","givenName":"Ada"},"displayName":"Ada Lovelace",` +
				`"emails":[{"value":"ada@example.com","type":"work","primary":true}],"active":true,` +
				`"groups":[{"value":"7","$ref":"` + base + `/Groups/7","display":"Engines"}],` +
				`"meta":{"resourceType":"User","created":"2024-05-01T09:30:00Z","lastModified":"2024-05-01T09:30:00Z","location":"` + base + `/Users/42"}}`},
		{name: "user with only the required attributes", v: &User{ID: "5", UserName: "p@x.io"},
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"5","userName":"p@x.io","active":false,"meta":{"resourceType":"User"}}`},
		{name: "group with members", v: &Group{ID: "7", ExternalID: "e7", DisplayName: "Engines",
			Members: []Member{{Value: "42", Display: "ada@example.com"}, {Value: "43"}},
			Meta:    Meta{Created: t0, LastModified: t1, Location: base + "/Groups/7"}},
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"7","externalId":"e7","displayName":"Engines",` +
				`"members":[{"value":"42","display":"ada@example.com"},{"value":"43"}],` +
				`"meta":{"resourceType":"Group","created":"2024-05-01T09:30:00Z","lastModified":"2024-06-02T10:45:15Z","location":"` + base + `/Groups/7"}}`},
		{name: "group with members excluded (nil)", v: Group{ID: "7", DisplayName: "Engines"},
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"7","displayName":"Engines","meta":{"resourceType":"Group"}}`},
		{name: "group without members (empty)", v: &Group{ID: "7", DisplayName: "Engines", Members: []Member{}},
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"7","displayName":"Engines","members":[],"meta":{"resourceType":"Group"}}`},
		{name: "empty list", v: ListResponse{StartIndex: 1},
			want: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"startIndex":1,"itemsPerPage":0,"Resources":[]}`},
		{name: "list page", v: ListResponse{TotalResults: 12, StartIndex: 11, Resources: []any{&Group{ID: "1", DisplayName: "A"}, Group{ID: "2", DisplayName: "B"}}},
			want: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":12,"startIndex":11,"itemsPerPage":2,"Resources":[` +
				`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"1","displayName":"A","meta":{"resourceType":"Group"}},` +
				`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"2","displayName":"B","meta":{"resourceType":"Group"}}]}`},
		{name: "error with scimType", v: Errorf(400, InvalidValue, "orgRole %q is not a role", "boss"),
			want: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidValue","detail":"orgRole \"boss\" is not a role"}`},
		{name: "error without scimType", v: Errorf(404, "", "User 9 not found"),
			want: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404","detail":"User 9 not found"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("json =\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{name: "with scimType", err: Errorf(409, Uniqueness, "User %s already exists", "a@b.c"), want: "scim: 409 uniqueness: User a@b.c already exists"},
		{name: "without scimType", err: Errorf(401, "", "A valid bearer token is required"), want: "scim: 401: A valid bearer token is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Fatalf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseUser(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *User
		err  *Error
	}{
		{name: "okta: create", body: "okta/user-create.json", want: &User{
			UserName: "Runscope123Abcdefgh456@atko.com", DisplayName: "Runscope123 Abcdefgh456",
			Name:   Name{GivenName: "Runscope123", FamilyName: "Abcdefgh456"},
			Emails: []Email{{Value: "Runscope123Abcdefgh456@atko.com", Type: "work", Primary: true}}, Active: true}},
		{name: "okta: PUT of the whole user (id, groups, password, locale ignored; sentryOrgRole read)", body: "okta/user-put.json", want: &User{
			ExternalID: "00ujl29u0le5T6Aj10h7", UserName: "test.user@okta.local", DisplayName: "Another User",
			Name:   Name{GivenName: "Another", FamilyName: "User"},
			Emails: []Email{{Value: "test.user@okta.local", Type: "work", Primary: true}}, Active: false, OrgRole: "admin"}},
		{name: "entra: create with string boolean, enterprise and gatehouse extensions", body: "entra/user-create.json", want: &User{
			ExternalID: "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", UserName: "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@testuser.com",
			Name:   Name{GivenName: "givenName", FamilyName: "familyName", Formatted: "givenName familyName"},
			Emails: []Email{{Value: "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com", Type: "work", Primary: true}},
			Active: true, OrgRole: "manager"}},
		{name: "postman: Primary spelt with a capital", body: "postman/user-enterprise.json", want: &User{
			ExternalID: "e5bd6bb0-5b8c-4b49-9d2b-1f0b0cc3b8f1", UserName: "UserName222", DisplayName: "lennay",
			Name:   Name{GivenName: "Andrew", FamilyName: "Ryan", Formatted: "Adrew Ryan"},
			Emails: []Email{{Value: "testing@bob2.com", Type: "work", Primary: true}, {Value: "testinghome@bob3.com", Type: "home"}},
			Active: true}},
		{name: "postman: garbage attributes ignored, only the first primary stays primary", body: "postman/user-garbage.json", want: &User{
			ExternalID: "22fbc523-6032-4c5f-939d-5d4850cf3e52", UserName: "OMalley", DisplayName: "Kimberly Baker",
			Name:   Name{GivenName: "Darl", FamilyName: "OMalley", Formatted: "Daniel Mcgee"},
			Emails: []Email{{Value: "anna33@gmail.com", Type: "work", Primary: true}, {Value: "anna33@example.com", Type: "work"}},
			Active: true}},
		{name: "top-level orgRole, trimmed", body: `{"userName":"a@b.c","orgRole":" Admin "}`,
			want: &User{UserName: "a@b.c", Active: true, OrgRole: "Admin"}},
		{name: "orgRole wins over sentryOrgRole", body: `{"userName":"a@b.c","sentryOrgRole":"member","orgRole":"billing"}`,
			want: &User{UserName: "a@b.c", Active: true, OrgRole: "billing"}},
		{name: "the extension wins over orgRole",
			body: `{"orgRole":"billing","urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User":{"OrgRole":"admin"},"userName":"a@b.c"}`,
			want: &User{UserName: "a@b.c", Active: true, OrgRole: "admin"}},
		{name: "URN-qualified keys", body: `{"urn:ietf:params:scim:schemas:core:2.0:User:userName":"a@b.c","urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User:orgRole":"member"}`,
			want: &User{UserName: "a@b.c", Active: true, OrgRole: "member"}},
		{name: "attribute names in any case", body: `{"USERNAME":" a@b.c ","Active":"false","DisplayName":"D","NAME":{"GIVENNAME":"G"}}`,
			want: &User{UserName: "a@b.c", DisplayName: "D", Name: Name{GivenName: "G"}}},
		{name: "active null reads as true, nulls clear", body: `{"userName":"a@b.c","active":null,"externalId":null,"name":null,"emails":null,"urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User":null}`,
			want: &User{UserName: "a@b.c", Active: true}},
		{name: "emails as a single object; a value-less email is dropped", body: `{"userName":"a@b.c","emails":{"value":" a@b.c ","type":"WORK"}}`,
			want: &User{UserName: "a@b.c", Active: true, Emails: []Email{{Value: "a@b.c", Type: "work"}}}},
		{name: "value-less emails dropped, string primary", body: `{"userName":"a@b.c","emails":[{"type":"work"},{"value":"a@b.c","primary":"True"}]}`,
			want: &User{UserName: "a@b.c", Active: true, Emails: []Email{{Value: "a@b.c", Primary: true}}}},
		{name: "userName as a number is its text", body: `{"userName":12}`, want: &User{UserName: "12", Active: true}},
		{name: "no userName", body: `{"displayName":"x"}`, err: bad(InvalidValue, "userName is required")},
		{name: "blank userName", body: `{"userName":"  "}`, err: bad(InvalidValue, "userName is required")},
		{name: "userName not a string", body: `{"userName":{"a":1}}`, err: bad(InvalidValue, "userName must be a string")},
		{name: "malformed JSON", body: `{"userName":"a@b.c",}`, err: bad(InvalidSyntax, "The request body is not valid JSON")},
		{name: "empty body", body: ``, err: bad(InvalidSyntax, "The request body is not valid JSON")},
		{name: "array body", body: `[{"userName":"a@b.c"}]`, err: bad(InvalidSyntax, "The request body must be a JSON object")},
		{name: "active not a boolean", body: `{"userName":"a@b.c","active":"yes"}`, err: bad(InvalidValue, "active must be a boolean")},
		{name: "emails not an array", body: `{"userName":"a@b.c","emails":"a@b.c"}`, err: bad(InvalidValue, "emails must be an array")},
		{name: "email not an object", body: `{"userName":"a@b.c","emails":["a@b.c"]}`, err: bad(InvalidValue, "each value of emails must be an object")},
		{name: "email primary not a boolean", body: `{"userName":"a@b.c","emails":[{"value":"a@b.c","primary":"yes"}]}`,
			err: bad(InvalidValue, "emails.primary must be a boolean")},
		{name: "email value not a string", body: `{"userName":"a@b.c","emails":[{"value":["a@b.c"]}]}`,
			err: bad(InvalidValue, "emails.value must be a string")},
		{name: "name not an object", body: `{"userName":"a@b.c","name":"Ada"}`, err: bad(InvalidValue, "name must be an object")},
		{name: "name part not a string", body: `{"userName":"a@b.c","name":{"givenName":["Ada"]}}`, err: bad(InvalidValue, "name.givenName must be a string")},
		{name: "externalId not a string", body: `{"userName":"a@b.c","externalId":{}}`, err: bad(InvalidValue, "externalId must be a string")},
		{name: "extension not an object", body: `{"userName":"a@b.c","urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User":"admin"}`,
			err: bad(InvalidValue, "urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User must be an object")},
		{name: "orgRole not a string", body: `{"userName":"a@b.c","sentryOrgRole":["admin"]}`, err: bad(InvalidValue, "sentryOrgRole must be a string")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUser(body(t, tt.body))
			checkErr(t, err, tt.err)
			deepEqual(t, "user", got, tt.want)
		})
	}
}

func TestParseGroup(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *Group
		err  *Error
	}{
		{name: "okta: create with no members", body: "okta/group-create.json",
			want: &Group{DisplayName: "Test SCIMv2", Members: []Member{}}},
		{name: "entra: create without members attribute", body: "entra/group-create.json",
			want: &Group{ExternalID: "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", DisplayName: "displayName"}},
		{name: "postman: create with a member", body: "postman/group-create-filled.json",
			want: &Group{ExternalID: "5c7a3b1e-0b43-4c8b-9a70-2b1d8e6c9f00", DisplayName: "GroupDisplayName2", Members: []Member{{Value: "31", Display: "VP"}}}},
		{name: "postman: PUT, id ignored, repeated member dropped", body: "postman/group-put.json",
			want: &Group{DisplayName: "putName", Members: []Member{{Value: "31", Display: "VP"}, {Value: "32", Display: "SenorVP"}}}},
		{name: "names in any case, URN-qualified, members null", body: `{"urn:ietf:params:scim:schemas:core:2.0:Group:DISPLAYNAME":"Ops","ExternalId":"x","Members":null}`,
			want: &Group{ExternalID: "x", DisplayName: "Ops"}},
		{name: "member ids as numbers and bare strings", body: `{"displayName":"Ops","members":[{"value":5},"6"]}`,
			want: &Group{DisplayName: "Ops", Members: []Member{{Value: "5"}, {Value: "6"}}}},
		{name: "no displayName", body: `{"members":[]}`, err: bad(InvalidValue, "displayName is required")},
		{name: "blank displayName", body: `{"displayName":" "}`, err: bad(InvalidValue, "displayName is required")},
		{name: "displayName not a string", body: `{"displayName":["Ops"]}`, err: bad(InvalidValue, "displayName must be a string")},
		{name: "externalId not a string", body: `{"displayName":"Ops","externalId":true}`, err: bad(InvalidValue, "externalId must be a string")},
		{name: "member without value", body: `{"displayName":"Ops","members":[{"display":"x"}]}`,
			err: bad(InvalidValue, "each value of members needs a value (the User id)")},
		{name: "member value not a string", body: `{"displayName":"Ops","members":[{"value":{"id":1}}]}`,
			err: bad(InvalidValue, "members.value must be a string")},
		{name: "member display not a string", body: `{"displayName":"Ops","members":[{"value":"1","display":[]}]}`,
			err: bad(InvalidValue, "members.display must be a string")},
		{name: "malformed JSON", body: `{"displayName":`, err: bad(InvalidSyntax, "The request body is not valid JSON")},
		{name: "not an object", body: `"Ops"`, err: bad(InvalidSyntax, "The request body must be a JSON object")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseGroup(body(t, tt.body))
			checkErr(t, err, tt.err)
			deepEqual(t, "group", got, tt.want)
		})
	}
}

func TestParsePaging(t *testing.T) {
	tests := []struct {
		name              string
		startIndex, count string
		start, n          int
		err               *Error
	}{
		{name: "defaults", start: 1, n: 100},
		{name: "okta: first user", startIndex: "1", count: "1", start: 1, n: 1},
		{name: "zero start reads as 1, zero count is kept", startIndex: "0", count: "0", start: 1, n: 0},
		{name: "negative values", startIndex: "-5", count: "-1", start: 1, n: 0},
		{name: "start not a number", startIndex: "abc", count: "10", start: 1, n: 10},
		{name: "count above 1000", startIndex: "3", count: "2000", start: 3, n: 1000},
		{name: "spaces", startIndex: " 2 ", count: " 50 ", start: 2, n: 50},
		{name: "huge count", startIndex: "1", count: "99999999999999999999", start: 1, n: 1000},
		{name: "huge negative count", startIndex: "1", count: "-99999999999999999999", start: 1, n: 0},
		{name: "count not a number", startIndex: "1", count: "abc", err: bad(InvalidValue, "count must be a non-negative integer")},
		{name: "count not an integer", startIndex: "1", count: "1.5", err: bad(InvalidValue, "count must be a non-negative integer")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, n, err := ParsePaging(tt.startIndex, tt.count)
			checkErr(t, err, tt.err)
			if start != tt.start || n != tt.n {
				t.Fatalf("ParsePaging = (%d, %d), want (%d, %d)", start, n, tt.start, tt.n)
			}
		})
	}
}

func TestUserHelpers(t *testing.T) {
	tests := []struct {
		name   string
		emails []Email
		want   string
	}{
		{name: "none"},
		{name: "the primary one", emails: []Email{{Value: "w@x", Type: "work"}, {Value: "p@x", Primary: true}}, want: "p@x"},
		{name: "else the work one", emails: []Email{{Value: "h@x", Type: "home"}, {Value: "w@x", Type: "Work"}}, want: "w@x"},
		{name: "else the first", emails: []Email{{Value: "h@x", Type: "home"}, {Value: "o@x"}}, want: "h@x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &User{Emails: tt.emails}
			if got := u.PrimaryEmail(); got != tt.want {
				t.Fatalf("PrimaryEmail() = %q, want %q", got, tt.want)
			}
			c := u.Clone()
			if len(c.Emails) > 0 {
				c.Emails[0].Value = "changed"
				if u.Emails[0].Value == "changed" {
					t.Fatal("Clone shares its emails with the original")
				}
			}
		})
	}
}
