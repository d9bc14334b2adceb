package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"gatehouse/handlers/testapp"
)

// TestPublicGetWritesNoSession: cookie-less GETs of public pages (login, sign-up,
// password reset) write no session row and set no session cookie; the CSRF token of
// their forms lives in a signed cookie, and the form posts with it. A forged or
// missing cookie token is refused.
func TestPublicGetWritesNoSession(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	setUp(t, a)
	before := count(t, a, "SELECT count(*) FROM sessions")
	for _, path := range []string{"/auth/login/", "/auth/register/", "/auth/password/reset/", "/auth/login/acme/"} {
		c := a.Client(t)
		res := c.Get(path)
		if res.Status >= 400 && res.Status != http.StatusNotFound {
			t.Fatalf("%s: %d", path, res.Status)
		}
		if c.Cookie("gatehouse_session") != nil {
			t.Errorf("%s set a session cookie", path)
		}
	}
	if after := count(t, a, "SELECT count(*) FROM sessions"); after != before {
		t.Fatalf("public GETs wrote %d session rows", after-before)
	}
	// The login form posts with the cookie's token and signs in.
	c := a.Client(t)
	c.Get("/auth/login/")
	if c.Cookie("gatehouse_csrf") == nil || c.CSRF() == "" {
		t.Fatal("no signed CSRF cookie or token on the login form")
	}
	res := c.Post("/auth/login/", url.Values{"email": {"owner@example.com"}, "password": {"owner password"}})
	if res.Status != http.StatusSeeOther || c.Cookie("gatehouse_session") == nil {
		t.Fatalf("login with the cookie token: %d %s", res.Status, res.Location)
	}
	// Signed in, the same token still works (carried into the session).
	if res := c.Post("/auth/logout/", nil); res.Status != http.StatusSeeOther {
		t.Fatalf("logout after login: %d", res.Status)
	}
	// A token without its cookie, and a cookie whose signature was altered, are refused.
	other := a.Client(t)
	other.Get("/auth/login/")
	tok := other.CSRF()
	bare := a.Client(t)
	if res := bare.Post("/auth/login/", url.Values{"_csrf": {tok}, "email": {"owner@example.com"}, "password": {"owner password"}}); res.Status != http.StatusForbidden {
		t.Fatalf("token without cookie: %d", res.Status)
	}
	ck := *other.Cookie("gatehouse_csrf")
	ck.Value = tok + ".AAAA"
	req := httptest.NewRequest(http.MethodPost, "/auth/login/", strings.NewReader(url.Values{"_csrf": {tok}, "email": {"owner@example.com"}, "password": {"owner password"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&ck)
	if res := a.Client(t).Do(req); res.Status != http.StatusForbidden {
		t.Fatalf("forged cookie signature: %d", res.Status)
	}
}
