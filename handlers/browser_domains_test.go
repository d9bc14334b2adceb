package handlers_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"gatehouse/handlers/testapp"
	"gatehouse/models/dnscheck/dnstest"
	"gatehouse/models/samlsp/samltest"
)

// TestBrowserVerifiedDomainAndEmailSignIn drives a real Chromium: the owner sets up
// SAML, adds acme.test on the Auth page, the record is published in a real DNS server
// (in-process, loopback), Verify finds it; then a newcomer types only their work email
// on the login page and lands at the org's IdP, and back in the org as a verified
// account. Screenshots go to $GATEHOUSE_SCREENSHOTS (or a temporary directory).
func TestBrowserVerifiedDomainAndEmailSignIn(t *testing.T) {
	_, err := os.Stat(browserChromiumPath)
	testapp.RequireTool(t, err == nil, "Chromium at "+browserChromiumPath, "apt-get install chromium")
	shots := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	const (
		ownerEmail    = "owner@acme.test"
		ownerPassword = "owner-password-1"
		newbieEmail   = "newbie@acme.test"
	)
	dns := dnstest.New(t)
	a := testapp.Serve(t, testapp.Options{Jobs: true, DNSResolver: dns.Addr})
	idp, _ := samltest.NewServerAt(t, "127.0.0.2:0")
	idp.AddUser("owner", samltest.User{NameID: "owner-1", Attributes: map[string][]string{
		"email": {ownerEmail}, "firstName": {"Olivia"}, "lastName": {"Owner"}}})
	idp.AddUser("newbie", samltest.User{NameID: "newbie-1", Attributes: map[string][]string{
		"email": {newbieEmail}, "firstName": {"Nora"}, "lastName": {"Newbie"}}})
	b := startBrowserSession(t, a.BaseURL, shots)

	// 1. The owner sets up the instance and SAML for acme.
	b.do("open /", chromedp.Navigate(a.BaseURL+"/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=setup]`)))
	b.do("fill and submit setup",
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "Olivia Owner"),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), ownerEmail),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), ownerPassword),
		chromedp.SendKeys(chromedp.CSS(`#f-org_name`), "Acme Corp"),
		chromedp.SendKeys(chromedp.CSS(`#f-org_slug`), "acme"),
		chromedp.Click(chromedp.CSS(`[data-testid=setup-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)),
	)
	b.do("configure SAML2", chromedp.Navigate(a.BaseURL+"/settings/acme/auth/configure/saml2/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=configure-form]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=method-url]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=metadata-url]`), idp.EntityID),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=map-identifier]`), "NameID"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=map-email]`), "email"),
		chromedp.SendKeys(chromedp.CSS(`#f-map_first_name`), "firstName"),
		chromedp.SendKeys(chromedp.CSS(`#f-map_last_name`), "lastName"),
		chromedp.Click(chromedp.CSS(`[data-testid=configure-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=activate]`)))
	b.waitHTMX()
	b.do("activate through the IdP", chromedp.Click(chromedp.CSS(`[data-testid=activate]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-user-owner]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=idp-user-owner]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=login-url]`)))
	b.wantText(`[data-testid=provider-state]`, "active")

	// 2. Domains: add acme.test; the page shows the TXT record to publish.
	b.waitHTMX()
	b.do("add the domain",
		chromedp.ScrollIntoView(chromedp.CSS(`#domains`)),
		chromedp.SendKeys(chromedp.CSS(`#domains #f-domain`), "acme.test"),
		chromedp.Click(chromedp.CSS(`[data-testid=domain-add]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=domain-row][data-domain="acme.test"]`)))
	b.wantText(`[data-testid=flash]`, "Publish the TXT record below")
	b.wantText(`[data-testid=domain-row] [data-testid=domain-status]`, "checking")
	name := b.value(`[data-testid=domain-row] [data-testid=domain-record-name]`)
	value := b.value(`[data-testid=domain-row] [data-testid=domain-record-value]`)
	if name != "_gatehouse-verification.acme.test" || !strings.HasPrefix(value, "gatehouse-verification=") {
		t.Fatalf("record shown: %q %q", name, value)
	}
	b.do("scroll to the domains", chromedp.ScrollIntoView(chromedp.CSS(`#domains`)))
	b.shot("domains-pending")

	// 3. The record is published in the DNS; Verify finds it.
	dns.SetTXT(name, value)
	b.waitHTMX()
	b.do("verify", chromedp.Click(chromedp.CSS(`[data-testid=domain-verify]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=domain-row][data-status=verified]`)))
	b.wantText(`[data-testid=flash]`, "acme.test is verified.")
	b.wantText(`[data-testid=captured-count]`, "1 account(s) at your verified domains.")
	b.do("scroll to the domains", chromedp.ScrollIntoView(chromedp.CSS(`#domains`)))
	b.shot("domains-verified")

	// 4. A newcomer types only their work email: straight to acme's IdP, then home.
	b.logout()
	b.waitHTMX()
	b.shot("login-email-first")
	b.do("sign in with the email only",
		chromedp.SendKeys(chromedp.CSS(`#f-email`), newbieEmail),
		chromedp.Click(chromedp.CSS(`[data-testid=login-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-login]`)))
	b.wantLocationPrefix(idp.SSOURL + "?")
	b.shot("idp-login-from-email")
	b.do("sign in at the IdP", chromedp.Click(chromedp.CSS(`[data-testid=idp-user-newbie]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)))
	b.waitHTMX() // the page has settled (a read during a swap finds a detached node)
	b.wantPath("/organizations/acme/")
	b.wantText(`[data-testid=nav-account]`, "Nora Newbie")
	b.shot("org-home-from-email")
	var verified bool
	if err := a.DB.Bun.NewRaw("SELECT email_verified FROM users WHERE email = ?", newbieEmail).Scan(context.Background(), &verified); err != nil || !verified {
		t.Errorf("the newcomer's account at the verified domain: verified=%v %v", verified, err)
	}
	b.checkClean()
}
