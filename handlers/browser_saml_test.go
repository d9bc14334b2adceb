package handlers_test

import (
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatehouse/handlers/testapp"
	"gatehouse/models/samlsp/samltest"
)

// TestBrowserSAMLSetupAndJIT drives a real Chromium through SAML setup against the
// test IdP's HTTP front: the owner registers the IdP by metadata URL in Org Settings ›
// Auth and activates it with a round trip through the IdP; then a newcomer signs in
// from the org login page and joins just in time, and again from the IdP
// (IdP-initiated); the owner finds them on the members page. It saves a PNG of every
// page in $GATEHOUSE_SCREENSHOTS (or a temporary directory).
func TestBrowserSAMLSetupAndJIT(t *testing.T) {
	_, err := os.Stat(browserChromiumPath)
	testapp.RequireTool(t, err == nil, "Chromium at "+browserChromiumPath, "apt-get install chromium")
	shots := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	const (
		ownerName     = "Olivia Owner"
		ownerEmail    = "owner@example.test"
		ownerPassword = "owner-password-1"
		newbieName    = "Nora Newbie"
		newbieEmail   = "newbie@example.test"
	)
	a := testapp.Serve(t, testapp.Options{Jobs: true})
	// The IdP is another site (127.0.0.2) than the app (127.0.0.1): its POST to the ACS
	// carries no SameSite=Lax cookie, and the sign-in completes on the same-site GET
	// that follows (SP-initiated ones only in the session that started them).
	idp, idpSrv := samltest.NewServerAt(t, "127.0.0.2:0")
	idp.AddUser("owner", samltest.User{NameID: "owner-1", Attributes: map[string][]string{
		"email": {ownerEmail}, "firstName": {"Olivia"}, "lastName": {"Owner"}}})
	idp.AddUser("newbie", samltest.User{NameID: "newbie-1", Attributes: map[string][]string{
		"email": {newbieEmail}, "firstName": {"Nora"}, "lastName": {"Newbie"}}})
	b := startBrowserSession(t, a.BaseURL, shots)
	spEntityID := a.BaseURL + "/saml/metadata/acme/"
	loginURL := a.BaseURL + "/auth/login/acme/"

	// 1. First run: the owner sets up the instance and the org "acme".
	b.do("open /", chromedp.Navigate(a.BaseURL+"/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=setup]`)))
	b.wantPath("/setup/")
	b.do("fill and submit setup",
		chromedp.SendKeys(chromedp.CSS(`#f-name`), ownerName),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), ownerEmail),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), ownerPassword),
		chromedp.SendKeys(chromedp.CSS(`#f-org_name`), "Acme Corp"),
		chromedp.SendKeys(chromedp.CSS(`#f-org_slug`), "acme"),
		chromedp.Click(chromedp.CSS(`[data-testid=setup-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)),
	)
	b.wantPath("/organizations/acme/")
	b.wantText(`[data-testid=nav-account]`, ownerName)
	b.shot("saml-org-home-owner")

	// 2. Org Settings › Auth lists the providers; the owner configures SAML2.
	b.do("open Auth from the org menu", chromedp.Click(chromedp.CSS(`aside a[href="/settings/acme/auth/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=provider-list]`)))
	b.wantPath("/settings/acme/auth/")
	for _, kind := range []string{"saml2", "okta", "entra", "onelogin", "auth0", "jumpcloud"} {
		if b.count(`[data-testid=configure-`+kind+`]`) != 1 {
			t.Errorf("the provider list has no Configure button for %s", kind)
		}
	}
	b.shot("auth-providers")
	b.do("configure SAML2", chromedp.Click(chromedp.CSS(`[data-testid=configure-saml2]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=configure-form]`)))
	b.wantPath("/settings/acme/auth/configure/saml2/")
	b.wantText(`main hgroup h1`, "Configure SAML2")
	for sel, want := range map[string]string{
		`[data-testid=sp-entity-id]`:   spEntityID,
		`[data-testid=sp-acs-url]`:     a.BaseURL + "/saml/acs/acme/",
		`[data-testid=sp-sls-url]`:     a.BaseURL + "/saml/sls/acme/",
		`[data-testid=sp-sign-on-url]`: loginURL,
		`[data-testid=sp-relay-state]`: a.BaseURL + "/organizations/acme/",
	} {
		if got := b.value(sel); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if n := b.count(`[data-testid=sp-values] button[data-copy]`); n != 5 {
		t.Errorf("%d Copy buttons beside the SP values, want 5", n)
	}
	b.shot("configure-saml2")
	// Copy the entity ID as the owner would (a user click: the clipboard allows it).
	entityCopy := `[data-testid=sp-values] button[data-copy="` + spEntityID + `"]`
	b.do("copy the entity ID", chromedp.Click(chromedp.CSS(entityCopy)))
	if got := browserRun(b, "copy button label", chromedp.Poll[string](
		`(() => { const t = document.querySelector(`+browserJSString(entityCopy)+`).textContent.trim(); return t === "Copied" ? t : null; })()`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(3*time.Second))); got != "Copied" {
		t.Errorf("the Copy button shows %q after a click, want Copied", got)
	}
	b.do("fill the registration",
		chromedp.Click(chromedp.CSS(`[data-testid=method-url]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=metadata-url]`), idp.EntityID),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=map-identifier]`), "NameID"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=map-email]`), "email"),
		chromedp.SendKeys(chromedp.CSS(`#f-map_first_name`), "firstName"),
		chromedp.SendKeys(chromedp.CSS(`#f-map_last_name`), "lastName"),
	)
	b.shot("configure-saml2-filled")
	b.do("save the registration", chromedp.Click(chromedp.CSS(`[data-testid=configure-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=provider-status]`)))
	b.wantPath("/settings/acme/auth/")
	b.wantText(`[data-testid=flash]`, "Identity provider saved.")
	b.wantText(`[data-testid=provider-state]`, "pending setup")
	b.wantText(`[data-testid=idp-entity-id]`, idp.EntityID)
	if b.count(`[data-testid=activate]`) != 1 {
		t.Errorf("the pending provider has no Activate button")
	}
	if b.count(`[data-testid=login-url]`) != 0 {
		t.Errorf("the Login URL is shown before activation")
	}
	b.shot("auth-pending")

	// 3. Activate: a round trip through the IdP as the owner.
	b.waitHTMX()
	b.do("activate", chromedp.Click(chromedp.CSS(`[data-testid=activate]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-login]`)))
	b.wantLocationPrefix(idp.SSOURL + "?")
	b.wantText(`body`, "Sign in to "+spEntityID)
	b.shot("idp-login-activate")
	b.do("sign in at the IdP as the owner", chromedp.Click(chromedp.CSS(`[data-testid=idp-user-owner]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-continue]`)))
	b.shot("idp-post-activate")
	b.do("continue to Gatehouse", chromedp.Click(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=login-url]`)))
	b.wantPath("/settings/acme/auth/")
	b.wantText(`[data-testid=flash]`, "SAML2 single sign-on is active.")
	b.wantText(`[data-testid=provider-state]`, "active")
	b.wantText(`[data-testid=nav-account]`, ownerName)
	if got := b.value(`[data-testid=login-url]`); got != loginURL {
		t.Errorf("Login URL = %q, want %q", got, loginURL)
	}
	if b.count(`[data-testid=activate]`) != 0 {
		t.Errorf("the Activate button is still shown on an active provider")
	}
	b.wantText(`[data-testid=sso-attempt][data-outcome=success]`, ownerEmail)
	b.shot("auth-active")

	// 4. A newcomer signs in from the org login page and joins just in time.
	b.logout()
	b.do("open the org login page", chromedp.Navigate(loginURL), chromedp.WaitVisible(chromedp.CSS(`[data-testid=sso-start]`)))
	b.wantText(`[data-testid=org-login] :is(h1, h2)`, "Sign in to Acme Corp")
	b.wantText(`[data-testid=sso-start]`, "Log in with single sign-on")
	b.shot("org-login")
	b.waitHTMX()
	b.do("start SSO", chromedp.Click(chromedp.CSS(`[data-testid=sso-start]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-login]`)))
	b.wantLocationPrefix(idp.SSOURL + "?")
	b.shot("idp-login-newbie")
	b.do("sign in at the IdP as the newcomer", chromedp.Click(chromedp.CSS(`[data-testid=idp-user-newbie]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-continue]`)))
	b.shot("idp-post-newbie")
	b.do("continue to Gatehouse", chromedp.Click(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)))
	b.wantPath("/organizations/acme/")
	b.wantText(`[data-testid=org-name]`, "Acme Corp")
	b.wantText(`[data-testid=nav-account]`, newbieName)
	b.wantText(`hgroup p`, "you are Member")
	b.shot("org-home-newbie")

	// 5. The newcomer signs in again from the IdP's dashboard (IdP-initiated).
	b.logout()
	b.do("open the IdP-initiated sign-in", chromedp.Navigate(idpSrv.URL+"/idp-initiated?user=newbie&sp="+url.QueryEscape(spEntityID)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-continue]`)))
	b.shot("idp-initiated")
	b.do("continue to Gatehouse", chromedp.Click(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)))
	b.wantPath("/organizations/acme/")
	b.wantText(`[data-testid=nav-account]`, newbieName)
	b.shot("org-home-newbie-idp-initiated")

	// 5b. An IdP-initiated sign-in as someone else does not silently replace the
	// newcomer's session: the browser asks first.
	b.do("open the IdP-initiated sign-in as the owner", chromedp.Navigate(idpSrv.URL+"/idp-initiated?user=owner&sp="+url.QueryEscape(spEntityID)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-continue]`)))
	b.do("continue to Gatehouse", chromedp.Click(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=confirm-switch]`)))
	b.wantText(`[data-testid=confirm-switch] h1`, "Continue as "+ownerEmail+"?")
	b.wantText(`[data-testid=nav-account]`, newbieName)
	b.shot("confirm-switch")
	b.do("continue as the owner", chromedp.Click(chromedp.CSS(`[data-testid=confirm-switch-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)))
	b.wantText(`[data-testid=nav-account]`, ownerName)

	// 6. The owner logs in with the password and finds the newcomer among the members.
	b.logout()
	b.do("log in as owner",
		chromedp.SendKeys(chromedp.CSS(`#f-email`), ownerEmail),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), ownerPassword),
		chromedp.Click(chromedp.CSS(`[data-testid=login-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=nav-account]`)),
	)
	b.wantText(`[data-testid=nav-account]`, ownerName)
	newbieRow := `tr[data-testid=member-row][data-email="` + newbieEmail + `"]`
	ownerRow := `tr[data-testid=member-row][data-email="` + ownerEmail + `"]`
	b.do("open members", chromedp.Navigate(a.BaseURL+"/settings/acme/members/"),
		chromedp.WaitVisible(chromedp.CSS(newbieRow)))
	b.wantText(newbieRow, newbieName)
	b.wantText(newbieRow, "SSO just-in-time")
	b.wantText(newbieRow+` .badge.ok`, "linked")
	b.wantText(ownerRow+` .badge.ok`, "linked")
	if got := b.value(newbieRow + ` [data-testid=role-select]`); got != "member" {
		t.Errorf("the newcomer's role = %q, want member (the org's default role)", got)
	}
	b.shot("members-jit")
	b.do("open Auth", chromedp.Navigate(a.BaseURL+"/settings/acme/auth/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=sso-attempts]`)))
	if n := b.count(`[data-testid=sso-attempt][data-outcome=success]`); n != 4 {
		t.Errorf("%d successful sign-ins listed, want 4 (activation, SP- and twice IdP-initiated)", n)
	}
	if n := b.count(`[data-testid=sso-attempt][data-outcome=failure]`); n != 0 {
		t.Errorf("%d failed sign-ins listed, want none", n)
	}
	b.shot("auth-recent-sign-ins")

	b.checkClean()
}

// waitHTMX waits until htmx runs on the page and has processed the last swap (it
// boosts swapped-in content only when it settles, 20 ms later). A click before that
// submits a form natively: the forms that start SSO would leave through a plain POST
// and a redirect to the IdP, under the CSP of the page the boosted navigation started
// from, whose form-action does not allow the IdP.
func (b *browserSession) waitHTMX() {
	b.t.Helper()
	browserRun(b, "wait for htmx", chromedp.Poll[bool](
		`document.readyState !== "loading" && !!window.htmx && document.querySelector(".htmx-settling, .htmx-request, .htmx-swapping") === null`,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second)))
}

// wantLocationPrefix checks that the browser is at a URL starting with prefix.
func (b *browserSession) wantLocationPrefix(prefix string) {
	b.t.Helper()
	if loc := browserRun(b, "location", chromedp.Location()); !strings.HasPrefix(loc, prefix) {
		b.t.Fatalf("location = %s, want it to start with %s", loc, prefix)
	}
}
