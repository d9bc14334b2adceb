// Package oauthtest runs Google (OpenID Connect) and GitHub (OAuth2 + REST API) as
// in-process HTTP servers, so that tests can drive the real sign-in code — built on
// golang.org/x/oauth2 and github.com/coreos/go-oidc/v3 — against providers that behave
// like the real ones: discovery document, JWKS with a real RSA-2048 key, RS256-signed ID
// tokens, one-time authorization codes bound to a PKCE S256 challenge, a token endpoint
// that accepts client credentials in HTTP Basic or in the form, and GitHub's /user,
// /user/emails and /user/memberships/orgs/{org}.
//
// # Google
//
//	g := oauthtest.NewGoogle(t, "client-id", "client-secret")
//	g.SetNextUser(oauthtest.GoogleUser{Email: "ann@example.com", EmailVerified: true, HD: "example.com"})
//	provider, _ := oidc.NewProvider(ctx, g.URL)   // issuer == g.URL, discovery at g.URL+"/.well-known/openid-configuration"
//	conf := oauth2.Config{ClientID: g.ClientID, ClientSecret: g.ClientSecret,
//		Endpoint: provider.Endpoint(), // == g.Endpoint()
//		RedirectURL: appURL + "/callback", Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
//
// Endpoints (all relative to g.URL): /.well-known/openid-configuration,
// /o/oauth2/v2/auth, /token, /oauth2/v3/certs, /v1/userinfo.
//
// # GitHub
//
// The web host and the API host are the same server: use g.URL+"/login/oauth/authorize"
// and g.URL+"/login/oauth/access_token" (or g.Endpoint()) for x/oauth2, and g.URL (no
// trailing slash, no /api/v3) as the REST API base in place of https://api.github.com.
//
// # Users
//
// SetNextUser chooses who is signed in at the provider: every following authorization
// request is answered for that user (it stays in effect until the next SetNextUser). A
// code is bound to a snapshot of the user taken at authorization time, and so are the
// tokens it is exchanged for: changing the user later does not change what an earlier
// code or token returns.
//
// # Strictness
//
// The servers are deliberately at least as strict as the real providers: the
// authorization request must carry state and (for Google) a PKCE S256 challenge; the
// "plain" PKCE method is refused; a code is valid for 10 minutes and can be exchanged
// once (a second exchange also revokes the access token issued by the first). A
// rejected request is reported with t.Logf, prefixed "oauthtest:".
package oauthtest
