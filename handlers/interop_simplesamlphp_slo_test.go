package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"gatehouse/handlers/testapp"
	"gatehouse/models/samlsp"
)

// TestSimpleSAMLphpUnsignedLogout: SimpleSAMLphp configured not to sign its logout
// requests for our SPs (per-SP `sign.logout` => false in saml20-sp-remote) runs an
// IdP-initiated single logout, with the HTTP-Redirect binding for one org and HTTP-POST
// for another. With "Allow unsigned IdP logout requests" off (the default) the
// unsigned LogoutRequest is refused and the person stays signed in; once the owner
// allows it, the same logout is honoured and SimpleSAMLphp gets its LogoutResponse.
func TestSimpleSAMLphpUnsignedLogout(t *testing.T) {
	if os.Getenv("GATEHOUSE_SKIP_INTEROP") == "1" {
		t.Skip("GATEHOUSE_SKIP_INTEROP=1")
	}
	php, www := sspRequire(t)

	a := testapp.Serve(t, testapp.Options{})
	orgs := []struct {
		sp                sspSP
		slug, user, email string
		binding           string
	}{
		{sp: sspSP{SP: samlsp.NewSP(a.BaseURL, "acme"), SignResponse: true, SignAssertion: true, SLSBinding: bindingRedirect, UnsignedLogout: true},
			slug: "acme", user: "dana", email: "dana@example.com", binding: bindingRedirect},
		{sp: sspSP{SP: samlsp.NewSP(a.BaseURL, "beta"), SignResponse: true, SignAssertion: true, SLSBinding: bindingPOST, UnsignedLogout: true},
			slug: "beta", user: "erin", email: "erin@example.com", binding: bindingPOST},
	}
	owner := setUp(t, a)
	idp := sspStart(t, php, www, []sspSP{orgs[0].sp, orgs[1].sp}, []sspUser{
		{Username: "olive", Password: "olivepass", Email: "owner@example.com", GivenName: "Olive", Surname: "Owner"},
		{Username: "dana", Password: "danapass", Email: "dana@example.com", GivenName: "Dana", Surname: "Dunn"},
		{Username: "erin", Password: "erinpass", Email: "erin@example.com", GivenName: "Erin", Surname: "Ernst"},
	})
	ownerIdP := idp.browser(t)
	returnTo := a.BaseURL + "/auth/login/"

	for _, o := range orgs {
		sp := o.sp.SP
		if o.slug != "acme" {
			if res := owner.Post("/organizations/new/", url.Values{"name": {o.slug}, "slug": {o.slug}}); res.Status != http.StatusSeeOther {
				t.Fatalf("new org %s: %d", o.slug, res.Status)
			}
		}
		if res := owner.Post("/settings/"+o.slug+"/auth/configure/saml2/", url.Values{"method": {"url"}, "metadata_url": {idp.metadataURL()},
			"map_identifier": {"uid"}, "map_email": {"email"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("configure %s: %d %s\n%s", o.slug, res.Status, res.Text(`[data-testid^="error-"]`), idp.log())
		}
		if res := ownerIdP.signInAt(owner, sp, owner.Post("/settings/"+o.slug+"/auth/activate/", nil), "olive", "olivepass"); res.Status != http.StatusSeeOther {
			idp.fail(t, a, o.slug+": activation", res)
		}
		var sloURL string
		if err := a.DB.Bun.NewRaw(`SELECT coalesce(p.config->>'slo_url', '') FROM auth_providers p JOIN organizations g ON g.id = p.org_id WHERE g.slug = ?`, o.slug).
			Scan(context.Background(), &sloURL); err != nil || sloURL == "" {
			t.Fatalf("%s: no SLO URL registered (%v)", o.slug, err)
		}

		person, personIdP := a.Client(t), idp.browser(t)
		signIn := func() {
			t.Helper()
			person.Get("/auth/login/" + o.slug + "/")
			res := personIdP.signInAt(person, sp, person.Post("/auth/login/"+o.slug+"/", nil), o.user, o.user+"pass")
			if res.Status != http.StatusSeeOther || res.Location != "/organizations/"+o.slug+"/" {
				idp.fail(t, a, o.slug+": sign-in of "+o.user, res)
			}
		}
		// logout runs SimpleSAMLphp's IdP-initiated logout from the person's browser and
		// returns every hop and the one that reached our SLS.
		logout := func() ([]sspHop, sspHop) {
			t.Helper()
			hops := personIdP.follow(idp.idpBase+"/saml2/idp/SingleLogoutService.php?"+url.Values{"ReturnTo": {returnTo}}.Encode(), returnTo)
			for _, h := range hops {
				redirect := h.method == http.MethodGet && strings.HasPrefix(h.url, sp.SLSURL+"?")
				post := h.method == http.MethodPost && h.url == sp.SLSURL && h.form.Get("SAMLRequest") != ""
				if !redirect && !post {
					continue
				}
				if got := map[bool]string{true: bindingRedirect, false: bindingPOST}[redirect]; got != o.binding {
					t.Fatalf("%s: LogoutRequest by %s, want %s", o.slug, got, o.binding)
				}
				// SimpleSAMLphp did not sign it: no Signature parameter (Redirect), no
				// enveloped signature (POST).
				if redirect {
					if q := sspQuery(t, h.url); q.Get("Signature") != "" || q.Get("SigAlg") != "" {
						t.Fatalf("%s: the Redirect LogoutRequest is signed (SigAlg %q): sign.logout was not applied", o.slug, q.Get("SigAlg"))
					}
				} else {
					doc, err := base64.StdEncoding.DecodeString(h.form.Get("SAMLRequest"))
					if err != nil || !bytes.Contains(doc, []byte("LogoutRequest")) || bytes.Contains(doc, []byte("SignatureValue")) {
						t.Fatalf("%s: the POST LogoutRequest is signed or unreadable (%v):\n%s", o.slug, err, doc)
					}
				}
				return hops, h
			}
			t.Fatalf("%s: SimpleSAMLphp never sent the browser to our SLS: %s\n%s", o.slug, sspHops(hops), idp.log())
			return nil, sspHop{}
		}

		// Off by default: the unsigned LogoutRequest is refused, the person stays in.
		signIn()
		_, sls := logout()
		if sls.status != http.StatusBadRequest {
			t.Fatalf("%s: unsigned LogoutRequest with the default policy answered %d %q", o.slug, sls.status, sls.location)
		}
		if res := person.Get("/organizations/" + o.slug + "/"); res.Status != http.StatusOK {
			t.Fatalf("%s: signed out by a refused unsigned LogoutRequest: %d", o.slug, res.Status)
		}
		_ = idp.logErrors() // SimpleSAMLphp never got an answer: whatever it logged is expected
		t.Logf("%s: unsigned IdP logout (%s) refused by default: ok", o.slug, o.binding)

		// The owner allows unsigned IdP logout requests.
		if res := owner.Post("/settings/"+o.slug+"/auth/settings/", url.Values{"default_role": {"member"}, "sso_session_hours": {"168"},
			"allow_idp_initiated": {"1"}, "allow_unsigned_logout": {"1"}, "clock_skew_minutes": {"5"}, "max_assertion_minutes": {"480"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("%s: allow unsigned logout: %d %s", o.slug, res.Status, res.Text(`[data-testid^="error-"]`))
		}

		// Honoured now: the session ends and SimpleSAMLphp gets a successful LogoutResponse.
		signIn()
		hops, sls := logout()
		if sls.status != http.StatusSeeOther || !strings.HasPrefix(sls.location, sloURL+"?") || sspQuery(t, sls.location).Get("SAMLResponse") == "" {
			t.Fatalf("%s: allowed unsigned LogoutRequest answered %d %q\n%s", o.slug, sls.status, sls.location, sls.body)
		}
		if last := hops[len(hops)-1]; last.location != returnTo {
			t.Fatalf("%s: logout did not finish at ReturnTo: %s\n%s", o.slug, sspHops(hops), idp.log())
		}
		if errs := idp.logErrors(); errs != "" {
			t.Fatalf("%s: SimpleSAMLphp logged errors during the allowed logout:\n%s", o.slug, errs)
		}
		if res := person.Get("/organizations/" + o.slug + "/"); res.Status != http.StatusSeeOther {
			t.Fatalf("%s: still signed in after the allowed unsigned logout: %d", o.slug, res.Status)
		}
		t.Logf("%s: unsigned IdP logout (%s) honoured once allowed: ok", o.slug, o.binding)
	}
}

// TestSimpleSAMLphpPostOnlySLO: SimpleSAMLphp publishing only an HTTP-POST
// SingleLogoutService. Its IdP-initiated logout gets our LogoutResponse by HTTP-POST
// (the auto-submitting form, which SimpleSAMLphp accepts and finishes at ReturnTo),
// and an SP-initiated logout sends the LogoutRequest by POST and comes back verified.
func TestSimpleSAMLphpPostOnlySLO(t *testing.T) {
	if os.Getenv("GATEHOUSE_SKIP_INTEROP") == "1" {
		t.Skip("GATEHOUSE_SKIP_INTEROP=1")
	}
	php, www := sspRequire(t)
	a := testapp.Serve(t, testapp.Options{})
	sp := samlsp.NewSP(a.BaseURL, "acme")
	owner := setUp(t, a)
	idp := sspStartWith(t, php, www, []sspSP{{SP: sp, SignResponse: true, SignAssertion: true, SLSBinding: bindingRedirect}}, []sspUser{
		{Username: "olive", Password: "olivepass", Email: "owner@example.com", GivenName: "Olive", Surname: "Owner"},
		{Username: "dana", Password: "danapass", Email: "dana@example.com", GivenName: "Dana", Surname: "Dunn"},
	}, sspOptions{SLOPostOnly: true})
	if res := owner.Post("/settings/acme/auth/configure/saml2/", url.Values{"method": {"url"}, "metadata_url": {idp.metadataURL()},
		"map_identifier": {"uid"}, "map_email": {"email"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("configure: %d %s\n%s", res.Status, res.Text(`[data-testid^="error-"]`), idp.log())
	}
	var sloURL, sloBinding string
	if err := a.DB.Bun.NewRaw(`SELECT coalesce(config->>'slo_url', ''), coalesce(config->>'slo_binding', '') FROM auth_providers`).
		Scan(context.Background(), &sloURL, &sloBinding); err != nil || sloURL == "" || sloBinding != samlsp.BindingPOST {
		t.Fatalf("SLO registered %q by %q (%v): SimpleSAMLphp did not publish POST only", sloURL, sloBinding, err)
	}
	if res := idp.browser(t).signInAt(owner, sp, owner.Post("/settings/acme/auth/activate/", nil), "olive", "olivepass"); res.Status != http.StatusSeeOther {
		idp.fail(t, a, "activation", res)
	}
	dana, danaIdP := a.Client(t), idp.browser(t)
	signIn := func() {
		t.Helper()
		dana.Get("/auth/login/acme/")
		if res := danaIdP.signInAt(dana, sp, dana.Post("/auth/login/acme/", nil), "dana", "danapass"); res.Status != http.StatusSeeOther || res.Location != "/organizations/acme/" {
			idp.fail(t, a, "dana's sign-in", res)
		}
	}
	returnTo := a.BaseURL + "/auth/login/"

	// IdP-initiated: our SLS answers with a form that posts the LogoutResponse.
	signIn()
	hops := danaIdP.follow(idp.idpBase+"/saml2/idp/SingleLogoutService.php?"+url.Values{"ReturnTo": {returnTo}}.Encode(), returnTo)
	var sls, posted *sspHop
	for i := range hops {
		switch {
		case hops[i].method == http.MethodGet && strings.HasPrefix(hops[i].url, sp.SLSURL+"?"):
			sls = &hops[i]
		case hops[i].method == http.MethodPost && hops[i].url == sloURL && hops[i].form.Get("SAMLResponse") != "":
			posted = &hops[i]
		}
	}
	if sls == nil || sls.status != http.StatusOK || posted == nil {
		t.Fatalf("IdP-initiated logout: no LogoutResponse posted to %s: %s\n%s", sloURL, sspHops(hops), idp.log())
	}
	if doc, err := base64.StdEncoding.DecodeString(posted.form.Get("SAMLResponse")); err != nil || !bytes.Contains(doc, []byte("LogoutResponse")) {
		t.Fatalf("posted SAMLResponse is not a LogoutResponse (%v)", err)
	}
	if last := hops[len(hops)-1]; last.location != returnTo {
		t.Fatalf("logout did not finish at ReturnTo: %s\n%s", sspHops(hops), idp.log())
	}
	if errs := idp.logErrors(); errs != "" {
		t.Fatalf("SimpleSAMLphp logged errors during the logout:\n%s", errs)
	}
	if dana.Get("/organizations/acme/").Status != http.StatusSeeOther {
		t.Fatal("dana still signed in after the IdP's logout")
	}
	t.Log("IdP-initiated logout, LogoutResponse by HTTP-POST: ok")

	// SP-initiated: the logout page's form posts the LogoutRequest to SimpleSAMLphp,
	// whose LogoutResponse comes back to our SLS and is verified.
	signIn()
	out := dana.Post("/auth/logout/", nil)
	form := out.Doc.Find(`form[data-testid="idp-logout-form"]`)
	if form.AttrOr("action", "") != sloURL {
		t.Fatalf("logout page: %d, form to %q", out.Status, form.AttrOr("action", ""))
	}
	values := url.Values{}
	form.Find("input[name]").Each(func(_ int, in *goquery.Selection) { values.Set(in.AttrOr("name", ""), in.AttrOr("value", "")) })
	req, _ := http.NewRequest(http.MethodPost, sloURL, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hops = danaIdP.followRequest(req, values, returnTo)
	if last := hops[len(hops)-1]; !strings.HasPrefix(last.url, sp.SLSURL) || last.location != returnTo {
		t.Fatalf("SP-initiated logout did not come back verified: %s\n%s", sspHops(hops), idp.log())
	}
	if errs := idp.logErrors(); errs != "" {
		t.Fatalf("SimpleSAMLphp logged errors during SP-initiated logout:\n%s", errs)
	}
	if dana.Get("/organizations/acme/").Status != http.StatusSeeOther {
		t.Fatal("dana still signed in after logging out")
	}
	t.Log("SP-initiated logout to a POST-only IdP: ok")
}
