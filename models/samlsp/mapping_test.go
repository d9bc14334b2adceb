package samlsp_test

import (
	"errors"
	"strings"
	"testing"

	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

const (
	fmtEmail       = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	fmtUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	fmtPersistent  = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
	fmtTransient   = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
	claims         = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
	entraClaims    = "http://schemas.microsoft.com/identity/claims/"
)

func preset(t *testing.T, kind string) samlsp.Mapping {
	t.Helper()
	p, ok := samlsp.PresetOf(kind)
	if !ok {
		t.Fatalf("no preset %s", kind)
	}
	return p.Mapping
}

// TestPresetsWithVendorShapes: each preset signs in what the vendor's default app
// sends, as well as its catalogue app, through a signed response validated end to
// end. Names are what the IdP shows in its own setup pages.
func TestPresetsWithVendorShapes(t *testing.T) {
	idp := samltest.New(t, "https://idp.example")
	s := settingsFor(idp)
	for _, tc := range []struct {
		name    string
		mapping samlsp.Mapping
		format  string
		nameID  string
		attrs   map[string][]string
		want    samlsp.Identity
		wantErr string // part of the mapping error
	}{
		{name: "Okta catalogue app", mapping: preset(t, "okta"), format: fmtUnspecified, nameID: "alice@example.com",
			attrs: map[string][]string{"identifier": {"00u1abc"}, "email": {"alice@example.com"}, "firstName": {"Alice"}, "lastName": {"Adams"}},
			want:  samlsp.Identity{ID: "00u1abc", Email: "alice@example.com", FirstName: "Alice", LastName: "Adams"}},
		{name: "Okta App Integration Wizard app (names as Okta's setup page spells them)", mapping: preset(t, "okta"), format: fmtEmail, nameID: "alice@example.com",
			attrs: map[string][]string{"email": {"alice@example.com"}, "FirstName": {"Alice"}, "LastName": {"Adams"}},
			want:  samlsp.Identity{ID: "alice@example.com", Email: "alice@example.com", FirstName: "Alice", LastName: "Adams"}},
		{name: "Okta wizard app with no attribute statements", mapping: preset(t, "okta"), format: fmtEmail, nameID: "alice@example.com",
			attrs: map[string][]string{},
			want:  samlsp.Identity{ID: "alice@example.com", Email: "alice@example.com"}},
		{name: "Entra ID with mail", mapping: preset(t, "entra"), format: fmtEmail, nameID: "alice@contoso.onmicrosoft.com",
			attrs: map[string][]string{claims + "name": {"alice@contoso.onmicrosoft.com"}, claims + "emailaddress": {"alice@contoso.com"},
				claims + "givenname": {"Alice"}, claims + "surname": {"Adams"}, entraClaims + "objectidentifier": {"6f9d-1"}, entraClaims + "tenantid": {"t-1"}},
			want: samlsp.Identity{ID: "alice@contoso.onmicrosoft.com", Email: "alice@contoso.com", FirstName: "Alice", LastName: "Adams"}},
		{name: "Entra ID without mail (no emailaddress claim)", mapping: preset(t, "entra"), format: fmtEmail, nameID: "bob@contoso.onmicrosoft.com",
			attrs: map[string][]string{claims + "name": {"bob@contoso.onmicrosoft.com"}, claims + "givenname": {"Bob"}, entraClaims + "objectidentifier": {"6f9d-2"}},
			want:  samlsp.Identity{ID: "bob@contoso.onmicrosoft.com", Email: "bob@contoso.onmicrosoft.com", FirstName: "Bob"}},
		{name: "OneLogin", mapping: preset(t, "onelogin"), format: fmtEmail, nameID: "alice@example.com",
			attrs: map[string][]string{"PersonImmutableID": {"ol-42"}, "User.email": {"alice@example.com"}, "User.FirstName": {"Alice"}, "User.LastName": {"Adams"}},
			want:  samlsp.Identity{ID: "ol-42", Email: "alice@example.com", FirstName: "Alice", LastName: "Adams"}},
		{name: "Auth0 default claims (claim URIs)", mapping: preset(t, "auth0"), format: fmtUnspecified, nameID: "auth0|123",
			attrs: map[string][]string{claims + "nameidentifier": {"auth0|123"}, claims + "emailaddress": {"alice@example.com"},
				claims + "name": {"alice@example.com"}, claims + "upn": {"alice@example.com"}, claims + "givenname": {"Alice"}, claims + "surname": {"Adams"}},
			want: samlsp.Identity{ID: "auth0|123", Email: "alice@example.com", FirstName: "Alice", LastName: "Adams"}},
		{name: "Auth0 with Sentry's documented mappings", mapping: preset(t, "auth0"), format: fmtUnspecified, nameID: "auth0|123",
			attrs: map[string][]string{"user_id": {"auth0|123"}, "email": {"alice@example.com"}, "name": {"Alice Adams"}},
			want:  samlsp.Identity{ID: "auth0|123", Email: "alice@example.com", FirstName: "Alice Adams"}},
		{name: "JumpCloud (mapping typed by the owner)", mapping: samlsp.Mapping{Identifier: samlsp.NameIDKey, Email: "email", FirstName: "firstname", LastName: "lastname"},
			format: fmtEmail, nameID: "alice@example.com",
			attrs: map[string][]string{"email": {"alice@example.com"}, "firstname": {"Alice"}, "lastname": {"Adams"}},
			want:  samlsp.Identity{ID: "alice@example.com", Email: "alice@example.com", FirstName: "Alice", LastName: "Adams"}},
		{name: "Google Workspace (no attributes by default)", mapping: samlsp.Mapping{Identifier: samlsp.NameIDKey, Email: "email"},
			format: fmtEmail, nameID: "alice@example.com", attrs: map[string][]string{},
			want: samlsp.Identity{ID: "alice@example.com", Email: "alice@example.com"}},
		{name: "Google Workspace with its usual attribute names", mapping: samlsp.Mapping{Identifier: samlsp.NameIDKey, Email: "email", FirstName: "first_name", LastName: "last_name"},
			format: fmtEmail, nameID: "alice@example.com", attrs: map[string][]string{"email": {"alice@example.com"}, "givenName": {"Alice"}, "sn": {"Adams"}},
			want: samlsp.Identity{ID: "alice@example.com", Email: "alice@example.com", FirstName: "Alice", LastName: "Adams"}},
		{name: "transient NameID never keys an identity", mapping: preset(t, "okta"), format: fmtTransient, nameID: "_t1",
			attrs:   map[string][]string{"email": {"alice@example.com"}, "uid": {"alice"}},
			wantErr: "Set IdP User ID to one of the keys above (the IdP did not send 'identifier', and its NameID is transient"},
		{name: "email under another key names that key", mapping: samlsp.Mapping{Identifier: "uid", Email: "email"}, format: fmtPersistent, nameID: "p-1",
			attrs:   map[string][]string{"uid": {"alice"}, "mail": {"alice@example.com"}},
			wantErr: "Failed to map SAML attributes. Assertion returned the following attribute keys: 'mail', 'uid'. The IdP did not send 'email': set User Email to 'mail'"},
		{name: "no email anywhere", mapping: samlsp.Mapping{Identifier: "uid", Email: "email"}, format: fmtPersistent, nameID: "p-1",
			attrs:   map[string][]string{"uid": {"alice"}},
			wantErr: "sent no email address: add an email attribute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := idp.Response(t, s.SP, samltest.User{NameID: tc.nameID, Attributes: tc.attrs}, samltest.Options{NameIDFormat: tc.format})
			a, err := samlsp.ValidateResponse(s, raw, "")
			if err != nil {
				t.Fatal(err)
			}
			if a.NameIDFormat != tc.format {
				t.Fatalf("format %q", a.NameIDFormat)
			}
			id, err := samlsp.MapIdentity(a, tc.mapping)
			if tc.wantErr != "" {
				var me *samlsp.MapError
				if !errors.As(err, &me) || !strings.Contains(me.Msg, tc.wantErr) {
					t.Fatalf("got %v, want a mapping error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || id != tc.want {
				t.Fatalf("got %+v %v, want %+v", id, err, tc.want)
			}
		})
	}
}
