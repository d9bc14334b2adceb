package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatehouse/handlers/testapp"
	"gatehouse/models/samlsp/samltest"
)

// axeVersion is the axe-core release .ci/run installs from npm (pinned).
const axeVersion = "4.10.3"

// axeScriptPath finds axe.min.js: $GATEHOUSE_AXE_JS, else where .ci/run installs it.
func axeScriptPath() string {
	if p := os.Getenv("GATEHOUSE_AXE_JS"); p != "" {
		return p
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "gatehouse-npm", "node_modules", "axe-core", "axe.min.js")
}

// TestBrowserOwnerJourney walks the owner's journey through the admin UI in a real
// Chromium on a laptop (1280×800) and on a phone (390×844): the org, Members (with a
// search that Back restores), Audit Log, Org Settings › Auth (provider cards, the
// registration form that shows only the chosen method, the busy state of "Save and
// continue", activation, settings, SCIM token shown once after POST → redirect → GET,
// copy with the fallback and its announcement, editing only the mapping, the Disable
// confirmation) and the login pages. Every page must fit the viewport (no horizontal
// scroll) and pass axe-core with no serious or critical violation. Screenshots of every
// step go to $GATEHOUSE_SCREENSHOTS/journey-{width} (or a temporary directory).
func TestBrowserOwnerJourney(t *testing.T) {
	_, err := os.Stat(browserChromiumPath)
	testapp.RequireTool(t, err == nil, "Chromium at "+browserChromiumPath, "apt-get install chromium")
	axeJS, err := os.ReadFile(axeScriptPath())
	testapp.RequireTool(t, err == nil, "axe-core at "+axeScriptPath(),
		"npm install --prefix ~/.cache/gatehouse-npm axe-core@"+axeVersion+" (or set GATEHOUSE_AXE_JS)")
	for _, vp := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{
		{"laptop", 1280, 800, false},
		{"phone", 390, 844, true},
	} {
		t.Run(vp.name, func(t *testing.T) {
			shots := os.Getenv("GATEHOUSE_SCREENSHOTS")
			if shots == "" {
				shots = t.TempDir()
			}
			shots = filepath.Join(shots, fmt.Sprintf("journey-%d", vp.width))
			if err := os.MkdirAll(shots, 0o755); err != nil {
				t.Fatal(err)
			}
			ownerJourney(t, startJourney(t, shots, vp.width, vp.height, vp.mobile, string(axeJS)))
		})
	}
}

type journey struct {
	*browserSession
	app    *testapp.App
	idp    *samltest.IdP
	idpURL string // the IdP server's base URL (IdP-initiated sign-ins start there)
	axeJS  string
	report []string
}

func startJourney(t *testing.T, shots string, width, height int64, mobile bool, axeJS string) *journey {
	a := testapp.Serve(t, testapp.Options{Jobs: true})
	idp, srv := samltest.NewServer(t)
	idp.AddUser("owner", samltest.User{NameID: "owner-1", Attributes: map[string][]string{
		"email": {"owner@example.test"}, "firstName": {"Olivia"}, "lastName": {"Owner"}}})
	idp.AddUser("jit", samltest.User{NameID: "jit-1", Attributes: map[string][]string{
		"email": {"jit@example.test"}, "firstName": {"Jules"}, "lastName": {"Intime"}}})
	j := &journey{browserSession: startBrowserSessionAt(t, a.BaseURL, shots, width, height, mobile), app: a, idp: idp, idpURL: srv.URL, axeJS: axeJS}
	t.Cleanup(func() {
		sort.Strings(j.report)
		t.Logf("pages at %dpx (document width, axe violations by impact):\n  %s", width, strings.Join(j.report, "\n  "))
	})
	return j
}

type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// page saves a screenshot (which also checks the width), then runs axe-core on the
// page and fails on serious or critical violations.
func (j *journey) page(name string) {
	j.t.Helper()
	j.waitHTMX()
	j.shot(name)
	width := browserRun(j.browserSession, "width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if !browserRun(j.browserSession, "axe present", chromedp.Evaluate[bool](`typeof window.axe === "object"`)) {
		browserRun(j.browserSession, "inject axe-core", chromedp.Evaluate[bool](j.axeJS+";true"))
	}
	raw := browserRun(j.browserSession, "axe on "+name, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r =>
		JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help,
			targets: v.nodes.slice(0, 5).map(n => n.target.join(" "))}))))`, chromedp.EvalAwaitPromise))
	var vs []axeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		j.t.Fatalf("axe result: %v", err)
	}
	counts := map[string]int{}
	for _, v := range vs {
		counts[v.Impact]++
		if v.Impact == "serious" || v.Impact == "critical" {
			j.t.Errorf("%s: axe %s violation %s (%s) at %v", name, v.Impact, v.ID, v.Help, v.Targets)
		} else {
			j.t.Logf("%s: axe %s: %s (%s) at %v", name, v.Impact, v.ID, v.Help, v.Targets)
		}
	}
	path := browserRun(j.browserSession, "path", chromedp.Evaluate[string](`location.pathname + location.search`))
	j.report = append(j.report, fmt.Sprintf("%02d %-28s %-44s width %4dpx  axe critical %d, serious %d, moderate %d, minor %d",
		j.n, name, path, width, counts["critical"], counts["serious"], counts["moderate"], counts["minor"]))
}

func ownerJourney(t *testing.T, j *journey) {
	a := j.app
	const (
		ownerName     = "Olivia Owner"
		ownerEmail    = "owner@example.test"
		ownerPassword = "owner-password-1"
	)

	// The first visitor sets up the instance.
	j.do("open /", chromedp.Navigate(a.BaseURL+"/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=setup]`)))
	j.page("setup")
	j.do("fill and submit setup",
		chromedp.SendKeys(chromedp.CSS(`#f-name`), ownerName),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), ownerEmail),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), ownerPassword),
		chromedp.SendKeys(chromedp.CSS(`#f-org_name`), "Acme Corporation International"),
		chromedp.SendKeys(chromedp.CSS(`#f-org_slug`), "acme"),
		chromedp.Click(chromedp.CSS(`[data-testid=setup-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)),
	)
	j.page("org-home")

	// Keyboard users get a skip link first, and a visible focus ring on it.
	j.do("tab to the skip link", chromedp.KeyEvent("\t"))
	if got := browserRun(j.browserSession, "focused element", chromedp.Evaluate[string](
		`document.activeElement.classList.contains("skip-link") ? getComputedStyle(document.activeElement).outlineStyle : "not the skip link"`)); got != "solid" {
		t.Errorf("first Tab: %s, want the skip link with a solid focus outline", got)
	}

	// Members: a search is a real URL, and Back shows it with its search box filled in.
	j.do("open Members", chromedp.Click(chromedp.CSS(`.org-nav a[href="/settings/acme/members/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=member-search]`)))
	j.page("members")
	j.waitHTMX()
	j.do("search members", chromedp.SendKeys(chromedp.CSS(`[data-testid=member-search]`), "nobody"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=no-members]`)))
	j.waitLocation(`location.search === "?q=nobody&sso="`)
	j.page("members-search")
	j.do("open the Audit Log", chromedp.Click(chromedp.CSS(`.org-nav a[href="/settings/acme/audit-log/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=audit-events]`)))
	j.wantPath("/settings/acme/audit-log/")
	j.page("audit-log")
	browserRun(j.browserSession, "go back", chromedp.Evaluate[bool](`history.back(), true`))
	j.do("wait for the members page", chromedp.WaitVisible(chromedp.CSS(`[data-testid=no-members]`)))
	j.waitLocation(`location.pathname === "/settings/acme/members/" && location.search === "?q=nobody&sso="`)
	if got := j.value(`[data-testid=member-search]`); got != "nobody" {
		t.Errorf("after Back the search box shows %q over the filtered list, want %q", got, "nobody")
	}

	// Org Settings › Auth: provider cards; operator hints are for superusers (the
	// first account is one).
	j.do("open Auth", chromedp.Navigate(a.BaseURL+"/settings/acme/auth/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=provider-list]`)))
	j.wantText(`[data-testid=unavailable-google]`, "ask its operator")
	j.page("auth-providers")

	j.do("configure SAML2", chromedp.Click(chromedp.CSS(`[data-testid=configure-saml2]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=configure-form]`)))
	j.wantPath("/settings/acme/auth/configure/saml2/")
	if got := j.value(`[data-testid=sp-relay-state]`); got != a.BaseURL+"/organizations/acme/" {
		t.Errorf("Relay State = %q, want the full URL %s/organizations/acme/", got, a.BaseURL)
	}
	j.wantVisibleMethods("url")
	j.page("configure")
	j.do("choose Metadata XML", chromedp.Click(chromedp.CSS(`[data-testid=method-xml]`)))
	j.wantVisibleMethods("xml")
	j.do("choose Metadata URL", chromedp.Click(chromedp.CSS(`[data-testid=method-url]`)))
	j.wantVisibleMethods("url")

	// A bad URL: the error sits beside its field (422, the form as it was sent).
	j.do("submit a URL that answers 404",
		chromedp.SendKeys(chromedp.CSS(`[data-testid=metadata-url]`), j.idp.EntityID+"/nothing-here"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=map-identifier]`), "NameID"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=map-email]`), "email"),
		chromedp.Click(chromedp.CSS(`[data-testid=configure-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=error-metadata_url]`)))
	j.wantText(`[data-testid=error-metadata_url]`, "the URL answered 404")
	j.forgive("422")
	j.page("configure-error")

	// "Save and continue" is busy at once: disabled, saying what it does.
	j.waitHTMX()
	j.do("enter the metadata URL", chromedp.SetValue(chromedp.CSS(`[data-testid=metadata-url]`), j.idp.EntityID))
	busy := browserRun(j.browserSession, "click Save and continue", chromedp.Evaluate[string](`new Promise(resolve => {
		const b = document.querySelector("[data-testid=configure-submit]");
		b.click();
		setTimeout(() => resolve(b.getAttribute("aria-busy") + "|" + b.disabled + "|" + b.textContent.trim()), 1);
	})`, chromedp.EvalAwaitPromise))
	if busy != "true|true|Fetching metadata…" {
		t.Errorf("right after the click the button is %q, want busy, disabled and saying Fetching metadata…", busy)
	}
	j.do("wait for the Auth page", chromedp.WaitVisible(chromedp.CSS(`[data-testid=activate]`)))
	j.wantPath("/settings/acme/auth/")
	j.wantText(`[data-testid=provider-state]`, "pending setup")
	j.page("auth-pending")

	// Activation through the IdP.
	j.waitHTMX()
	j.do("activate", chromedp.Click(chromedp.CSS(`[data-testid=activate]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-login]`)))
	j.do("sign in at the IdP", chromedp.Click(chromedp.CSS(`[data-testid=idp-user-owner]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-continue]`)))
	j.do("continue to Gatehouse", chromedp.Click(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=login-url]`)))
	j.wantPath("/settings/acme/auth/")
	j.wantText(`[data-testid=provider-state]`, "active")
	j.wantText(`[data-testid=unavailable-okta]`, "Disable SAML2 first")
	j.page("auth-active")

	// Copy works without the Clipboard API too, and says so to screen readers.
	browserRun(j.browserSession, "remove the Clipboard API",
		chromedp.Evaluate[bool](`Object.defineProperty(navigator, "clipboard", {value: undefined, configurable: true}), true`))
	j.do("copy the Login URL without the Clipboard API", chromedp.Click(chromedp.CSS(`button[data-copy][aria-label^="Copy Login URL"]`)))
	if got := browserRun(j.browserSession, "copy feedback", chromedp.Poll[string](
		`(() => { const l = document.getElementById("live").textContent; const b = document.querySelector('button[data-copy][aria-label^="Copy Login URL"]').textContent;
			return l && b === "Copied" ? l : null; })()`,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(3*time.Second))); got != "Copied to the clipboard" {
		t.Errorf("live region after Copy = %q", got)
	}

	// Settings: enable SCIM.
	j.waitHTMX()
	browserRun(j.browserSession, "allow IdP-initiated sign-in", chromedp.Evaluate[bool](
		`document.querySelector("[data-testid=allow-idp-initiated]").checked = true`))
	j.do("enable SCIM", chromedp.Click(chromedp.CSS(`[data-testid=enable-scim]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=save-settings]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=scim-generate]`)))
	j.wantText(`[data-testid=flash]`, "Settings saved.")

	// A new SCIM token: POST → redirect → GET; shown once, gone on reload.
	j.waitHTMX()
	j.do("generate a SCIM token", chromedp.Click(chromedp.CSS(`[data-testid=scim-generate]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=scim-new-token-panel]`)))
	j.wantPath("/settings/acme/auth/")
	if tok := j.value(`[data-testid=scim-new-token]`); len(tok) < 20 {
		t.Errorf("new SCIM token = %q", tok)
	}
	j.do("scroll to the token", chromedp.ScrollIntoView(chromedp.CSS(`[data-testid=scim-new-token-panel]`)))
	j.page("auth-scim-token")
	j.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-testid=scim-information]`)))
	j.wantPath("/settings/acme/auth/")
	if j.count(`[data-testid=scim-new-token]`) != 0 {
		t.Errorf("the SCIM token is shown again after a reload")
	}
	j.page("auth-scim-reloaded")

	// Editing keeps the registration: only the mapping changes.
	j.do("edit the registration", chromedp.Click(chromedp.CSS(`[data-testid=edit-provider]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=current-registration]`)))
	j.wantVisibleMethods("keep")
	j.page("configure-edit")
	j.waitHTMX()
	j.do("change the first name attribute",
		chromedp.SetValue(chromedp.CSS(`#f-map_first_name`), "givenName"),
		chromedp.Click(chromedp.CSS(`[data-testid=configure-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=provider-status]`)))
	j.wantText(`[data-testid=flash]`, "Identity provider saved.")
	j.wantText(`[data-testid=provider-state]`, "active")
	j.wantText(`[data-testid=idp-entity-id]`, j.idp.EntityID)

	// Test Configuration: the IdP's answer lands on a result page inside Settings ›
	// Auth (POST → 303 → GET), which a reload shows again.
	j.waitHTMX()
	j.do("test the configuration", chromedp.Click(chromedp.CSS(`[data-testid=test-configuration]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-login]`)))
	j.do("sign in at the IdP for the test", chromedp.Click(chromedp.CSS(`[data-testid=idp-user-owner]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-continue]`)))
	j.do("continue to Gatehouse", chromedp.Click(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=test-checks]`)))
	j.waitLocation(`location.pathname.startsWith("/settings/acme/auth/test/")`)
	j.wantText(`[data-testid=test-verdict]`, "owner@example.test would sign in")
	j.wantText(`.org-nav a[aria-current=page]`, "Auth")
	j.page("auth-test-result")
	j.do("reload the result", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-testid=test-checks]`)))
	j.wantText(`[data-testid=test-verdict]`, "owner@example.test would sign in")

	// An IdP-initiated sign-in of another person asks before replacing the owner's
	// session ("Continue as …?"); continuing signs in a new passwordless account.
	j.do("IdP-initiated sign-in of another person", chromedp.Navigate(j.idpURL+"/idp-initiated?user=jit&sp="+url.QueryEscape(a.BaseURL+"/saml/metadata/acme/")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-continue]`)))
	j.do("continue to Gatehouse", chromedp.Click(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=confirm-switch]`)))
	j.page("sso-switch-confirm")
	j.do("continue as the other person", chromedp.Click(chromedp.CSS(`[data-testid=confirm-switch-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)))
	// Their first password needs the mailbox: the account page emails a link.
	j.do("open the account", chromedp.Navigate(a.BaseURL+"/account/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=first-password]`)))
	j.page("account-first-password")
	j.waitHTMX()
	j.do("email me a link", chromedp.Click(chromedp.CSS(`[data-testid=first-password] button`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=flash]`)))
	j.wantText(`[data-testid=flash]`, "emailed jit@example.test a link")
	j.do("open the emailed link", chromedp.Navigate(a.BaseURL+"/auth/password/reset/"+mailToken(t, a, "jit@example.test", "password_reset")+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=reset-password] input[name=password]`)))
	j.page("first-password")
	// Back to the owner: signed out, then signed in by the IdP (IdP-initiated).
	j.logout()
	j.do("IdP-initiated sign-in of the owner", chromedp.Navigate(j.idpURL+"/idp-initiated?user=owner&sp="+url.QueryEscape(a.BaseURL+"/saml/metadata/acme/")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=idp-continue]`)))
	j.do("continue to Gatehouse", chromedp.Click(chromedp.CSS(`[data-testid=idp-continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)))
	j.do("open Auth", chromedp.Navigate(a.BaseURL+"/settings/acme/auth/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=disable-provider]`)))

	// Disable: a confirmation that states the consequences, a red button.
	j.do("open Disable", chromedp.Click(chromedp.CSS(`[data-testid=disable-provider]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=disable-consequences]`)))
	j.wantPath("/settings/acme/auth/disable/")
	j.wantText(`[data-testid=disable-consequences]`, "emailed how to sign in with a password")
	j.wantText(`[data-testid=disable-consequences]`, "2 members' links") // the owner and the IdP-initiated newcomer
	j.page("auth-disable-confirm")
	j.waitHTMX()
	j.do("confirm", chromedp.Click(chromedp.CSS(`[data-testid=confirm-disable]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=provider-list]`)))
	j.wantText(`[data-testid=flash]`, "2 members were emailed")
	j.page("auth-disabled")

	// The pages a signed-out person sees.
	j.logout()
	j.page("login")

	// Signing up: "Check your email", then the emailed verification page.
	j.do("open sign up", chromedp.Navigate(a.BaseURL+"/auth/register/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=register]`)))
	j.do("sign up",
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "Nina Newcomer"),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), "nina@example.test"),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), "nina-password-1"),
		chromedp.Click(chromedp.CSS(`[data-testid=register-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=check-email]`)))
	j.page("check-email")
	j.do("open the verification link", chromedp.Navigate(a.BaseURL+"/auth/verify/"+mailToken(t, a, "nina@example.test", "verify_email")+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=verify-submit]`)))
	j.page("verify-email")
	j.do("verify", chromedp.Click(chromedp.CSS(`[data-testid=verify-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=nav-account]`)))

	j.checkClean()
}

// waitLocation waits until the JavaScript condition on location holds.
func (j *journey) waitLocation(cond string) {
	j.t.Helper()
	browserRun(j.browserSession, "location "+cond, chromedp.Poll[bool](cond,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second)))
}

// wantVisibleMethods checks which registration sections are on screen.
func (j *journey) wantVisibleMethods(want ...string) {
	j.t.Helper()
	got := browserRun(j.browserSession, "visible methods", chromedp.Evaluate[string](`[...document.querySelectorAll("section.method")]
		.filter(s => s.offsetParent !== null).map(s => s.dataset.method).join(",")`))
	if got != strings.Join(want, ",") {
		j.t.Errorf("registration sections shown: %q, want %q", got, strings.Join(want, ","))
	}
}
