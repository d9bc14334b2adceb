package oauthtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Paths of the GitHub endpoints, relative to GitHub.URL. The REST API is served by the
// same server, at the root: GitHub.URL replaces https://api.github.com.
const (
	GitHubAuthorizePath   = "/login/oauth/authorize"
	GitHubAccessTokenPath = "/login/oauth/access_token"
)

// GitHub is an in-process GitHub OAuth app plus the REST API endpoints a sign-in needs.
//
// Point x/oauth2 at g.Endpoint() (AuthURL = URL+"/login/oauth/authorize", TokenURL =
// URL+"/login/oauth/access_token") and use URL as the API base: GET URL+"/user",
// URL+"/user/emails", URL+"/user/memberships/orgs/{org}" with "Authorization: Bearer
// <token>" (or "token <token>").
type GitHub struct {
	URL, ClientID, ClientSecret string
	Server                      *httptest.Server

	tb testing.TB

	mu           sync.Mutex
	next         *GitHubUser
	redirectURIs []string
	codes        map[string]*githubCode
	tokens       map[string]*githubGrant
	authRequests []url.Values
}

// GitHubEmail is one of a user's email addresses.
type GitHubEmail struct {
	Email             string
	Primary, Verified bool
}

// GitHubUser is who signs in at the next authorization requests.
//
// ID defaults to a number derived from Login; Login defaults to the local part of the
// first email. /user's "email" is the primary email when it is verified (GitHub only
// shows a verified public email there), null otherwise; /user/emails lists Emails.
type GitHubUser struct {
	ID          int64
	Login, Name string
	Emails      []GitHubEmail
	Orgs        map[string]string // org login → membership state ("active" | "pending"); other states and absent orgs: not a member
	Deny        bool              // the user refuses the authorization: redirect with error=access_denied
}

type githubCode struct {
	user        GitHubUser
	clientID    string
	redirectURI string
	challenge   string
	scopes      []string
	expires     time.Time
	redeemed    bool
	accessToken string
}

type githubGrant struct {
	user   GitHubUser
	scopes []string
}

// NewGitHub starts a GitHub OAuth app + API for one client; it is closed when the test ends.
func NewGitHub(t testing.TB, clientID, clientSecret string) *GitHub {
	t.Helper()
	g := &GitHub{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		tb:           t,
		codes:        map[string]*githubCode{},
		tokens:       map[string]*githubGrant{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+GitHubAuthorizePath, g.authorize)
	mux.HandleFunc("POST "+GitHubAccessTokenPath, g.accessToken)
	mux.HandleFunc("GET /user", g.api(nil, g.getUser))
	mux.HandleFunc("GET /user/emails", g.api([]string{"user", "user:email"}, g.getEmails))
	mux.HandleFunc("GET /user/memberships/orgs/{org}", g.api([]string{"admin:org", "write:org", "read:org"}, g.getMembership))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		g.logf("no such endpoint: %s %s", r.Method, r.URL.Path)
		writeJSON(w, http.StatusNotFound, githubMessage("Not Found"))
	})
	g.Server = httptest.NewServer(mux)
	g.URL = g.Server.URL
	t.Cleanup(g.Server.Close)
	return g
}

// SetNextUser sets who signs in at the following authorization requests (until the next
// call). Without a user, the authorization endpoint answers 400.
func (g *GitHub) SetNextUser(u GitHubUser) {
	g.mu.Lock()
	defer g.mu.Unlock()
	u.Emails = slices.Clone(u.Emails)
	if u.Orgs != nil {
		orgs := make(map[string]string, len(u.Orgs))
		for k, v := range u.Orgs {
			orgs[k] = v
		}
		u.Orgs = orgs
	}
	if u.Login == "" {
		u.Login = "octocat"
		if len(u.Emails) > 0 {
			u.Login, _, _ = strings.Cut(u.Emails[0].Email, "@")
		}
	}
	if u.ID == 0 {
		u.ID, _ = strconv.ParseInt(stableNumber("github:"+strings.ToLower(u.Login), 9), 10, 64)
	}
	g.next = &u
}

// SetRedirectURIs registers the app's callback URLs: from then on redirect_uri must be
// exactly one of them, and may be omitted when there is only one. By default any absolute
// http(s) redirect_uri is accepted and it is required.
func (g *GitHub) SetRedirectURIs(uris ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.redirectURIs = slices.Clone(uris)
}

// AuthRequests returns the query parameters of every request received by the
// authorization endpoint, oldest first (including rejected ones).
func (g *GitHub) AuthRequests() []url.Values {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]url.Values, len(g.authRequests))
	for i, v := range g.authRequests {
		out[i] = cloneValues(v)
	}
	return out
}

// Endpoint is the x/oauth2 endpoint of this app. AuthStyle is left to auto-detection:
// the token endpoint accepts both HTTP Basic and form credentials.
func (g *GitHub) Endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: g.URL + GitHubAuthorizePath, TokenURL: g.URL + GitHubAccessTokenPath}
}

// RevokeTokens invalidates every access token issued so far (the user revoked the app).
func (g *GitHub) RevokeTokens() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.tokens)
}

// ExpireCodes makes every authorization code issued so far expired, as if
// CodeLifetime had passed.
func (g *GitHub) ExpireCodes() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.codes {
		c.expires = time.Now().Add(-time.Second)
	}
}

func (g *GitHub) logf(format string, args ...any) {
	g.tb.Helper()
	g.tb.Logf("oauthtest: github: "+format, args...)
}

const githubDocs = "https://docs.github.com/apps/managing-oauth-apps/"

func (g *GitHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.authRequests = append(g.authRequests, cloneValues(q))

	if q.Get("client_id") != g.ClientID {
		g.logf("authorization request rejected: unknown client_id %q", q.Get("client_id"))
		errorPage(w, http.StatusNotFound, "404: This is not the web page you are looking for. (unknown client_id)")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" && len(g.redirectURIs) == 1 {
		redirectURI = g.redirectURIs[0]
	}
	if redirectURI == "" {
		g.logf("authorization request rejected: missing redirect_uri and no single registered callback URL")
		errorPage(w, http.StatusBadRequest, "oauthtest: redirect_uri is required (no callback URL registered)")
		return
	}
	if !validRedirectURI(redirectURI, g.redirectURIs) {
		g.logf("authorization request rejected: redirect_uri %q not allowed (registered: %q)", redirectURI, g.redirectURIs)
		errorPage(w, http.StatusBadRequest, "The redirect_uri is not associated with this application.")
		return
	}
	state := q.Get("state")
	fail := func(code, desc string) {
		g.logf("authorization request rejected: %s: %s", code, desc)
		v := url.Values{"error": {code}, "error_description": {desc}}
		if state != "" {
			v.Set("state", state)
		}
		redirectWith(w, r, redirectURI, v)
	}
	if state == "" {
		fail("invalid_request", "oauthtest: state is required")
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		fail("invalid_request", "code_challenge_method without code_challenge")
		return
	case challenge != "" && method != "S256":
		fail("invalid_request", "code_challenge_method must be S256, got "+strconv.Quote(method))
		return
	case challenge != "" && !validChallenge(challenge):
		fail("invalid_request", "invalid code_challenge")
		return
	}
	if g.next == nil {
		g.logf("authorization request rejected: no user is signed in: call SetNextUser")
		errorPage(w, http.StatusBadRequest, "oauthtest: no user is signed in at GitHub: call SetNextUser")
		return
	}
	u := *g.next
	if u.Deny {
		redirectWith(w, r, redirectURI, url.Values{
			"error":             {"access_denied"},
			"error_description": {"The user has denied your application access."},
			"error_uri":         {githubDocs + "troubleshooting-authorization-request-errors/#access-denied"},
			"state":             {state},
		})
		return
	}
	code := randomHex(10)
	g.codes[code] = &githubCode{
		user:        u,
		clientID:    g.ClientID,
		redirectURI: redirectURI,
		challenge:   challenge,
		scopes:      githubScopes(q.Get("scope")),
		expires:     time.Now().Add(CodeLifetime),
	}
	redirectWith(w, r, redirectURI, url.Values{"code": {code}, "state": {state}})
}

// accessToken answers like GitHub: JSON when the request accepts application/json,
// form-encoded otherwise, and errors with status 200 and an "error" field.
func (g *GitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	respond := func(fields [][2]string) {
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			m := map[string]string{}
			for _, f := range fields {
				m[f[0]] = f[1]
			}
			writeJSON(w, http.StatusOK, m)
			return
		}
		v := url.Values{}
		for _, f := range fields {
			v.Set(f[0], f[1])
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = fmt.Fprint(w, v.Encode())
	}
	fail := func(code, desc, uri string) {
		g.logf("access token request rejected: %s: %s", code, desc)
		fields := [][2]string{{"error", code}, {"error_description", desc}}
		if uri != "" {
			fields = append(fields, [2]string{"error_uri", githubDocs + uri})
		}
		respond(fields)
	}
	const codeURI = "troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"
	if err := parsePostForm(w, r); err != nil {
		fail("invalid_request", "cannot parse form: "+err.Error(), "")
		return
	}
	f := r.PostForm
	id, secret, ok := clientCredentials(r)
	if !ok || id != g.ClientID || !constantTimeEqual(secret, g.ClientSecret) {
		fail("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.",
			"troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials")
		return
	}
	if gt := f.Get("grant_type"); gt != "" && gt != "authorization_code" {
		fail("unsupported_grant_type", "The grant type is not supported.", "")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.codes[f.Get("code")]
	switch {
	case c == nil:
		fail("bad_verification_code", "The code passed is incorrect or expired.", codeURI)
		return
	case c.redeemed:
		delete(g.tokens, c.accessToken) // a replayed code revokes what it was exchanged for
		g.logf("code replayed")
		fail("bad_verification_code", "The code passed is incorrect or expired.", codeURI)
		return
	case time.Now().After(c.expires) || c.clientID != id:
		fail("bad_verification_code", "The code passed is incorrect or expired.", codeURI)
		return
	}
	if ru := f.Get("redirect_uri"); ru != "" && ru != c.redirectURI {
		fail("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.",
			"troubleshooting-authorization-request-errors/#redirect-uri-mismatch2")
		return
	}
	verifier := f.Get("code_verifier")
	if c.challenge != "" {
		if why := checkPKCE(c.challenge, verifier); why != "" {
			fail("bad_verification_code", "The code passed is incorrect or expired. (oauthtest: "+why+")", codeURI)
			return
		}
	} else if verifier != "" {
		fail("bad_verification_code", "The code passed is incorrect or expired. (oauthtest: code_verifier sent but the authorization request had no code_challenge)", codeURI)
		return
	}
	c.redeemed = true
	c.accessToken = "gho_" + randomBase62(36)
	g.tokens[c.accessToken] = &githubGrant{user: c.user, scopes: c.scopes}
	respond([][2]string{{"access_token", c.accessToken}, {"token_type", "bearer"}, {"scope", strings.Join(c.scopes, ",")}})
}

// api wraps an API handler with GitHub's authentication and OAuth scope checks. A token
// without one of the accepted scopes gets 404, as GitHub answers for what the token
// cannot see.
func (g *GitHub) api(accepted []string, h func(http.ResponseWriter, *http.Request, *githubGrant)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
		w.Header().Set("X-Accepted-OAuth-Scopes", strings.Join(accepted, ", "))
		if r.Header.Get("User-Agent") == "" {
			g.logf("API request rejected: no User-Agent")
			errorPage(w, http.StatusForbidden, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header.")
			return
		}
		if r.Header.Get("Authorization") == "" {
			g.logf("API request rejected: %s without Authorization", r.URL.Path)
			writeJSON(w, http.StatusUnauthorized, githubMessage("Requires authentication"))
			return
		}
		tok := bearerToken(r, "Bearer", "token")
		g.mu.Lock()
		grant, ok := g.tokens[tok]
		var snapshot githubGrant
		if ok {
			snapshot = *grant
		}
		g.mu.Unlock()
		if !ok {
			g.logf("API request rejected: %s: bad credentials", r.URL.Path)
			writeJSON(w, http.StatusUnauthorized, githubMessage("Bad credentials"))
			return
		}
		w.Header().Set("X-OAuth-Scopes", strings.Join(snapshot.scopes, ", "))
		if len(accepted) > 0 && !slices.ContainsFunc(accepted, func(s string) bool { return slices.Contains(snapshot.scopes, s) }) {
			g.logf("API request rejected: %s needs one of the scopes %q, the token has %q", r.URL.Path, accepted, snapshot.scopes)
			writeJSON(w, http.StatusNotFound, githubMessage("Not Found"))
			return
		}
		h(w, r, &snapshot)
	}
}

func githubMessage(msg string) map[string]string {
	return map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"}
}

func (g *GitHub) userJSON(u GitHubUser) map[string]any {
	var name, email any
	if u.Name != "" {
		name = u.Name
	}
	for _, e := range u.Emails {
		if e.Primary && e.Verified {
			email = e.Email
		}
	}
	return map[string]any{
		"login":      u.Login,
		"id":         u.ID,
		"node_id":    "U_" + strconv.FormatInt(u.ID, 36),
		"avatar_url": "https://avatars.githubusercontent.com/u/" + strconv.FormatInt(u.ID, 10) + "?v=4",
		"url":        g.URL + "/users/" + u.Login,
		"html_url":   "https://github.com/" + u.Login,
		"type":       "User",
		"site_admin": false,
		"name":       name,
		"email":      email,
		"created_at": "2020-01-01T00:00:00Z",
		"updated_at": "2020-01-01T00:00:00Z",
	}
}

func (g *GitHub) getUser(w http.ResponseWriter, r *http.Request, grant *githubGrant) {
	writeJSON(w, http.StatusOK, g.userJSON(grant.user))
}

func (g *GitHub) getEmails(w http.ResponseWriter, r *http.Request, grant *githubGrant) {
	out := make([]map[string]any, 0, len(grant.user.Emails))
	for _, e := range grant.user.Emails {
		var visibility any
		if e.Primary {
			visibility = "public"
		}
		out = append(out, map[string]any{"email": e.Email, "primary": e.Primary, "verified": e.Verified, "visibility": visibility})
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *GitHub) getMembership(w http.ResponseWriter, r *http.Request, grant *githubGrant) {
	want := r.PathValue("org")
	for org, state := range grant.user.Orgs {
		if !strings.EqualFold(org, want) || (state != "active" && state != "pending") {
			continue
		}
		orgID, _ := strconv.ParseInt(stableNumber("github-org:"+strings.ToLower(org), 8), 10, 64)
		u := g.userJSON(grant.user)
		delete(u, "name")
		delete(u, "email")
		writeJSON(w, http.StatusOK, map[string]any{
			"url":              g.URL + "/orgs/" + org + "/memberships/" + grant.user.Login,
			"state":            state,
			"role":             "member",
			"organization_url": g.URL + "/orgs/" + org,
			"organization": map[string]any{
				"login":   org,
				"id":      orgID,
				"node_id": "O_" + strconv.FormatInt(orgID, 36),
				"url":     g.URL + "/orgs/" + org,
			},
			"user": u,
		})
		return
	}
	writeJSON(w, http.StatusNotFound, githubMessage("Not Found"))
}

// githubScopes splits a scope parameter (GitHub accepts spaces and commas) into the
// granted scopes, without duplicates.
func githubScopes(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}
