package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/handlers/testapp"
)

// formOf is what the browser submits for the form matching sel on page: every named
// input with its value (hidden fields included).
func formOf(t *testing.T, page *testapp.Response, sel string) url.Values {
	t.Helper()
	form := page.Doc.Find(sel)
	if form.Length() != 1 {
		t.Fatalf("form %s: found %d", sel, form.Length())
	}
	v := url.Values{}
	form.Find("input[name]").Each(func(_ int, in *goquery.Selection) {
		v.Add(in.AttrOr("name", ""), in.AttrOr("value", ""))
	})
	return v
}

// twice submits form to path two times at once in c's browser session (a double
// click), and returns both answers.
func twice(t *testing.T, a *testapp.App, c *testapp.Client, path string, form url.Values) [2]*http.Response {
	t.Helper()
	var out [2]*http.Response
	var errs [2]error
	var wg sync.WaitGroup
	for i := range out {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
		req.Host = "gatehouse.test"
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(c.Cookie("gatehouse_session"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = a.Fiber.Test(req, -1)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("submission %d: %v", i, err)
		}
		out[i].Body.Close()
	}
	return out
}

// TestDoubleSubmitMakesOneSCIMToken (issue 14 item 3): "Generate new token" clicked
// twice (two identical submissions at once) makes one token, one audit entry and one
// email to the other owners, and neither submission fails.
func TestDoubleSubmitMakesOneSCIMToken(t *testing.T) {
	e := newSSOEnv(t, true)
	if res := e.owner.Post("/settings/acme/auth/settings/", url.Values{"default_role": {"member"}, "sso_session_hours": {"336"}, "scim_enabled": {"on"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("enable SCIM: %d %s", res.Status, res.Text(`[data-testid^="error-"]`))
	}
	form := formOf(t, e.owner.Get("/settings/acme/auth/"), `form[action="/settings/acme/auth/scim/tokens/"]`)
	for i, res := range twice(t, e.a, e.owner, "/settings/acme/auth/scim/tokens/", form) {
		if res.StatusCode != http.StatusSeeOther {
			t.Errorf("submission %d: %d", i, res.StatusCode)
		}
	}
	if n := e.count("SELECT count(*) FROM scim_tokens"); n != 1 {
		t.Fatalf("a double submit made %d tokens", n)
	}
	if n := e.count("SELECT count(*) FROM audit_events WHERE event = 'scim.token_created'"); n != 1 {
		t.Fatalf("%d audit entries", n)
	}
	// The token is shown once, on the page the browser lands on.
	page := e.owner.Get("/settings/acme/auth/")
	if !page.Has(`[data-testid="scim-new-token"]`) {
		t.Fatal("the generated token is not shown")
	}
	// The same form a third time, later (Back, then submit again): still one token.
	if res := e.owner.Post("/settings/acme/auth/scim/tokens/", form); res.Status != http.StatusSeeOther {
		t.Fatalf("a late resubmission: %d", res.Status)
	}
	if n := e.count("SELECT count(*) FROM scim_tokens"); n != 1 {
		t.Fatalf("a resubmitted form made %d tokens", n)
	}
	// A fresh form makes a second token.
	form = formOf(t, e.owner.Get("/settings/acme/auth/"), `form[action="/settings/acme/auth/scim/tokens/"]`)
	if res := e.owner.Post("/settings/acme/auth/scim/tokens/", form); res.Status != http.StatusSeeOther {
		t.Fatalf("second token: %d", res.Status)
	}
	if n := e.count("SELECT count(*) FROM scim_tokens"); n != 2 {
		t.Fatalf("a new form made %d tokens in all, want 2", n)
	}
}

// TestDoubleSubmitStartsOneActivation (issue 14 item 3): "Sign in … to activate" clicked
// twice starts one round trip: both submissions send the browser to the same
// AuthnRequest, and the IdP's answer completes in the session whichever was followed.
func TestDoubleSubmitStartsOneActivation(t *testing.T) {
	e := newSSOEnv(t, false)
	form := formOf(t, e.owner.Get("/settings/acme/auth/"), `form[action="/settings/acme/auth/activate/"]`)
	res := twice(t, e.a, e.owner, "/settings/acme/auth/activate/", form)
	if res[0].StatusCode != http.StatusSeeOther || res[1].StatusCode != http.StatusSeeOther {
		t.Fatalf("submissions: %d, %d", res[0].StatusCode, res[1].StatusCode)
	}
	if a, b := res[0].Header.Get("Location"), res[1].Header.Get("Location"); a != b {
		t.Fatalf("two round trips started:\n%s\n%s", a, b)
	}
	if n := e.count("SELECT count(*) FROM saml_requests WHERE purpose = 'activate'"); n != 1 {
		t.Fatalf("%d activation requests stored", n)
	}
	// The browser follows one of them; the IdP answers; the provider is active.
	done := e.answer(e.owner, &testapp.Response{Status: http.StatusSeeOther, Location: res[1].Header.Get("Location")}, user("owner-1", "owner@example.com"))
	if done.Status != http.StatusSeeOther || done.Location != "/settings/acme/auth/" {
		t.Fatalf("activation: %d %s\n%s", done.Status, done.Location, done.Body)
	}
	if n := e.count("SELECT count(*) FROM auth_providers WHERE status = 'active'"); n != 1 {
		t.Fatal("not activated")
	}
}
