package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"gatehouse/handlers/testapp"
)

// browserChromiumPath is Debian's chromium package; CI installs it.
const browserChromiumPath = "/usr/bin/chromium"

// browserStepTimeout bounds every browser step, so a missing element fails the test
// instead of hanging it.
const browserStepTimeout = 20 * time.Second

// browserWindowWidth is the width of the browser window, a common laptop size.
const browserWindowWidth = 1280

// TestBrowserFoundationFlow drives a real Chromium through the first-run flow: set up
// the instance, invite a colleague, accept the invitation from the dev outbox,
// promote the colleague, and find the change in the audit log. It saves a PNG of
// every page in $GATEHOUSE_SCREENSHOTS (or a temporary directory).
func TestBrowserFoundationFlow(t *testing.T) {
	_, err := os.Stat(browserChromiumPath)
	testapp.RequireTool(t, err == nil, "Chromium at "+browserChromiumPath, "apt-get install chromium")
	shots := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	a := testapp.Serve(t, testapp.Options{Jobs: true})
	b := startBrowserSession(t, a.BaseURL, shots)

	const (
		ownerName      = "Olivia Owner"
		ownerEmail     = "owner@example.test"
		ownerPassword  = "owner-password-1"
		colleagueName  = "Carl Colleague"
		colleagueEmail = "colleague@example.test"
		colleaguePass  = "colleague-password-1"
	)
	colleagueRow := `tr[data-testid=member-row][data-email="` + colleagueEmail + `"]`

	// 1. First run: / sends the visitor to /setup/.
	b.do("open /", chromedp.Navigate(a.BaseURL+"/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=setup]`)))
	b.wantPath("/setup/")
	b.wantText(`[data-testid=setup] h1`, "Welcome to Gatehouse")
	b.shot("setup")
	b.do("fill setup form",
		chromedp.SendKeys(chromedp.CSS(`#f-name`), ownerName),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), ownerEmail),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), ownerPassword),
		chromedp.SendKeys(chromedp.CSS(`#f-org_name`), "Acme Corp"),
		chromedp.SendKeys(chromedp.CSS(`#f-org_slug`), "acme"),
	)
	b.shot("setup-filled")
	b.do("submit setup", chromedp.Click(chromedp.CSS(`[data-testid=setup-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)))
	b.wantPath("/organizations/acme/")
	b.wantText(`[data-testid=org-name]`, "Acme Corp")
	b.wantText(`[data-testid=nav-account]`, ownerName)
	b.wantText(`[data-testid=member-count]`, "1")
	b.shot("org-home-owner")

	// 2. Invite a colleague as a member.
	b.do("open members", chromedp.Navigate(a.BaseURL+"/settings/acme/members/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=invite-email]`)))
	b.wantText(`[data-testid=members]`, ownerEmail)
	b.shot("members-before-invite")
	b.do("fill invite form",
		chromedp.SendKeys(chromedp.CSS(`[data-testid=invite-email]`), colleagueEmail),
		chromedp.SetValue(chromedp.CSS(`[data-testid=invite-role]`), "member"),
		chromedp.Click(chromedp.CSS(`[data-testid=invite-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=flash]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=invitations]`)),
	)
	b.wantPath("/settings/acme/members/")
	b.wantText(`[data-testid=flash]`, "Invitation sent to "+colleagueEmail+".")
	b.wantText(`[data-testid=invitations]`, colleagueEmail)
	b.wantText(`[data-testid=invitation-row]`, "Member")
	b.shot("members-invited")

	// 3. The invitation email reaches the dev outbox (River delivers it asynchronously).
	href := b.waitForMail(colleagueEmail, 10*time.Second)
	b.shot("dev-mail-list")
	b.do("open the invitation email", chromedp.Click(chromedp.CSS(`a[href="`+href+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=mail-link]`)))
	b.wantText(`[data-testid=mail-subject]`, "Acme Corp")
	link := b.attr(`[data-testid=mail-link]`, "href")
	b.shot("dev-mail-invitation")
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(a.BaseURL) + `/accept/[^/]+/$`).MatchString(link) {
		t.Fatalf("invitation link = %q, want %s/accept/{token}/", link, a.BaseURL)
	}

	// 4. Log out, accept the invitation as a new account.
	b.logout()
	b.do("open invitation link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`[data-testid=accept-register]`)))
	b.wantText(`[data-testid=accept-invitation] :is(h1, h2)`, "Join Acme Corp")
	b.wantText(`[data-testid=accept-invitation] header`, colleagueEmail)
	if got := b.value(`#f-email`); got != colleagueEmail {
		t.Errorf("accept form email = %q, want it prefilled with %q", got, colleagueEmail)
	}
	b.shot("accept-invitation")
	b.do("accept invitation",
		chromedp.SendKeys(chromedp.CSS(`#f-name`), colleagueName),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), colleaguePass),
		chromedp.Click(chromedp.CSS(`[data-testid=accept-register]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=org-name]`)),
	)
	b.wantPath("/organizations/acme/")
	b.wantText(`[data-testid=org-name]`, "Acme Corp")
	b.wantText(`[data-testid=nav-account]`, colleagueName)
	b.wantText(`[data-testid=flash]`, "Welcome to Acme Corp.")
	b.wantText(`hgroup p`, "you are Member")
	b.shot("org-home-colleague")

	// 5. The owner logs back in and promotes the colleague to admin.
	// Log in on the login page that the boosted logout swapped in, with no reload: its
	// form must carry the new session's CSRF token.
	b.logout()
	b.do("log in as owner",
		chromedp.SendKeys(chromedp.CSS(`#f-email`), ownerEmail),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), ownerPassword),
		chromedp.Click(chromedp.CSS(`[data-testid=login-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=nav-account]`)),
	)
	b.wantText(`[data-testid=nav-account]`, ownerName)
	b.shot("home-owner")
	b.do("open members", chromedp.Navigate(a.BaseURL+"/settings/acme/members/"),
		chromedp.WaitVisible(chromedp.CSS(colleagueRow)))
	b.wantText(colleagueRow, colleagueName)
	if got := b.value(colleagueRow + ` [data-testid=role-select]`); got != "member" {
		t.Errorf("colleague role before the change = %q, want member", got)
	}
	if b.count(`[data-testid=invitation-row]`) != 0 {
		t.Errorf("the accepted invitation is still listed as pending")
	}
	b.shot("members-with-colleague")
	b.do("change role to admin",
		chromedp.SetValue(chromedp.CSS(colleagueRow+` [data-testid=role-select]`), "admin"),
		chromedp.Click(chromedp.CSS(colleagueRow+` [data-testid=role-save]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=flash]`)),
		chromedp.WaitVisible(chromedp.CSS(colleagueRow)),
	)
	b.wantPath("/settings/acme/members/")
	b.wantText(`[data-testid=flash]`, "Role changed.")
	if got := b.value(colleagueRow + ` [data-testid=role-select]`); got != "admin" {
		t.Errorf("colleague role after the change = %q, want admin", got)
	}
	if got := browserRun(b, "selected role label", chromedp.Evaluate[string](
		`document.querySelector(`+browserJSString(colleagueRow+` [data-testid=role-select]`)+`).selectedOptions[0].text`)); got != "Admin" {
		t.Errorf("colleague row shows %q selected, want Admin", got)
	}
	b.shot("members-role-changed")

	// 6. The audit log records the change.
	auditRow := `[data-testid=audit-row][data-event="member.role_changed"]`
	b.do("open audit log", chromedp.Navigate(a.BaseURL+"/settings/acme/audit-log/"),
		chromedp.WaitVisible(chromedp.CSS(auditRow)))
	b.wantText(auditRow, colleagueEmail)
	b.wantText(auditRow, "admin")
	b.wantText(auditRow, ownerEmail)
	b.shot("audit-log")

	b.checkClean()
}

// browserSession is one Chromium tab driven through the flow, with what it saw going wrong.
type browserSession struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	n     int

	width int // the viewport width the overflow check measures against

	mu       sync.Mutex
	problems []string // console errors, failed responses, dialogs
	output   bytes.Buffer
}

func startBrowserSession(t *testing.T, base, shots string) *browserSession {
	t.Helper()
	return startBrowserSessionAt(t, base, shots, browserWindowWidth, 900, false)
}

// startBrowserSessionAt starts a browser with a viewport of width×height; mobile
// emulates a phone (touch, the page's viewport meta tag honoured).
func startBrowserSessionAt(t *testing.T, base, shots string, width, height int64, mobile bool) *browserSession {
	t.Helper()
	b := &browserSession{t: t, base: base, shots: shots, width: int(width)}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browserChromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // we run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(int(width), int(height)),
		chromedp.CombinedOutput(&browserLockedWriter{mu: &b.mu, w: &b.output}),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	// Cleanups run last-in first-out: the browser closes before the app and before
	// the user data directory is removed.
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		if t.Failed() {
			b.mu.Lock()
			out := b.output.String()
			b.mu.Unlock()
			var lines []string
			for _, l := range strings.Split(out, "\n") {
				if l != "" && !strings.Contains(l, "dbus") { // no system bus in containers
					lines = append(lines, l)
				}
			}
			if len(lines) > 0 {
				t.Logf("chromium output:\n%s", browserTail(strings.Join(lines, "\n"), 4000))
			}
		}
	})
	b.ctx = ctx

	// Start the browser with no deadline (a deadline on the first run would bind the
	// browser's life to it), but do not let a broken browser hang the test.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start chromium: %v", err)
		}
	case <-time.After(browserStepTimeout):
		t.Fatalf("chromium did not start within %s", browserStepTimeout)
	}
	if mobile {
		b.do("emulate a phone", chromedp.EmulateViewport(width, height, chromedp.EmulateMobile, chromedp.EmulateTouch))
	}

	// Record what a user would not see but should not happen: console errors,
	// exceptions, failed responses and dialogs (dismissed, so nothing destructive runs).
	console := chromedp.Console(ctx)
	responses := chromedp.Events(ctx, network.ResponseReceived)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			// Chromium asks for /favicon.ico on its own; the app has none.
			if (m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException) && !strings.Contains(m.URL, "/favicon.ico") {
				b.problem("console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1)
			}
		}
	}()
	go func() {
		for ev, err := range responses {
			if err != nil {
				return
			}
			if ev.Response.Status >= 400 && !strings.HasSuffix(ev.Response.URL, "/favicon.ico") {
				b.problem("HTTP %d for %s %s", ev.Response.Status, ev.Type, ev.Response.URL)
			}
		}
	}()
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.problem("unexpected %s dialog %q (dismissed)", ev.Type, ev.Message)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return b
}

func (b *browserSession) problem(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

func (b *browserSession) problemList() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) == 0 {
		return "(none)"
	}
	return "\n  " + strings.Join(b.problems, "\n  ")
}

// forgive drops the recorded problems that contain substr (an expected 422).
func (b *browserSession) forgive(substr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.problems[:0]
	for _, p := range b.problems {
		if !strings.Contains(p, substr) {
			kept = append(kept, p)
		}
	}
	b.problems = kept
}

// checkClean fails the test when the browser saw errors along the way.
func (b *browserSession) checkClean() {
	b.t.Helper()
	time.Sleep(100 * time.Millisecond) // let the last events arrive
	b.mu.Lock()
	n := len(b.problems)
	b.mu.Unlock()
	if n > 0 {
		b.t.Errorf("the browser saw problems during the flow: %s", b.problemList())
	}
}

// do runs actions with the step timeout; on failure it saves a screenshot and
// reports where the browser was and what it showed.
func (b *browserSession) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(step, err)
	}
}

// browserRun runs one action that returns a value, with the step timeout.
func browserRun[T any](b *browserSession, step string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(step, err)
	}
	return v
}

func (b *browserSession) fail(step string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	shot := filepath.Join(b.shots, "failure.png")
	if png, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
		_ = os.WriteFile(shot, png, 0o644)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %s: %w", browserStepTimeout, err)
	}
	b.t.Fatalf("%s: %v\nlocation: %s\nscreenshot: %s\npage text:\n%s\nbrowser problems: %s",
		step, err, loc, shot, browserTail(text, 2000), b.problemList())
}

// shot saves a full-page PNG of the current page.
func (b *browserSession) shot(name string) {
	b.t.Helper()
	b.n++
	png := browserRun(b, "screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
	// A page wider than the viewport scrolls sideways: something does not fit.
	sw := browserRun(b, "width of "+name, chromedp.Evaluate[int](
		`Math.max(document.documentElement.scrollWidth, document.body ? document.body.scrollWidth : 0)`))
	b.t.Logf("%s: document width %dpx at a %dpx viewport", name, sw, b.width)
	if over := sw - b.width; over > 0 {
		b.t.Errorf("%s: the page is %dpx wider than the %dpx window (horizontal scroll), see %s",
			name, over, b.width, path)
	}
}

// wantPath waits briefly for the address bar to show path (htmx pushes it after a
// boosted navigation).
func (b *browserSession) wantPath(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`location.pathname === `+browserJSString(path),
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("location = %s, want path %s (%v)", loc, path, err)
	}
}

// wantText checks that the first element matching sel shows want.
func (b *browserSession) wantText(sel, want string) {
	b.t.Helper()
	got := browserRun(b, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
	if !strings.Contains(got, want) {
		b.t.Errorf("%s shows %q, want it to contain %q", sel, strings.TrimSpace(got), want)
	}
}

func (b *browserSession) value(sel string) string {
	b.t.Helper()
	return browserRun(b, "value of "+sel, chromedp.Value(chromedp.CSS(sel)))
}

func (b *browserSession) attr(sel, name string) string {
	b.t.Helper()
	res := browserRun(b, name+" of "+sel, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if !res.Exists {
		b.t.Fatalf("%s has no %s attribute", sel, name)
	}
	return res.Value
}

func (b *browserSession) count(sel string) int {
	b.t.Helper()
	return browserRun(b, "count "+sel, chromedp.Evaluate[int](`document.querySelectorAll(`+browserJSString(sel)+`).length`))
}

// logout clicks the header's Log out button and waits for the login page.
func (b *browserSession) logout() {
	b.t.Helper()
	b.do("log out", chromedp.Click(chromedp.CSS(`[data-testid=logout]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=login]`)))
	b.wantPath("/auth/login/")
	if b.count(`[data-testid=nav-account]`) != 0 {
		b.t.Errorf("still signed in after logging out")
	}
}

// waitForMail reloads the dev outbox until a message to `to` is listed and returns
// the href of its link.
func (b *browserSession) waitForMail(to string, within time.Duration) string {
	b.t.Helper()
	deadline := time.Now().Add(within)
	find := `(() => {
		const row = [...document.querySelectorAll('[data-testid=dev-mail-row]')]
			.find(r => r.cells[0] && r.cells[0].textContent.trim() === ` + browserJSString(to) + `);
		const a = row && row.querySelector('a');
		return a ? a.getAttribute('href') : "";
	})()`
	for {
		b.do("open dev mail", chromedp.Navigate(b.base+"/_dev/mail"),
			chromedp.WaitVisible(chromedp.CSS(`main hgroup h1`)))
		if href := browserRun(b, "find mail to "+to, chromedp.Evaluate[string](find)); href != "" {
			return href
		}
		if time.Now().After(deadline) {
			b.fail("wait for mail", fmt.Errorf("no email to %s in the dev outbox after %s", to, within))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// browserJSString quotes s as a JavaScript string literal.
func browserJSString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

func browserTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// browserLockedWriter lets Chromium's output goroutine and the test share a buffer.
type browserLockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *browserLockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
