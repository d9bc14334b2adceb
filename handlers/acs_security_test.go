package handlers_test

import (
	"encoding/base64"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/beevik/etree"

	"gatehouse/handlers/testapp"
	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// rowCounts are the tables a refused response must leave untouched (SECURITY.md).
func rowCounts(t *testing.T, a *testapp.App) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"users", "auth_identities", "members", "saml_replay", "pending_links"} {
		out[table] = count(t, a, "SELECT count(*) FROM "+table)
	}
	out["live sessions"] = count(t, a, "SELECT count(*) FROM sessions WHERE expiry > now() AND user_id IS NOT NULL")
	return out
}

func docBytes(t *testing.T, d *etree.Document) []byte {
	b, err := d.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestACSRejectsHostileResponses(t *testing.T) {
	e := newSSOEnv(t, true)
	// A second org "beta" with its own IdP (the malicious tenant).
	ownerB := signUp(t, e.a, "mallory@example.com")
	ownerB.Get("/organizations/new/")
	if res := ownerB.Post("/organizations/new/", url.Values{"name": {"Beta"}, "slug": {"beta"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("org beta: %d", res.Status)
	}
	idpB := samltest.New(t, "https://evil-idp.example")
	if res := ownerB.Post("/settings/beta/auth/configure/saml2/", url.Values{"method": {"xml"}, "metadata_xml": {string(idpB.Metadata())},
		"map_identifier": {"NameID"}, "map_email": {"email"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("configure beta: %d %s", res.Status, res.Body)
	}
	if _, err := e.a.DB.Bun.NewRaw("UPDATE auth_providers SET status = 'active' WHERE kind = 'saml2'").Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	spB := samlsp.NewSP(e.a.BaseURL, "beta")
	victim := user("owner-1", "owner@example.com")  // acme's owner, linked as owner-1
	other := samltest.New(t, "https://idp.example") // same entity ID as acme's IdP, other key

	// A pending SP-initiated request of acme, to answer from elsewhere.
	starter := e.a.Client(t)
	relayA, idA := authnRequest(t, starter.Post("/auth/login/acme/", nil))

	cases := []struct {
		name  string
		slug  string
		form  url.Values
		ctype string
	}{
		{name: "signed by another key", slug: "acme", form: samlForm(other.Response(t, e.sp, victim, samltest.Options{}), "")},
		{name: "org B's IdP asserts org A's owner at org A", slug: "acme", form: samlForm(idpB.Response(t, e.sp, victim, samltest.Options{}), "")},
		{name: "org A's response posted to org B", slug: "beta", form: samlForm(e.idp.Response(t, e.sp, victim, samltest.Options{}), "")},
		{name: "answer to A's request posted to B", slug: "beta", form: samlForm(idpB.Response(t, spB, victim, samltest.Options{InResponseTo: idA}), relayA)},
		{name: "InResponseTo of a request never issued", slug: "acme", form: samlForm(e.idp.Response(t, e.sp, victim, samltest.Options{InResponseTo: "id-forged"}), "")},
		{name: "wrong audience", slug: "acme", form: samlForm(e.idp.Response(t, e.sp, victim, samltest.Options{Audience: spB.EntityID}), "")},
		{name: "tampered after signing", slug: "acme", form: samlForm([]byte(strings.Replace(string(e.idp.Response(t, e.sp, user("zed-1", "zed@example.com"), samltest.Options{})), "zed@example.com", "owner@example.com", 1)), "")},
		{name: "DOCTYPE", slug: "acme", form: samlForm([]byte(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>`), "")},
		{name: "not base64", slug: "acme", form: url.Values{"SAMLResponse": {"%%%"}}},
		{name: "two SAMLResponse fields", slug: "acme", form: url.Values{"SAMLResponse": {"a", "b"}}},
		{name: "artifact binding", slug: "acme", form: url.Values{"SAMLart": {"AAQAA"}}},
		{name: "oversized body", slug: "acme", form: url.Values{"SAMLResponse": {strings.Repeat("A", samlsp.MaxEncodedResponse+10)}}},
		{name: "deeply nested", slug: "acme", form: samlForm([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">`+strings.Repeat("<a>", 100)+strings.Repeat("</a>", 100)+`</samlp:Response>`), "")},
	}
	// Assertion without Subject, validly signed.
	noSubject := e.idp.ResponseDoc(t, e.sp, victim, samltest.Options{})
	as := noSubject.Root().FindElement("./Assertion")
	as.RemoveChild(as.FindElement("./Subject"))
	signedAs := e.idp.Sign(t, as)
	noSubject.Root().RemoveChild(as)
	noSubject.Root().AddChild(signedAs)
	noSubject.Root().RemoveChild(noSubject.Root().FindElement("./Signature"))
	cases = append(cases, struct {
		name  string
		slug  string
		form  url.Values
		ctype string
	}{name: "signed assertion without Subject", slug: "acme", form: samlForm(docBytes(t, noSubject), "")})

	before := rowCounts(t, e.a)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/saml/acs/"+tc.slug+"/", strings.NewReader(tc.form.Encode()))
			ct := tc.ctype
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ct)
			res := e.a.Client(t).Do(req)
			if res.Status < 400 || res.Status >= 500 {
				t.Fatalf("status %d", res.Status)
			}
			if cookies := res.Header.Values("Set-Cookie"); len(cookies) != 0 {
				t.Fatalf("cookie set: %v", cookies)
			}
			for _, leak := range []string{"<samlp:", "goroutine", "crewjam", "xmldsig"} {
				if strings.Contains(res.Body, leak) {
					t.Fatalf("body leaks %q", leak)
				}
			}
		})
	}
	// A multipart body (crewjam would parse it; SECURITY.md wants a plain form).
	t.Run("multipart body", func(t *testing.T) {
		var body strings.Builder
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField("SAMLResponse", base64.StdEncoding.EncodeToString(e.idp.Response(t, e.sp, victim, samltest.Options{})))
		_ = mw.Close()
		req := httptest.NewRequest(http.MethodPost, "/saml/acs/acme/", strings.NewReader(body.String()))
		req.Header.Set("Content-Type", mw.FormDataContentType())
		if res := e.a.Client(t).Do(req); res.Status != http.StatusForbidden || len(res.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("multipart: %d", res.Status)
		}
	})
	if after := rowCounts(t, e.a); !equalCounts(before, after) {
		t.Fatalf("rows changed: %v -> %v", before, after)
	}
	if n := count(t, e.a, "SELECT count(*) FROM sso_signins WHERE outcome = 'failure'"); n < len(cases)-3 {
		t.Fatalf("only %d failures logged", n)
	}
	// Org B's IdP asserting the email of org A's owner at org B: never signed in as
	// that account, never linked without the account owner's proof.
	// (Unsolicited, so it cannot even start a link: the link would land in whichever
	// browser the attacker pushed the response into.)
	res := postToACS(e.a.Client(t), "beta", idpB.Response(t, spB, user("mallory-idp-1", "owner@example.com"), samltest.Options{}), "")
	if res.Status != http.StatusForbidden || !strings.Contains(res.Text(`[data-testid="sso-error"]`), "sign in from the organization's login page") {
		t.Fatalf("B asserting A's owner: %d %s", res.Status, res.Location)
	}
	if n := count(t, e.a, "SELECT count(*) FROM pending_links"); n != 0 {
		t.Fatal("an unsolicited response started a link")
	}
	if got := rowCounts(t, e.a); got["live sessions"] != before["live sessions"] || got["auth_identities"] != before["auth_identities"] {
		t.Fatalf("B's assertion signed in or linked A's owner: %v", got)
	}
	// Still serving: the pending request completes normally.
	if res := e.post(starter, e.idp.Response(t, e.sp, victim, samltest.Options{InResponseTo: idA}), relayA); res.Status != http.StatusSeeOther {
		t.Fatalf("valid login after the attacks: %d %s", res.Status, res.Body)
	}
}

func equalCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func samlForm(raw []byte, relay string) url.Values {
	v := url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(raw)}}
	if relay != "" {
		v.Set("RelayState", relay)
	}
	return v
}

func TestACSConcurrentReplay(t *testing.T) {
	e := newSSOEnv(t, true)
	raw := e.idp.Response(t, e.sp, user("bob-1", "bob@example.com"), samltest.Options{})
	const n = 6
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i] = e.post(e.a.Client(t), raw, "").Status
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == http.StatusSeeOther {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent uses accepted: %v", ok, n, statuses)
	}
	if c := count(t, e.a, "SELECT count(*) FROM users WHERE email = 'bob@example.com'"); c != 1 {
		t.Fatalf("users for bob: %d", c)
	}
}
