package handlers_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// withGroups is u with n group values.
func withGroups(u samltest.User, n int) samltest.User {
	groups := make([]string, n)
	for i := range groups {
		groups[i] = fmt.Sprintf("group-%04d", i)
	}
	u.Attributes["groups"] = groups
	return u
}

// unsolicited posts u's IdP-initiated response to the ACS cross-site, as the IdP's
// form does, and returns the ACS's answer without following it.
func (e *ssoEnv) unsolicited(c *testapp.Client, u samltest.User) *testapp.Response {
	e.t.Helper()
	raw := e.idp.Response(e.t, e.sp, u, samltest.Options{})
	req, _ := http.NewRequest(http.MethodPost, "/saml/acs/acme/", strings.NewReader(url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(raw)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.CrossSite(req)
}

// The ACS hands a validated response to the completion step sealed in its URL, with
// nothing written; it is used once; a forged or altered one is refused; one too long
// for a URL waits in the unlogged table and completes the same way.
func TestSSOHandoffTravelsSealed(t *testing.T) {
	e := newSSOEnv(t, true)
	acsPost := func(c *testapp.Client, u samltest.User) *testapp.Response {
		t.Helper()
		res := e.unsolicited(c, u)
		if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/sso/complete/") {
			t.Fatalf("ACS: %d %s", res.Status, res.Location)
		}
		return res
	}

	bob := e.a.Client(t)
	acs := acsPost(bob, user("bob-1", "bob@example.com"))
	token := strings.TrimSuffix(strings.TrimPrefix(acs.Location, "/auth/sso/complete/"), "/")
	if !strings.HasPrefix(token, "s.") || len(token) > models.MaxSealedHandoff || strings.Contains(acs.Location, "bob") {
		t.Fatalf("completion URL %q: want an opaque sealed token", acs.Location)
	}
	if n := e.count(`SELECT count(*) FROM sso_handoffs`); n != 0 {
		t.Fatalf("%d handoffs stored for a sealed one", n)
	}

	// Altered in one character: refused as an unknown sign-in, nothing written.
	b := []byte(token)
	b[len(b)/2] ^= 1
	if b[len(b)/2] == '/' || b[len(b)/2] == '.' {
		b[len(b)/2] = 'x'
	}
	mallory := e.a.Client(t)
	if res := mallory.Get("/auth/sso/complete/" + string(b) + "/"); res.Status != http.StatusNotFound {
		t.Fatalf("altered token: %d %s", res.Status, res.Location)
	}
	if res := mallory.Get("/auth/sso/complete/s.bm90IGEgdG9rZW4/"); res.Status != http.StatusNotFound {
		t.Fatalf("forged token: %d %s", res.Status, res.Location)
	}

	if res := bob.Get(acs.Location); res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("completion: %d %s", res.Status, res.Location)
	}
	// Used once: the same URL in another browser signs nobody in, and is logged.
	again := e.a.Client(t)
	if res := again.Get(acs.Location); res.Status == http.StatusSeeOther || again.Get("/organizations/acme/").Status == http.StatusOK {
		t.Fatalf("the used completion URL signed in again: %d %s", res.Status, res.Location)
	}
	if n := e.count(`SELECT count(*) FROM sso_signins WHERE reason = 'replay' AND idp_user_id = 'bob-1'`); n != 1 {
		t.Fatalf("replayed completion logged %d times", n)
	}

	// 300 groups: too long for a URL, so it waits in the table (once).
	carl := e.a.Client(t)
	acs = acsPost(carl, withGroups(user("carl-1", "carl@example.com"), 300))
	if strings.HasPrefix(acs.Location, "/auth/sso/complete/s.") || len(acs.Location) > 100 {
		t.Fatalf("a 300-group handoff travels in the URL (%d characters)", len(acs.Location))
	}
	if n := e.count(`SELECT count(*) FROM sso_handoffs`); n != 1 {
		t.Fatalf("%d handoffs stored, want 1", n)
	}
	if res := carl.Get(acs.Location); res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("completion of the stored handoff: %d %s\n%s", res.Status, res.Location, res.Body)
	}
	if n := e.count(`SELECT count(*) FROM sso_handoffs`); n != 0 {
		t.Fatalf("the stored handoff was not used up (%d left)", n)
	}
	if n := e.count(`SELECT count(*) FROM auth_identities WHERE idp_user_id = 'carl-1' AND jsonb_array_length(attributes->'groups') = 300`); n != 1 {
		t.Fatal("carl's 300 groups were not kept")
	}
}

// The longest sealed handoff, with the browser's cookies, passes the real server's
// request parsing (its header buffer) over HTTP.
func TestLongestSealedHandoffOverHTTP(t *testing.T) {
	a := testapp.Serve(t, testapp.Options{})
	owner := a.Client(t)
	owner.Get("/setup/")
	owner.Post("/setup/", url.Values{"name": {"Owner"}, "email": {"owner@example.com"}, "password": {"owner password"}, "org_name": {"Acme"}, "org_slug": {"acme"}})
	idp := samltest.New(t, "https://idp.example")
	if res := owner.Post("/settings/acme/auth/configure/saml2/", url.Values{"method": {"xml"}, "metadata_xml": {string(idp.Metadata())},
		"map_identifier": {"NameID"}, "map_email": {"email"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("configure: %d", res.Status)
	}
	if _, err := a.DB.Bun.NewRaw("UPDATE auth_providers SET status = 'active'").Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	sp := samlsp.NewSP(a.BaseURL, "acme")
	longest := 0
	for groups := 60; groups < 200; groups += 4 {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Get(a.BaseURL + "/auth/login/") // the signed-out browser's cookies
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		raw := idp.Response(t, sp, withGroups(user(fmt.Sprintf("u-%d", groups), fmt.Sprintf("u%d@example.com", groups)), groups), samltest.Options{})
		res, err = c.PostForm(a.BaseURL+"/saml/acs/acme/", url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(raw)}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc := res.Header.Get("Location")
		if !strings.HasPrefix(loc, "/auth/sso/complete/s.") {
			break // too long for the URL from here on
		}
		longest = len(loc)
		res, err = c.Get(a.BaseURL + loc)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/organizations/acme/" {
			t.Fatalf("%d groups (%d-character URL): completion %d %s", groups, len(loc), res.StatusCode, res.Header.Get("Location"))
		}
	}
	if longest < models.MaxSealedHandoff-100 {
		t.Fatalf("the longest sealed completion URL tried was %d characters: the test did not reach the limit", longest)
	}
}

// A response is accepted only under the settings it was validated with: when the
// provider changes between the ACS and the completion step (here: IdP-initiated
// sign-in turned off), the waiting sign-in is refused, logged, and signs nobody in.
// The ACS reads the provider through a short cache (models.ProviderCache): a change
// made through this instance is seen at once; one made by another instance is seen
// by the ACS when the entry ages out, and until then the completion refuses.
func TestSSOHandoffRefusedAfterSettingsChange(t *testing.T) {
	e := newSSOEnv(t, true)
	acs := e.unsolicited
	settings := func(allowIdPInitiated bool) {
		t.Helper()
		v := url.Values{"default_role": {"member"}, "sso_session_hours": {"168"}}
		if allowIdPInitiated {
			v.Set("allow_idp_initiated", "1")
		}
		if res := e.owner.Post("/settings/acme/auth/settings/", v); res.Status != http.StatusSeeOther {
			t.Fatalf("settings: %d\n%s", res.Status, res.Body)
		}
	}
	signsIn := func(c *testapp.Client, res *testapp.Response) bool {
		t.Helper()
		if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/sso/complete/") {
			t.Fatalf("ACS: %d %s", res.Status, res.Location)
		}
		done := c.Get(res.Location)
		return done.Status == http.StatusSeeOther && done.Location == "/organizations/acme/" && c.Get("/organizations/acme/").Status == http.StatusOK
	}
	now := time.Now()
	e.a.Handler.ACSConfig.Now = func() time.Time { return now }
	settings(true)

	// Validated, then the owner turns IdP-initiated sign-in off: refused at completion.
	dana := e.a.Client(t)
	res := acs(dana, user("dana-1", "dana@example.com"))
	settings(false)
	if signsIn(dana, res) {
		t.Fatal("a sign-in validated before IdP-initiated sign-in was turned off completed after it")
	}
	if n := e.count(`SELECT count(*) FROM sso_signins WHERE reason = ? AND idp_user_id = 'dana-1'`, models.ReasonSettingsChanged); n != 1 {
		t.Fatalf("refusal logged %d times", n)
	}
	// The owner's change went through this instance: its ACS sees it at once.
	if res := acs(e.a.Client(t), user("dana-1", "dana@example.com")); res.Status != http.StatusForbidden {
		t.Fatalf("an unsolicited response right after IdP-initiated sign-in was turned off: %d %s", res.Status, res.Location)
	}
	// And turned back on, at once too: no sign-in is refused for a stale entry.
	settings(true)
	if !signsIn(dana, acs(dana, user("dana-1", "dana@example.com"))) {
		t.Fatal("a sign-in right after the owner's change was refused")
	}

	// Another instance turns it off (a write this instance's statements do not see):
	// within the entry's lifetime the ACS still validates with what it read, and the
	// completion refuses all the same.
	now = now.Add(models.ProviderCacheTTL + time.Millisecond)
	if !signsIn(e.a.Client(t), acs(e.a.Client(t), user("erin-1", "erin@example.com"))) { // read and kept
		t.Fatal("erin's first sign-in failed")
	}
	if _, err := e.a.DB.SQL.ExecContext(context.Background(), "UPDATE auth_providers SET allow_idp_initiated = false"); err != nil {
		t.Fatal(err)
	}
	erin := e.a.Client(t)
	res = acs(erin, user("erin-1", "erin@example.com"))
	if signsIn(erin, res) {
		t.Fatal("a sign-in validated with cached settings completed after another instance changed them")
	}
	// Once the entry is older than its lifetime, the ACS reads the change.
	now = now.Add(models.ProviderCacheTTL)
	if res := acs(e.a.Client(t), user("erin-1", "erin@example.com")); res.Status != http.StatusForbidden {
		t.Fatalf("after the cache's lifetime, an unsolicited response: %d %s", res.Status, res.Location)
	}
}
