package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// TestConfigureSubmittedTwiceMakesOneProvider: a double "Save and continue" (two
// submissions at once, or one after the other) leaves one provider and one audit
// entry, and neither submission fails.
func TestConfigureSubmittedTwiceMakesOneProvider(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	owner := setUp(t, a)
	idp := samltest.New(t, "https://idp.example")
	var orgID, ownerID int64
	if err := a.DB.Bun.NewRaw(`SELECT o.id, m.user_id FROM organizations o JOIN members m ON m.org_id = o.id WHERE o.slug = 'acme'`).
		Scan(context.Background(), &orgID, &ownerID); err != nil {
		t.Fatal(err)
	}
	cfg, err := models.ResolveIdP(context.Background(), nil, models.SAMLSetup{Kind: "okta", Method: models.MethodMetadataXML,
		MetadataXML: string(idp.Metadata()), Mapping: samlsp.Mapping{Identifier: "NameID", Email: "email"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The first submission has inserted the provider but not committed yet when the
	// second one looks: the second finds no provider, and its insert waits on the first.
	ctx := context.Background()
	first, err := a.DB.Bun.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.NewRaw(`INSERT INTO auth_providers (org_id, kind, config) VALUES (?, 'okta', '{}')`, orgID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := models.SaveSAMLProvider(ctx, a.DB.Bun, a.Handler.Mailer, orgID, models.Actor{UserID: ownerID, Label: "owner@example.com"}, "okta", cfg)
		done <- err
	}()
	for waiting := 0; waiting == 0; {
		if err := a.DB.Bun.NewRaw(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).
			Scan(ctx, &waiting); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("the second submission did not wait for the first: %v", err)
		default:
		}
	}
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("the second of two simultaneous submissions failed: %v", err)
	}
	// Once more through the form, as the second click of a slow submit.
	res := owner.Post("/settings/acme/auth/configure/okta/", url.Values{"method": {"xml"}, "metadata_xml": {string(idp.Metadata())},
		"map_identifier": {"NameID"}, "map_email": {"email"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("second form submission: %d\n%s", res.Status, res.Body)
	}
	if n := count(t, a, `SELECT count(*) FROM auth_providers`); n != 1 {
		t.Errorf("%d providers, want 1", n)
	}
	if n := count(t, a, `SELECT count(*) FROM audit_events WHERE event = 'sso.edited'`); n != 1 {
		t.Errorf("%d edited audit entries, want 1 (the second submission completed the first's empty row; the third changed nothing)", n)
	}
}

// TestConfigureEditKeepsRegistration: editing an active provider preselects "Keep the
// current registration", and saving a mapping-only change keeps the IdP and status.
func TestConfigureEditKeepsRegistration(t *testing.T) {
	e := newSSOEnv(t, true)
	page := e.owner.Get("/settings/acme/auth/configure/okta/")
	if page.Status != 200 {
		t.Fatalf("edit page: %d", page.Status)
	}
	if _, checked := page.Doc.Find(`[data-testid="method-keep"]`).Attr("checked"); !checked {
		t.Errorf("editing does not preselect the current registration")
	}
	if !strings.Contains(page.Text(`[data-testid="current-registration"]`), e.idp.EntityID) {
		t.Errorf("the current registration is not shown: %q", page.Text(`[data-testid="current-registration"]`))
	}
	for _, m := range []string{"url", "xml", "fields"} {
		if _, checked := page.Doc.Find(`[data-testid="method-` + m + `"]`).Attr("checked"); checked {
			t.Errorf("method %s is preselected too", m)
		}
	}
	res := e.owner.Post("/settings/acme/auth/configure/okta/", url.Values{"method": {"keep"},
		"map_identifier": {"NameID"}, "map_email": {"email"}, "map_first_name": {"givenName"}, "map_last_name": {"lastName"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("mapping-only change: %d\n%s", res.Status, res.Body)
	}
	var cfg models.ProviderConfig
	var status string
	if err := e.a.DB.Bun.NewRaw(`SELECT config, status FROM auth_providers`).Scan(context.Background(), &cfg, &status); err != nil {
		t.Fatal(err)
	}
	if cfg.EntityID != e.idp.EntityID || cfg.MetadataSource != models.MethodMetadataURL || cfg.MetadataURL == "" || len(cfg.Certs) == 0 {
		t.Errorf("the registration changed: entity %q source %q url %q certs %d", cfg.EntityID, cfg.MetadataSource, cfg.MetadataURL, len(cfg.Certs))
	}
	if cfg.Mapping.FirstName != "givenName" || status != models.ProviderActive {
		t.Errorf("mapping first name %q, status %q; want givenName, active", cfg.Mapping.FirstName, status)
	}

	// "Keep" with nothing to keep is a field error, not a crash.
	a := testapp.New(t, testapp.Options{})
	fresh := setUp(t, a)
	res = fresh.Post("/settings/acme/auth/configure/okta/", url.Values{"method": {"keep"}, "map_identifier": {"NameID"}, "map_email": {"email"}})
	if res.Status != http.StatusUnprocessableEntity || !res.Has(`[data-testid="error-method"]`) {
		t.Errorf("keep without a provider: %d", res.Status)
	}
}

// TestAuthPagesForOtherRolesAndProviders: a member refused the Auth page stays in the
// org's frame and is told who can do it; another provider's setup while one is active
// leads back to the Auth page, where the others say "Disable … first"; the variables of
// the instance are shown to its operator only.
func TestAuthPagesForOtherRolesAndProviders(t *testing.T) {
	e := newSSOEnv(t, true)
	member := inviteAndJoin(t, e.a, e.owner, "mia@example.com", "member")
	res := member.Get("/settings/acme/auth/")
	if res.Status != http.StatusForbidden {
		t.Fatalf("member on the Auth page: %d", res.Status)
	}
	if got := res.Text(`[data-testid="error-message"]`); got != "Only managers and owners of Acme Corp can do this; your role is member." {
		t.Errorf("refusal says %q", got)
	}
	if !res.Has(`.org-nav a[href="/settings/acme/members/"]`) || res.Doc.Find(`[data-testid="error-back"]`).AttrOr("href", "") != "/organizations/acme/" {
		t.Errorf("the refusal is not inside the org with a way back:\n%s", res.Body)
	}

	res = e.owner.Get("/settings/acme/auth/configure/entra/")
	if res.Status != http.StatusSeeOther || res.Location != "/settings/acme/auth/#other-providers" {
		t.Fatalf("another provider while Okta is active: %d %s", res.Status, res.Location)
	}
	page := e.owner.Get("/settings/acme/auth/")
	if got := page.Text(`[data-testid="flash"]`); !strings.Contains(got, "disable Okta first") {
		t.Errorf("flash = %q", got)
	}
	if got := page.Text(`[data-testid="unavailable-entra"]`); got != "Disable Okta first." {
		t.Errorf("Entra's card says %q", got)
	}
	if !page.Has(`[data-testid="operator-hint-google"]`) || !strings.Contains(page.Body, "GATEHOUSE_GOOGLE_CLIENT_ID") {
		t.Errorf("the instance's operator (the first account) gets no setup hint")
	}

	// An owner who does not run the instance never sees its variable names.
	other := signUp(t, e.a, "beth@example.com")
	other.Get("/organizations/new/")
	if res := other.Post("/organizations/new/", url.Values{"name": {"Beta"}, "slug": {"beta"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("create org: %d", res.Status)
	}
	page = other.Get("/settings/beta/auth/")
	if page.Status != 200 || strings.Contains(page.Body, "GATEHOUSE_") || !strings.Contains(page.Text(`[data-testid="unavailable-google"]`), "ask its operator") {
		t.Errorf("org owner's provider list: %d, env names shown: %v", page.Status, strings.Contains(page.Body, "GATEHOUSE_"))
	}
}

// TestDisableConfirmationAndRepeat: Disable has a confirmation page stating its
// consequences; a repeated confirmation is not an error.
func TestDisableConfirmationAndRepeat(t *testing.T) {
	e := newSSOEnv(t, true)
	inviteAndJoin(t, e.a, e.owner, "mia@example.com", "member")
	page := e.owner.Get("/settings/acme/auth/disable/")
	if page.Status != 200 {
		t.Fatalf("confirmation page: %d", page.Status)
	}
	got := page.Text(`[data-testid="disable-consequences"]`)
	for _, want := range []string{"1 member's link", "Every member (2)", "emailed how to sign in with a password"} {
		if !strings.Contains(got, want) {
			t.Errorf("consequences %q lack %q", got, want)
		}
	}
	if !page.Has(`button.danger[data-testid="confirm-disable"]`) {
		t.Errorf("no red confirmation button")
	}
	for i, want := range []string{"2 members were emailed", "Single sign-on is disabled."} {
		res := e.owner.Post("/settings/acme/auth/disable/", nil)
		if res.Status != http.StatusSeeOther {
			t.Fatalf("disable #%d: %d", i+1, res.Status)
		}
		if got := e.owner.Get("/settings/acme/auth/").Text(`[data-testid="flash"]`); !strings.Contains(got, want) {
			t.Errorf("disable #%d: flash %q, want %q", i+1, got, want)
		}
	}
}

// TestHistoryRestoreGetsTheFullPage: htmx rebuilding a page on Back (cache miss) asks
// with HX-Request and HX-History-Restore-Request: it needs the whole page, not the
// members list partial.
func TestHistoryRestoreGetsTheFullPage(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	owner := setUp(t, a)
	get := func(restore bool) *testapp.Response {
		req, _ := http.NewRequest(http.MethodGet, a.BaseURL+"/settings/acme/members/?q=owner", nil)
		req.Header.Set("HX-Request", "true")
		if restore {
			req.Header.Set("HX-History-Restore-Request", "true")
		}
		return owner.Do(req)
	}
	if res := get(false); res.Has(`.org-nav`) || !res.Has(`#members-list`) {
		t.Errorf("an htmx search does not get the list partial")
	}
	res := get(true)
	if !res.Has(`.org-nav`) || res.Doc.Find(`[data-testid="member-search"]`).AttrOr("value", "") != "owner" {
		t.Errorf("a history restore does not get the full page with its search box filled in")
	}
}

// TestFormErrorsKeepTheAddress: a boosted POST answered with the form and its errors
// (422) tells htmx not to push the form's action (POST-only: it would not reload).
func TestFormErrorsKeepTheAddress(t *testing.T) {
	e := newSSOEnv(t, true)
	form := url.Values{"default_role": {"member"}, "sso_session_hours": {"0"}, "_csrf": {e.owner.CSRF()}}
	req, _ := http.NewRequest(http.MethodPost, e.a.BaseURL+"/settings/acme/auth/settings/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Boosted", "true")
	res := e.owner.Do(req)
	if res.Status != http.StatusUnprocessableEntity || !res.Has(`[data-testid="error-sso_session_hours"]`) {
		t.Fatalf("bad session lifetime: %d", res.Status)
	}
	if got := res.Header.Get("HX-Push-Url"); got != "false" {
		t.Errorf("HX-Push-Url = %q, want false", got)
	}
	// A GET (search, navigation) still pushes its own URL.
	get, _ := http.NewRequest(http.MethodGet, e.a.BaseURL+"/settings/acme/members/?q=x", nil)
	get.Header.Set("HX-Request", "true")
	if got := e.owner.Do(get).Header.Get("HX-Push-Url"); got != "" {
		t.Errorf("a GET answered HX-Push-Url %q", got)
	}
}
