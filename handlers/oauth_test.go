package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/handlers/testapp"
	"gatehouse/models/oauth"
	"gatehouse/models/oauth/oauthtest"
)

// oauthEnv is org acme with Google or GitHub configured against in-process providers.
type oauthEnv struct {
	t      *testing.T
	a      *testapp.App
	owner  *testapp.Client
	google *oauthtest.Google
	github *oauthtest.GitHub
}

func newOAuthEnv(t *testing.T) *oauthEnv {
	t.Helper()
	g := oauthtest.NewGoogle(t, "google-client", "google-secret")
	gh := oauthtest.NewGitHub(t, "github-client", "github-secret")
	a := testapp.New(t, testapp.Options{
		Google: &oauth.Google{ClientID: g.ClientID, ClientSecret: g.ClientSecret, Issuer: g.URL},
		GitHub: &oauth.GitHub{ClientID: gh.ClientID, ClientSecret: gh.ClientSecret, BaseURL: gh.URL, APIURL: gh.URL},
	})
	return &oauthEnv{t: t, a: a, owner: setUp(t, a), google: g, github: gh}
}

// follow sends the browser through the provider (who signs in is set beforehand) and
// back to our callback, returning the callback's answer.
func (e *oauthEnv) follow(c *testapp.Client, start *testapp.Response) *testapp.Response {
	e.t.Helper()
	if start.Status != http.StatusSeeOther {
		e.t.Fatalf("start: %d %s", start.Status, start.Body)
	}
	cb, err := oauthtest.Authorize(start.Location)
	if err != nil {
		e.t.Fatalf("authorize %s: %v", start.Location, err)
	}
	if !strings.HasPrefix(cb.String(), e.a.BaseURL+"/auth/oauth/callback/") {
		e.t.Fatalf("callback %s", cb)
	}
	return c.Get(cb.RequestURI())
}

func googleUser(email, hd string) oauthtest.GoogleUser {
	return oauthtest.GoogleUser{Email: email, EmailVerified: true, HD: hd, GivenName: "G", FamilyName: "User"}
}

func (e *oauthEnv) setUpGoogle() {
	e.t.Helper()
	if res := e.owner.Post("/settings/acme/auth/configure/google/", url.Values{"domains": {"example.com\nexample.org"}}); res.Status != http.StatusSeeOther {
		e.t.Fatalf("configure google: %d %s", res.Status, res.Body)
	}
	e.google.SetNextUser(googleUser("owner@example.com", "example.com"))
	if res := e.follow(e.owner, e.owner.Post("/settings/acme/auth/activate/", nil)); res.Location != "/settings/acme/auth/" {
		e.t.Fatalf("activation: %d %s %s", res.Status, res.Location, res.Body)
	}
}

func TestGoogleWorkspaceSignIn(t *testing.T) {
	e := newOAuthEnv(t)
	// Setup validation: a personal domain is refused.
	if res := e.owner.Post("/settings/acme/auth/configure/google/", url.Values{"domains": {"gmail.com"}}); res.Status != 422 || !strings.Contains(res.Text(`[data-testid="error-domains"]`), "personal Google domain") {
		t.Fatalf("gmail.com: %d %q", res.Status, res.Text(`[data-testid="error-domains"]`))
	}
	if res := e.owner.Post("/settings/acme/auth/configure/google/", url.Values{"domains": {""}}); res.Status != 422 {
		t.Fatalf("no domain: %d", res.Status)
	}
	e.setUpGoogle()
	page := e.owner.Get("/settings/acme/auth/")
	if page.Text(`[data-testid="provider-state"]`) != "active" || !strings.Contains(page.Text(`[data-testid="oauth-config"]`), "example.com, example.org") {
		t.Fatalf("auth page: %q", page.Text(`[data-testid="provider-status"]`))
	}
	// The authorization request carried state, PKCE S256 and a nonce.
	reqs := e.google.AuthRequests()
	last := reqs[len(reqs)-1]
	if last.Get("state") == "" || last.Get("code_challenge_method") != "S256" || last.Get("nonce") == "" {
		t.Fatalf("authorization request %v", last)
	}

	// Just-in-time: a new member of an allowed domain.
	ann := e.a.Client(t)
	e.google.SetNextUser(googleUser("ann@example.org", "example.org"))
	ann.Get("/auth/login/acme/")
	res := e.follow(ann, ann.Post("/auth/login/acme/", nil))
	if res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("JIT: %d %s %s", res.Status, res.Location, res.Body)
	}
	if n := count(t, e.a, `SELECT count(*) FROM members m JOIN users u ON u.id = m.user_id WHERE u.email = 'ann@example.org' AND m.joined_via = 'sso' AND m.sso_linked`); n != 1 {
		t.Fatal("ann not provisioned")
	}

	refusals := []struct {
		name string
		user oauthtest.GoogleUser
		want string
	}{
		{"wrong domain", googleUser("eve@other.com", "other.com"), "The domain for your Google account (other.com) is not allowed"},
		{"personal account", googleUser("eve@gmail.com", ""), "is not allowed to authenticate"},
		{"unverified email", oauthtest.GoogleUser{Email: "eve@example.com", HD: "example.com"}, oauth.MsgEmailUnverified},
		{"expired ID token", func() oauthtest.GoogleUser {
			u := googleUser("eve@example.com", "example.com")
			u.Expired = true
			return u
		}(), oauth.MsgInvalidResponse},
		{"wrong audience", func() oauthtest.GoogleUser {
			u := googleUser("eve@example.com", "example.com")
			u.Audience = "someone-else"
			return u
		}(), oauth.MsgInvalidResponse},
		{"bad signature", func() oauthtest.GoogleUser {
			u := googleUser("eve@example.com", "example.com")
			u.BadSignature = true
			return u
		}(), oauth.MsgInvalidResponse},
		{"nonce mismatch", func() oauthtest.GoogleUser {
			u := googleUser("eve@example.com", "example.com")
			u.Nonce = "forged"
			return u
		}(), oauth.MsgInvalidResponse},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			c := e.a.Client(t)
			c.Get("/auth/login/acme/")
			e.google.SetNextUser(tc.user)
			start := c.Post("/auth/login/acme/", nil)
			// The signed-out login page writes no session; starting the sign-in does
			// (it binds the OAuth state to this browser): that session must not change.
			if c.Cookie("gatehouse_session") == nil {
				t.Fatal("starting the sign-in made no session")
			}
			before := c.Cookie("gatehouse_session").Value
			res := e.follow(c, start)
			if res.Status != http.StatusForbidden || !strings.Contains(res.Text(`[data-testid="sso-error"]`), tc.want) {
				t.Fatalf("%d %q", res.Status, res.Text(`[data-testid="sso-error"]`))
			}
			if ck := c.Cookie("gatehouse_session"); ck == nil || ck.Value != before {
				t.Fatal("the session changed")
			}
		})
	}
	if n := count(t, e.a, "SELECT count(*) FROM users WHERE email LIKE 'eve@%'"); n != 0 {
		t.Fatal("a refused sign-in created a user")
	}

	// A state we did not issue, and a replayed callback.
	c := e.a.Client(t)
	c.Get("/auth/login/acme/")
	e.google.SetNextUser(googleUser("bo@example.com", "example.com"))
	start := c.Post("/auth/login/acme/", nil)
	cb, _ := oauthtest.Authorize(start.Location)
	forged := cb.Query()
	forged.Set("state", "forged-state")
	if res := c.Get("/auth/oauth/callback/?" + forged.Encode()); res.Status != http.StatusBadRequest {
		t.Fatalf("forged state: %d", res.Status)
	}
	if res := c.Get(cb.RequestURI()); res.Status != http.StatusSeeOther {
		t.Fatalf("genuine callback: %d %s", res.Status, res.Body)
	}
	if res := e.a.Client(t).Get(cb.RequestURI()); res.Status != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d", res.Status)
	}
	// The old code with a fresh state of ours: the provider refuses the replayed code.
	d := e.a.Client(t)
	d.Get("/auth/login/acme/")
	fresh, _ := oauthtest.Authorize(d.Post("/auth/login/acme/", nil).Location)
	q := fresh.Query()
	q.Set("code", cb.Query().Get("code"))
	if res := d.Get("/auth/oauth/callback/?" + q.Encode()); res.Status != http.StatusForbidden || res.Text(`[data-testid="sso-error"]`) != "Authentication error: "+oauth.MsgInvalidResponse {
		t.Fatalf("replayed code: %d %q", res.Status, res.Text(`[data-testid="sso-error"]`))
	}
}

func TestGitHubSignIn(t *testing.T) {
	e := newOAuthEnv(t)
	if res := e.owner.Post("/settings/acme/auth/configure/github/", url.Values{"github_org": {"not a login!"}}); res.Status != 422 {
		t.Fatalf("bad org: %d", res.Status)
	}
	if res := e.owner.Post("/settings/acme/auth/configure/github/", url.Values{"github_org": {"acme-inc"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("configure: %d %s", res.Status, res.Body)
	}
	member := func(id int64, email string, emails ...oauthtest.GitHubEmail) oauthtest.GitHubUser {
		if emails == nil {
			emails = []oauthtest.GitHubEmail{{Email: email, Primary: true, Verified: true}}
		}
		return oauthtest.GitHubUser{ID: id, Login: "u" + email[:3], Name: "Git Hubber", Emails: emails, Orgs: map[string]string{"acme-inc": "active"}}
	}
	e.github.SetNextUser(member(1, "owner@example.com"))
	if res := e.follow(e.owner, e.owner.Post("/settings/acme/auth/activate/", nil)); res.Location != "/settings/acme/auth/" {
		t.Fatalf("activation: %d %s %s", res.Status, res.Location, res.Body)
	}
	ok := e.a.Client(t)
	ok.Get("/auth/login/acme/")
	e.github.SetNextUser(member(2, "gus@example.com"))
	if res := e.follow(ok, ok.Post("/auth/login/acme/", nil)); res.Location != "/organizations/acme/" {
		t.Fatalf("JIT: %d %s %s", res.Status, res.Location, res.Body)
	}
	refusals := []struct {
		name string
		user oauthtest.GitHubUser
		want string
	}{
		{"not an org member", oauthtest.GitHubUser{ID: 3, Login: "x", Emails: []oauthtest.GitHubEmail{{Email: "x@example.com", Primary: true, Verified: true}}}, oauth.MsgNoOrgAccess},
		{"pending org member", func() oauthtest.GitHubUser {
			u := member(4, "pen@example.com")
			u.Orgs = map[string]string{"acme-inc": "pending"}
			return u
		}(), oauth.MsgNoOrgAccess},
		{"no primary email", member(5, "npe@example.com", oauthtest.GitHubEmail{Email: "npe@example.com", Verified: true}), oauth.MsgNoPrimaryEmail},
		{"unverified primary", member(6, "unv@example.com", oauthtest.GitHubEmail{Email: "unv@example.com", Primary: true}), oauth.MsgNoVerifiedEmail},
		{"several verified primaries", member(7, "two@example.com", oauthtest.GitHubEmail{Email: "two@example.com", Primary: true, Verified: true}, oauthtest.GitHubEmail{Email: "two@example.org", Primary: true, Verified: true}), oauth.MsgSeveralEmails},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			c := e.a.Client(t)
			c.Get("/auth/login/acme/")
			e.github.SetNextUser(tc.user)
			res := e.follow(c, c.Post("/auth/login/acme/", nil))
			if res.Status != http.StatusForbidden || !strings.Contains(res.Text(`[data-testid="sso-error"]`), tc.want) {
				t.Fatalf("%d %q", res.Status, res.Text(`[data-testid="sso-error"]`))
			}
		})
	}
	// Membership is checked at every sign-in: gus leaves the GitHub org.
	gus := member(2, "gus@example.com")
	gus.Orgs = nil
	e.github.SetNextUser(gus)
	again := e.a.Client(t)
	again.Get("/auth/login/acme/")
	if res := e.follow(again, again.Post("/auth/login/acme/", nil)); res.Status != http.StatusForbidden {
		t.Fatalf("gus after leaving the GitHub org: %d %s", res.Status, res.Location)
	}
	// A provider of another kind than the state's (the org switched providers meanwhile).
	c := e.a.Client(t)
	c.Get("/auth/login/acme/")
	e.github.SetNextUser(member(2, "gus@example.com"))
	start := c.Post("/auth/login/acme/", nil)
	cb, _ := oauthtest.Authorize(start.Location)
	if _, err := e.a.DB.Bun.NewRaw("UPDATE auth_providers SET kind = 'google'").Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	if res := c.Get(cb.RequestURI()); res.Status != http.StatusForbidden || !res.Has(`[data-testid="sso-failed"]`) {
		t.Fatalf("switched provider: %d", res.Status)
	}
}

func TestOAuthProvidersWithoutCredentialsAreDisabled(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	owner := setUp(t, a)
	page := owner.Get("/settings/acme/auth/")
	if page.Has(`[data-testid="configure-google"]`) || !strings.Contains(page.Text(`[data-testid="provider-list"]`), "set GATEHOUSE_GOOGLE_CLIENT_ID") {
		t.Fatalf("google offered without credentials: %q", page.Text(`[data-testid="provider-list"]`))
	}
	if res := owner.Get("/settings/acme/auth/configure/github/"); res.Status != http.StatusNotFound {
		t.Fatalf("github configure without credentials: %d", res.Status)
	}
}
