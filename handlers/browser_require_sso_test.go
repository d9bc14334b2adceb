package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatehouse/handlers/testapp"
	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// TestBrowserRequireSSO drives real Chromium browsers through Require SSO: the owner
// sets up SAML against the test IdP's HTTP front and turns Require SSO on for an org
// with linked and unlinked members; the password session that an unlinked member has
// open in another browser ends at once, the member lands on the org's SSO login,
// signs in at the IdP and links the account with the password; the owner reminds the
// members still unlinked and finally disables the provider, after which the member
// gets in with a password again. The dev outbox shows who was emailed. It saves a
// PNG of every page of both browsers, numbered in one sequence, in
// $GATEHOUSE_SCREENSHOTS (or a temporary directory).
func TestBrowserRequireSSO(t *testing.T) {
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
		memberPass    = "user password" // inviteAndJoin's
		lenaName      = "Lena Linked"
		lenaEmail     = "lena@example.test"
		bobName       = "Bob Browser"
		bobEmail      = "bob@example.test"
		umaName       = "Uma Unlinked"
		umaEmail      = "uma@example.test"
		adamName      = "Adam Admin"
		adamEmail     = "adam@example.test"
	)
	a := testapp.Serve(t, testapp.Options{Jobs: true})
	idp, _ := samltest.NewServer(t)
	idpUser := func(key, email, first, last string) samltest.User {
		u := samltest.User{NameID: key + "-1", Attributes: map[string][]string{
			"email": {email}, "firstName": {first}, "lastName": {last}}}
		idp.AddUser(key, u)
		return u
	}
	idpUser("owner", ownerEmail, "Olivia", "Owner")
	lenaIdP := idpUser("lena", lenaEmail, "Lena", "Linked")
	idpUser("bob", bobEmail, "Bob", "Browser")
	idpUser("uma", umaEmail, "Uma", "Unlinked")
	idpUser("adam", adamEmail, "Adam", "Admin")
	loginURL := a.BaseURL + "/auth/login/acme/"
	var seq rssoShots

	// 1. The owner sets up the instance and registers and activates the test IdP.
	owner := startBrowserSession(t, a.BaseURL, shots)
	owner.do("open /", chromedp.Navigate(a.BaseURL+"/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=setup]`)))
	owner.wantPath("/setup/")
	owner.do("fill setup",
		chromedp.SendKeys(chromedp.CSS(`#f-name`), ownerName),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), ownerEmail),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), ownerPassword),
		chromedp.SendKeys(chromedp.CSS(`#f-org_name`), "Acme Corp"),
		chromedp.SendKeys(chromedp.CSS(`#f-org_slug`), "acme"),
	)
	seq.shot(owner, "setup-filled")
	owner.do("submit setup", chromedp.Click(chromedp.CSS(`[data-testid=setup-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)),
	)
	owner.wantPath("/organizations/acme/")
	seq.shot(owner, "org-home-owner")
	owner.do("open Auth from the org menu", chromedp.Click(chromedp.CSS(`aside a[href="/settings/acme/auth/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=provider-list]`)))
	seq.shot(owner, "auth-providers")
	owner.do("configure SAML2", chromedp.Click(chromedp.CSS(`[data-testid=configure-saml2]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=configure-form]`)))
	owner.do("fill the registration",
		chromedp.Click(chromedp.CSS(`[data-testid=method-url]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=metadata-url]`), idp.EntityID),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=map-identifier]`), "NameID"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=map-email]`), "email"),
		chromedp.SendKeys(chromedp.CSS(`#f-map_first_name`), "firstName"),
		chromedp.SendKeys(chromedp.CSS(`#f-map_last_name`), "lastName"),
	)
	seq.shot(owner, "configure-saml2-filled")
	owner.do("save the registration", chromedp.Click(chromedp.CSS(`[data-testid=configure-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=activate]`)))
	owner.wantText(`[data-testid=provider-state]`, "pending setup")
	seq.shot(owner, "auth-pending")
	owner.waitHTMX()
	owner.do("activate", chromedp.Click(chromedp.CSS(`[data-testid=activate]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-login]`)))
	owner.wantLocationPrefix(idp.SSOURL + "?")
	seq.shot(owner, "idp-login-activate")
	owner.do("sign in at the IdP as the owner", chromedp.Click(chromedp.CSS(`[data-testid=idp-user-owner]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-continue]`)))
	seq.shot(owner, "idp-post-activate")
	owner.do("continue to Gatehouse", chromedp.Click(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=login-url]`)))
	owner.wantPath("/settings/acme/auth/")
	owner.wantText(`[data-testid=provider-state]`, "active")
	owner.wantText(`[data-testid=unlinked-count]`, "0")
	seq.shot(owner, "auth-active")

	// 2. Members join without a browser: Lena links her account through SSO; Bob, Uma
	// and Adam (an admin) stay unlinked.
	oc := a.Client(t)
	oc.Get("/auth/login/")
	if res := oc.Post("/auth/login/", url.Values{"email": {ownerEmail}, "password": {ownerPassword}}); res.Status != http.StatusSeeOther {
		t.Fatalf("owner's password login: %d\n%s", res.Status, res.Body)
	}
	members := map[string]*testapp.Client{}
	for _, m := range []struct{ name, email, role string }{
		{lenaName, lenaEmail, "member"}, {bobName, bobEmail, "member"}, {umaName, umaEmail, "member"}, {adamName, adamEmail, "admin"},
	} {
		c := inviteAndJoin(t, a, oc, m.email, m.role)
		if res := c.Post("/account/", url.Values{"name": {m.name}}); res.Status != http.StatusSeeOther {
			t.Fatalf("rename %s: %d\n%s", m.email, res.Status, res.Body)
		}
		members[m.email] = c
	}
	lena := members[lenaEmail]
	relay, reqID := authnRequest(t, lena.Post("/auth/login/acme/", nil)) // SP-initiated: only then can she link
	res := postToACS(lena, "acme", idp.Response(t, samlsp.NewSP(a.BaseURL, "acme"), lenaIdP, samltest.Options{InResponseTo: reqID}), relay)
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/auth/link/") {
		t.Fatalf("Lena's SSO sign-in: %d %s\n%s", res.Status, res.Location, res.Body)
	}
	if res := lena.Post(res.Location, url.Values{"method": {"session"}}); res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
		t.Fatalf("Lena's link: %d %s\n%s", res.Status, res.Location, res.Body)
	}

	// 3. Bob signs in with his password in a browser of his own and opens the org.
	bob := startBrowserSession(t, a.BaseURL, shots)
	bob.do("open the login page", chromedp.Navigate(a.BaseURL+"/auth/login/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=login]`)))
	seq.shot(bob, "member-login")
	bob.do("log in with the password",
		chromedp.SendKeys(chromedp.CSS(`#f-email`), bobEmail),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), memberPass),
		chromedp.Click(chromedp.CSS(`[data-testid=login-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-list]`)),
	)
	seq.shot(bob, "member-org-list")
	bob.do("open Acme Corp", chromedp.Click(chromedp.CSS(`[data-testid=org-list] a[href="/organizations/acme/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)))
	bob.wantPath("/organizations/acme/")
	bob.wantText(`[data-testid=nav-account]`, bobName)
	bob.wantText(`[data-testid=member-count]`, "5")
	seq.shot(bob, "member-org-home-before")

	// 4. The owner turns Require SSO on: every session without this org's SSO ends.
	owner.do("open Auth", chromedp.Navigate(a.BaseURL+"/settings/acme/auth/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=settings-form]`)))
	owner.wantText(`[data-testid=unlinked-count]`, "3")
	for _, email := range []string{bobEmail, umaEmail, adamEmail} {
		if owner.count(`[data-testid=unlinked-row][data-email="`+email+`"]`) != 1 {
			t.Errorf("%s is not listed among the unlinked members", email)
		}
	}
	if owner.count(`[data-testid=unlinked-row][data-email="`+lenaEmail+`"]`) != 0 {
		t.Errorf("Lena, who linked, is listed among the unlinked members")
	}
	if rssoChecked(owner, `[data-testid=require-sso]`) {
		t.Fatalf("Require SSO is on before the owner turned it on")
	}
	owner.do("check Require SSO", chromedp.Click(chromedp.CSS(`[data-testid=require-sso]`)))
	if !rssoChecked(owner, `[data-testid=require-sso]`) {
		t.Fatalf("a click did not check Require SSO")
	}
	seq.shot(owner, "auth-require-sso-checked")
	// The sessions to end: the org's members' without its SSO (the owner's browser
	// completed it during activation; Bob's browser and the test clients did not).
	toEnd := count(t, a, `SELECT count(*) FROM sessions WHERE expiry > now()
		AND NOT ((SELECT id FROM organizations WHERE slug = 'acme') = ANY(sso_orgs))
		AND user_id IN (SELECT user_id FROM members WHERE org_id = (SELECT id FROM organizations WHERE slug = 'acme'))`)
	if toEnd < 2 {
		t.Fatalf("%d sessions without SSO before Require SSO, want at least Bob's browser and the owner's client", toEnd)
	}
	owner.waitHTMX()
	owner.do("save settings", chromedp.Click(chromedp.CSS(`[data-testid=save-settings]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=flash]`)))
	owner.wantPath("/settings/acme/auth/")
	owner.wantText(`[data-testid=flash]`, fmt.Sprintf("Settings saved. %d open sessions of members without SSO were signed out.", toEnd))
	if !rssoChecked(owner, `[data-testid=require-sso]`) {
		t.Errorf("Require SSO is off after saving it on")
	}
	owner.wantText(`[data-testid=nav-account]`, ownerName) // the owner's own SSO session stays
	seq.shot(owner, "auth-require-sso-saved")

	// 5. Bob's next page load: his session is gone, he is at the org's SSO login.
	bob.do("reload the org home", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-login]`)))
	bob.wantPath("/auth/login/acme/")
	if q := browserRun(bob, "location query", chromedp.Evaluate[string](`location.search`)); q != "?next=%2Forganizations%2Facme%2F" {
		t.Errorf("org login query = %q, want next=/organizations/acme/", q)
	}
	bob.wantText(`[data-testid=org-login] :is(h1, h2)`, "Sign in to Acme Corp")
	bob.wantText(`[data-testid=sso-start]`, "Log in with single sign-on")
	if bob.count(`[data-testid=nav-account]`) != 0 {
		t.Errorf("Bob is still signed in after Require SSO ended his session")
	}
	seq.shot(bob, "member-org-login")
	bob.waitHTMX()
	bob.do("start SSO", chromedp.Click(chromedp.CSS(`[data-testid=sso-start]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-login]`)))
	bob.wantLocationPrefix(idp.SSOURL + "?")
	for _, key := range []string{"owner", "lena", "bob", "uma", "adam"} {
		if bob.count(`[data-testid=idp-user-`+key+`]`) != 1 {
			t.Errorf("the IdP login page does not offer %s", key)
		}
	}
	seq.shot(bob, "member-idp-login")
	bob.do("sign in at the IdP as Bob", chromedp.Click(chromedp.CSS(`[data-testid=idp-user-bob]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-continue]`)))
	seq.shot(bob, "member-idp-post")
	// His account exists and is not linked yet: he proves it is his with the password.
	bob.do("continue to Gatehouse", chromedp.Click(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=link-password]`)))
	if p := browserRun(bob, "path", chromedp.Evaluate[string](`location.pathname`)); !strings.HasPrefix(p, "/auth/link/") {
		t.Errorf("after the IdP Bob is at %s, want /auth/link/{token}/", p)
	}
	bob.wantText(`[data-testid=link-account] h1`, "Link your account")
	bob.wantText(`[data-testid=link-account] header`, bobEmail)
	bob.wantText(`[data-testid=link-account] header`, "Acme Corp")
	seq.shot(bob, "member-link-account")
	bob.waitHTMX()
	bob.do("link with the password",
		chromedp.SendKeys(chromedp.CSS(`#f-password`), memberPass),
		chromedp.Click(chromedp.CSS(`[data-testid=link-password]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)),
	)
	bob.wantPath("/organizations/acme/")
	bob.wantText(`[data-testid=flash]`, "Your account is linked to Acme Corp single sign-on.")
	bob.wantText(`[data-testid=nav-account]`, bobName)
	seq.shot(bob, "member-org-home-linked")

	// 6. The owner reminds the members still unlinked.
	owner.do("open Auth", chromedp.Navigate(a.BaseURL+"/settings/acme/auth/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=unlinked]`)))
	owner.wantText(`[data-testid=unlinked-count]`, "2")
	if n := owner.count(`[data-testid=unlinked-row]`); n != 2 {
		t.Errorf("%d unlinked rows, want Uma and Adam", n)
	}
	for _, email := range []string{umaEmail, adamEmail} {
		if owner.count(`[data-testid=unlinked-row][data-email="`+email+`"]`) != 1 {
			t.Errorf("%s is not listed among the unlinked members", email)
		}
	}
	seq.shot(owner, "auth-unlinked")
	owner.waitHTMX()
	owner.do("send reminders", chromedp.Click(chromedp.CSS(`[data-testid=send-reminders]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=flash]`)))
	owner.wantPath("/settings/acme/auth/")
	owner.wantText(`[data-testid=flash]`, "Reminder sent to 2 members.")
	seq.shot(owner, "auth-reminders-sent")
	rssoWaitForSubject(owner, "Action Required for Acme Corp", []string{adamEmail, umaEmail})
	seq.shot(owner, "dev-mail-reminders")
	owner.do("open Uma's reminder", chromedp.Click(chromedp.CSS(`a[href="`+rssoMailHref(owner, umaEmail, "Action Required for Acme Corp")+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=mail-subject]`)))
	if link := owner.attr(`[data-testid=mail-link]`, "href"); link != loginURL {
		t.Errorf("the reminder links to %q, want the Login URL %q", link, loginURL)
	}
	seq.shot(owner, "dev-mail-reminder")

	// 7. The owner disables the provider from the danger zone, on a confirmation page
	// that states the consequences.
	tab := owner
	tab.do("open Auth", chromedp.Navigate(a.BaseURL+"/settings/acme/auth/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=provider-status]`)))
	tab.wantText(`#danger-zone`, "The SAML2 provider is removed")
	tab.do("open Disable", chromedp.Click(chromedp.CSS(`[data-testid=disable-provider]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=confirm-disable]`)))
	tab.wantText(`[data-testid=disable-consequences]`, "Every member (5)")
	seq.shot(tab, "auth-disable")
	tab.waitHTMX()
	tab.do("disable", chromedp.Click(chromedp.CSS(`[data-testid=confirm-disable]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=provider-list]`)))
	tab.wantPath("/settings/acme/auth/")
	tab.wantText(`[data-testid=flash]`, "Single sign-on is disabled. 5 members were emailed how to sign in with a password.")
	if tab.count(`[data-testid=configure-saml2]`) != 1 {
		t.Errorf("the provider list has no Configure button for SAML2 after disabling")
	}
	seq.shot(tab, "auth-disabled")
	rssoWaitForSubject(tab, "Single sign-on disabled for Acme Corp", []string{adamEmail, bobEmail, lenaEmail, ownerEmail, umaEmail})
	seq.shot(tab, "dev-mail-disabled")
	tab.do("open Bob's notice", chromedp.Click(chromedp.CSS(`a[href="`+rssoMailHref(tab, bobEmail, "Single sign-on disabled for Acme Corp")+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=mail-subject]`)))
	tab.wantText(`[data-testid=mail-text]`, "already have a password")
	if link := tab.attr(`[data-testid=mail-link]`, "href"); !strings.HasPrefix(link, a.BaseURL+"/auth/password/reset/") {
		t.Errorf("the notice links to %q, want a password reset link", link)
	}
	seq.shot(tab, "dev-mail-disabled-notice")

	// 8. Bob's next page load works, and so does a password login.
	bob.do("reload the org home", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)))
	bob.wantPath("/organizations/acme/")
	bob.wantText(`[data-testid=nav-account]`, bobName)
	seq.shot(bob, "member-org-home-after-disable")
	bob.logout()
	seq.shot(bob, "member-login-after-disable")
	bob.do("log in with the password",
		chromedp.SendKeys(chromedp.CSS(`#f-email`), bobEmail),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), memberPass),
		chromedp.Click(chromedp.CSS(`[data-testid=login-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-list]`)),
	)
	bob.do("open Acme Corp", chromedp.Click(chromedp.CSS(`[data-testid=org-list] a[href="/organizations/acme/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)))
	bob.wantPath("/organizations/acme/")
	bob.wantText(`[data-testid=nav-account]`, bobName)
	seq.shot(bob, "member-org-home-password")

	owner.checkClean()
	tab.checkClean()
	bob.checkClean()
}

// rssoShots numbers the screenshots of several browsers in one sequence.
type rssoShots struct{ n int }

func (s *rssoShots) shot(b *browserSession, name string) {
	b.t.Helper()
	// Let transitions end (Pico animates switches and disclosure arrows), so the
	// picture shows the state the test just set; an animation that does not end
	// within a second is photographed as it is.
	ctx, cancel := context.WithTimeout(b.ctx, time.Second)
	_, _ = chromedp.Run(ctx, chromedp.Poll[bool](`document.getAnimations().every(a => a.playState !== "running")`,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(time.Second)))
	cancel()
	b.n = s.n
	b.shot(name)
	s.n = b.n
}

// rssoChecked reports whether the checkbox sel is checked.
func rssoChecked(b *browserSession, sel string) bool {
	b.t.Helper()
	return browserRun(b, "checked "+sel, chromedp.Evaluate[bool](`document.querySelector(`+browserJSString(sel)+`).checked`))
}

// rssoMailRecipients lists the recipients of the dev outbox's messages with subject.
func rssoMailRecipients(b *browserSession, subject string) []string {
	b.t.Helper()
	to := browserRun(b, "recipients of "+subject, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid=dev-mail-row]')]
		.filter(r => r.cells[1] && r.cells[1].textContent.trim() === `+browserJSString(subject)+`)
		.map(r => r.cells[0].textContent.trim())`))
	slices.Sort(to)
	return to
}

// rssoWaitForSubject reloads the dev outbox until the messages with subject went to
// exactly want (sorted), one each.
func rssoWaitForSubject(b *browserSession, subject string, want []string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.do("open dev mail", chromedp.Navigate(b.base+"/_dev/mail"), chromedp.WaitVisible(chromedp.CSS(`main hgroup h1`)))
		got := rssoMailRecipients(b, subject)
		if slices.Equal(got, want) {
			return
		}
		if len(got) > len(want) || time.Now().After(deadline) {
			b.fail("wait for mail", fmt.Errorf("%q went to %v, want %v", subject, got, want))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// rssoMailHref is the link of the dev outbox's message to `to` with subject.
func rssoMailHref(b *browserSession, to, subject string) string {
	b.t.Helper()
	href := browserRun(b, "find "+subject+" to "+to, chromedp.Evaluate[string](`(() => {
		const row = [...document.querySelectorAll('[data-testid=dev-mail-row]')].find(r =>
			r.cells[0].textContent.trim() === `+browserJSString(to)+` && r.cells[1].textContent.trim() === `+browserJSString(subject)+`);
		const a = row && row.querySelector('a');
		return a ? a.getAttribute('href') : "";
	})()`))
	if href == "" {
		b.fail("find mail", fmt.Errorf("no %q to %s in the dev outbox", subject, to))
	}
	return href
}
