package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
	"gatehouse/models/dnscheck/dnstest"
	"gatehouse/models/samlsp/samltest"
)

// TestBrowserSignInPolicyWithoutJavaScript drives a real Chromium with JavaScript
// switched off (the login form is then a plain POST, which the page's CSP form-action
// keeps from being redirected to another site): a work email at a verified domain
// lands at the org's IdP with no extra click and signs in; a member whose org
// requires SSO types a password and lands at the IdP too, with no session made.
// Screenshots go to $GATEHOUSE_SCREENSHOTS (or a temporary directory).
func TestBrowserSignInPolicyWithoutJavaScript(t *testing.T) {
	_, err := os.Stat(browserChromiumPath)
	testapp.RequireTool(t, err == nil, "Chromium at "+browserChromiumPath, "apt-get install chromium")
	shots := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	dns := dnstest.New(t)
	a := testapp.Serve(t, testapp.Options{DNSResolver: dns.Addr})
	idp, _ := samltest.NewServerAt(t, "127.0.0.2:0")
	idp.AddUser("newbie", samltest.User{NameID: "newbie-1", Attributes: map[string][]string{
		"email": {"newbie@acme.test"}, "firstName": {"Nora"}, "lastName": {"Newbie"}}})
	idp.AddUser("ivy", samltest.User{NameID: "ivy-1", Attributes: map[string][]string{
		"email": {"ivy@example.com"}, "firstName": {"Ivy"}, "lastName": {"Invitee"}}})

	// Set up over HTTP: acme with an active SAML provider, bob a password member,
	// acme.test verified, Require SSO on.
	owner := setUp(t, a)
	if res := owner.Post("/settings/acme/auth/configure/saml2/", url.Values{"method": {"url"}, "metadata_url": {idp.EntityID},
		"map_identifier": {"NameID"}, "map_email": {"email"}, "map_first_name": {"firstName"}, "map_last_name": {"lastName"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("configure: %d %s", res.Status, res.Body)
	}
	inviteAndJoin(t, a, owner, "bob@example.com", "member")
	if err := models.ActivateProvider(context.Background(), a.DB.Bun, a.Handler.Mailer, 1, models.System("test")); err != nil {
		t.Fatal(err)
	}
	verifyDomain(t, a, owner, dns, "acme", "acme.test")
	if res := owner.Post("/settings/acme/auth/settings/", url.Values{"require_sso": {"1"}, "default_role": {"member"},
		"sso_session_hours": {"168"}, "allow_idp_initiated": {"1"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("require SSO: %d %s", res.Status, res.Body)
	}

	b := startBrowserSession(t, a.BaseURL, shots)
	if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("switch JavaScript off: %v", err)
	}

	// 1. A work email, no password: straight to the IdP, then into the org.
	b.do("open the login page", chromedp.Navigate(a.BaseURL+"/auth/login/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=login]`)))
	b.shot("nojs-login")
	b.do("continue with the work email",
		chromedp.SendKeys(chromedp.CSS(`#f-email`), "newbie@acme.test"),
		chromedp.Click(chromedp.CSS(`[data-testid=login-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-login]`)))
	b.wantLocationPrefix(idp.SSOURL + "?")
	b.shot("nojs-idp-from-email")
	b.do("sign in at the IdP", chromedp.Click(chromedp.CSS(`[data-testid=idp-user-newbie]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)))
	b.wantPath("/organizations/acme/")
	b.wantText(`[data-testid=nav-account]`, "Nora Newbie")
	b.shot("nojs-org-home")
	b.do("log out", chromedp.Click(chromedp.CSS(`[data-testid=logout]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=signed-out-continue]`)), // the IdP has a Single Logout URL
		chromedp.Navigate(a.BaseURL+"/auth/login/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=login]`)))

	// 2. Bob's password, under Require SSO: to the IdP, and no session for him.
	b.do("log in with bob's password",
		chromedp.SendKeys(chromedp.CSS(`#f-email`), "bob@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), "user password"),
		chromedp.Click(chromedp.CSS(`[data-testid=login-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-login]`)))
	b.wantLocationPrefix(idp.SSOURL + "?")
	b.shot("nojs-idp-from-password")
	if n := openSessions(t, a, "bob@example.com"); n != 0 {
		t.Errorf("bob's password opened %d session(s)", n)
	}

	// 3. Ivy, invited as an admin under Require SSO, accepts through the IdP.
	if res := owner.Post("/settings/acme/members/invite/", url.Values{"email": {"ivy@example.com"}, "role": {"admin"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("invite ivy: %d", res.Status)
	}
	b.do("open the invitation", chromedp.Navigate(a.BaseURL+"/accept/"+mailToken(t, a, "ivy@example.com", "invitation")+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=accept-sso]`)))
	if b.count(`#f-password`) != 0 {
		t.Error("the invitation asks for a password under Require SSO")
	}
	b.shot("nojs-accept-sso")
	b.do("accept with the IdP", chromedp.Click(chromedp.CSS(`[data-testid=accept-sso]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-login]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=idp-user-ivy]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)))
	b.wantPath("/organizations/acme/")
	b.wantText(`main`, "you are Admin")
	b.shot("nojs-accepted")
	b.checkClean() // no CSP refusals on the way
}
