package samltest

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/crewjam/saml"

	"gatehouse/models/samlsp"
)

// NewServer starts an HTTP front for a fresh IdP on a loopback port, for browser
// tests, and returns both. The listener is opened first so that the IdP's URLs
// (EntityID = URL+"/metadata", SSOURL = URL+"/sso", SLOURL = URL+"/slo") name it. It
// serves:
//
//	GET  /metadata                       the IdP metadata XML (what an owner registers)
//	GET  /sso?SAMLRequest=…&RelayState=… HTTP-Redirect AuthnRequest: a login page with a
//	                                     "Sign in as <email>" button per user (AddUser)
//	POST /sso/login                      the chosen user (fields request, relay, user):
//	                                     the HTTP-POST binding form, see below
//	GET  /idp-initiated?user=KEY&sp=…    an unsolicited response for the SP whose entity
//	                                     ID (= metadata URL) is sp; RelayState is the
//	                                     relay parameter, else Gatehouse's default
//	                                     "/organizations/<slug>/" (slug = the last
//	                                     segment of sp)
//
// The answer to a sign-in is the form real IdPs auto-submit: method=post to the SP's
// ACS with hidden SAMLResponse and RelayState. It has no script (it works under any
// CSP, and the test decides when to send it): the user clicks its "Continue" button
// (data-testid="idp-continue"). Responses are signed as Response does, with
// InResponseTo = the AuthnRequest's ID, for the SP named by the request's Issuer and
// AssertionConsumerServiceURL. The pages carry data-testid attributes: idp-login,
// idp-user-<key>, idp-post, idp-continue.
//
// A request the IdP cannot answer gets a 400 naming why; a failure to sign is
// reported with t.Error and the request aborted (t.Fatal must not run outside the
// test's goroutine). The server closes at the end of the test.
func NewServer(t testing.TB) (*IdP, *httptest.Server) {
	t.Helper()
	return NewServerAt(t, "")
}

// NewServerAt is NewServer listening on addr (host:port, "" for 127.0.0.1:0): an IdP
// on 127.0.0.2 is another site than an app on 127.0.0.1, so a browser treats its
// POST to the app's ACS as cross-site (no SameSite=Lax cookies), as with a real IdP.
func NewServerAt(t testing.TB, addr string) (*IdP, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil) // listens on 127.0.0.1:0 already
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("IdP listener on %s: %v", addr, err)
		}
		srv.Listener.Close()
		srv.Listener = ln
	}
	key, cert := NewKeyPair(t)
	i := NewWithKey("http://"+srv.Listener.Addr().String(), key, cert)
	srv.Config.Handler = i.handler(t)
	srv.Start()
	t.Cleanup(func() { srv.Close(); servers.Delete(i) })
	return i, srv
}

// serverState is what the HTTP front keeps per IdP (IdP, declared in samltest.go,
// has no room for it).
type serverState struct {
	mu      sync.Mutex
	keys    []string // AddUser order, the login page's
	users   map[string]User
	pending map[string]authnRequest // AuthnRequests by ID, until a user is chosen
}

var servers sync.Map // *IdP → *serverState

func (i *IdP) state() *serverState {
	s, _ := servers.LoadOrStore(i, &serverState{users: map[string]User{}, pending: map[string]authnRequest{}})
	return s.(*serverState)
}

// AddUser registers a user the login page offers under key (safe for concurrent use).
func (i *IdP) AddUser(key string, u User) {
	s := i.state()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[key]; !ok {
		s.keys = append(s.keys, key)
	}
	s.users[key] = u
}

func (i *IdP) user(key string) (User, bool) {
	s := i.state()
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[key]
	return u, ok
}

// authnRequest is what the IdP keeps of an SP's AuthnRequest until a user is chosen.
type authnRequest struct {
	ID string
	SP samlsp.SP
}

// serverTB turns the Fatal of Response (called in a handler goroutine) into an error
// and an aborted request.
type serverTB struct{ testing.TB }

func (s serverTB) Fatal(args ...any) {
	s.Helper()
	s.Error(args...)
	panic(http.ErrAbortHandler)
}

func (s serverTB) Fatalf(format string, args ...any) {
	s.Helper()
	s.Errorf(format, args...)
	panic(http.ErrAbortHandler)
}

func (s serverTB) FailNow() { s.Fail(); panic(http.ErrAbortHandler) }

func (i *IdP) handler(t testing.TB) http.Handler {
	tb := serverTB{t}
	st := i.state()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metadata", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(i.Metadata())
	})
	mux.HandleFunc("GET /sso", func(w http.ResponseWriter, r *http.Request) {
		req, err := decodeAuthnRequest(r.URL.Query().Get("SAMLRequest"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		st.mu.Lock()
		st.pending[req.ID] = req
		var users []loginUser
		for _, k := range st.keys {
			users = append(users, loginUser{Key: k, Email: first(st.users[k].Attributes["email"], st.users[k].NameID)})
		}
		st.mu.Unlock()
		render(w, loginPage, map[string]any{"SP": req.SP.EntityID, "Request": req.ID,
			"Relay": r.URL.Query().Get("RelayState"), "Users": users})
	})
	mux.HandleFunc("POST /sso/login", func(w http.ResponseWriter, r *http.Request) {
		st.mu.Lock()
		req, ok := st.pending[r.FormValue("request")]
		delete(st.pending, r.FormValue("request"))
		st.mu.Unlock()
		u, uok := i.user(r.FormValue("user"))
		if !ok || !uok {
			http.Error(w, "unknown request or user", http.StatusBadRequest)
			return
		}
		raw := i.Response(tb, req.SP, u, Options{InResponseTo: req.ID})
		i.post(w, req.SP.ACSURL, raw, r.FormValue("relay"))
	})
	mux.HandleFunc("GET /idp-initiated", func(w http.ResponseWriter, r *http.Request) {
		u, ok := i.user(r.URL.Query().Get("user"))
		if !ok {
			http.Error(w, "unknown user", http.StatusBadRequest)
			return
		}
		entityID := r.URL.Query().Get("sp")
		acs, err := spACS(entityID)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		relay := r.URL.Query().Get("relay")
		if relay == "" {
			segs := strings.Split(strings.Trim(mustParse(entityID).Path, "/"), "/")
			relay = "/organizations/" + segs[len(segs)-1] + "/"
		}
		raw := i.Response(tb, samlsp.SP{EntityID: entityID, ACSURL: acs}, u, Options{})
		i.post(w, acs, raw, relay)
	})
	// SP-initiated logout: the IdP ends its session and answers the SP's SLS with a
	// (deflated, unsigned) success LogoutResponse.
	mux.HandleFunc("GET /slo", func(w http.ResponseWriter, r *http.Request) {
		compressed, err := base64.StdEncoding.DecodeString(r.URL.Query().Get("SAMLRequest"))
		if err != nil {
			http.Error(w, "SAMLRequest is not base64", http.StatusBadRequest)
			return
		}
		raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(compressed)), 1<<20))
		if err != nil {
			http.Error(w, "SAMLRequest does not inflate", http.StatusBadRequest)
			return
		}
		var lr struct {
			ID     string `xml:"ID,attr"`
			Issuer string `xml:"Issuer"`
		}
		if err := xml.Unmarshal(raw, &lr); err != nil || !strings.Contains(lr.Issuer, "/saml/metadata/") {
			http.Error(w, "not a LogoutRequest", http.StatusBadRequest)
			return
		}
		sls := strings.Replace(lr.Issuer, "/saml/metadata/", "/saml/sls/", 1)
		resp := `<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="id-lr" Version="2.0" InResponseTo="` + lr.ID +
			`"><saml:Issuer>` + i.EntityID + `</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>`
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, flate.DefaultCompression)
		_, _ = fw.Write([]byte(resp))
		_ = fw.Close()
		http.Redirect(w, r, sls+"?SAMLResponse="+url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes())), http.StatusSeeOther)
	})
	return mux
}

type loginUser struct{ Key, Email string }

func first(vs []string, def string) string {
	if len(vs) > 0 {
		return vs[0]
	}
	return def
}

// post answers with the HTTP-POST binding form for a signed response.
func (i *IdP) post(w http.ResponseWriter, acs string, raw []byte, relay string) {
	render(w, postPage, map[string]any{"ACS": acs, "Response": base64.StdEncoding.EncodeToString(raw), "Relay": relay})
}

// decodeAuthnRequest reads an HTTP-Redirect binding SAMLRequest (base64 of raw DEFLATE).
func decodeAuthnRequest(b64 string) (authnRequest, error) {
	compressed, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return authnRequest{}, fmt.Errorf("SAMLRequest is not base64: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(compressed)), 1<<20))
	if err != nil {
		return authnRequest{}, fmt.Errorf("SAMLRequest does not inflate: %w", err)
	}
	var req saml.AuthnRequest
	if err := xml.Unmarshal(raw, &req); err != nil {
		return authnRequest{}, fmt.Errorf("SAMLRequest is not an AuthnRequest: %w", err)
	}
	if req.ID == "" || req.Issuer == nil || req.Issuer.Value == "" || req.AssertionConsumerServiceURL == "" {
		return authnRequest{}, fmt.Errorf("the AuthnRequest lacks an ID, Issuer or AssertionConsumerServiceURL")
	}
	return authnRequest{ID: req.ID, SP: samlsp.SP{EntityID: req.Issuer.Value, ACSURL: req.AssertionConsumerServiceURL}}, nil
}

// spACS reads the HTTP-POST ACS location from the SP metadata at entityID, as an
// administrator importing SP metadata into an IdP would.
func spACS(entityID string) (string, error) {
	res, err := http.Get(entityID)
	if err != nil {
		return "", fmt.Errorf("fetch SP metadata: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch SP metadata: %s", res.Status)
	}
	var ed saml.EntityDescriptor
	if err := xml.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&ed); err != nil {
		return "", fmt.Errorf("read SP metadata: %w", err)
	}
	for _, sd := range ed.SPSSODescriptors {
		for _, acs := range sd.AssertionConsumerServices {
			if acs.Binding == saml.HTTPPostBinding {
				return acs.Location, nil
			}
		}
	}
	return "", fmt.Errorf("the SP metadata has no HTTP-POST AssertionConsumerService")
}

func render(w http.ResponseWriter, tmpl *template.Template, data any) {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

const pageHead = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Test IdP</title>` +
	`<link rel="icon" href="data:,"></head><body style="font-family:sans-serif;max-width:40em;margin:2em auto">`

var loginPage = template.Must(template.New("login").Parse(pageHead + `
<h1>Test IdP</h1>
<p>Sign in to <code>{{.SP}}</code></p>
<form method="post" action="/sso/login" data-testid="idp-login">
<input type="hidden" name="request" value="{{.Request}}">
<input type="hidden" name="relay" value="{{.Relay}}">
{{range .Users}}<p><button type="submit" name="user" value="{{.Key}}" data-testid="idp-user-{{.Key}}">Sign in as {{.Email}}</button></p>
{{else}}<p>No users: call AddUser.</p>{{end}}
</form></body></html>`))

var postPage = template.Must(template.New("post").Parse(pageHead + `
<h1>Test IdP</h1>
<form method="post" action="{{.ACS}}" data-testid="idp-post">
<input type="hidden" name="SAMLResponse" value="{{.Response}}">
{{if .Relay}}<input type="hidden" name="RelayState" value="{{.Relay}}">{{end}}
<p>Signed in. Continue to <code>{{.ACS}}</code>.</p>
<button type="submit" data-testid="idp-continue">Continue</button>
</form></body></html>`))
