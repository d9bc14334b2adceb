package testapp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// Client is a browser for app.Test: it keeps cookies and the last page's CSRF token.
type Client struct {
	t       testing.TB
	app     *App
	cookies map[string]*http.Cookie
	csrf    string
}

// Client returns a new browser with no cookies.
func (a *App) Client(t testing.TB) *Client {
	return &Client{t: t, app: a, cookies: map[string]*http.Cookie{}}
}

// Response is a fetched page.
type Response struct {
	Status   int
	Location string
	Header   http.Header
	Body     string
	Doc      *goquery.Document
}

// Text returns the trimmed text of the first element matching sel.
func (r *Response) Text(sel string) string {
	return strings.TrimSpace(r.Doc.Find(sel).First().Text())
}

// Has reports whether sel matches anything.
func (r *Response) Has(sel string) bool { return r.Doc.Find(sel).Length() > 0 }

// Get fetches path.
func (c *Client) Get(path string) *Response {
	c.t.Helper()
	return c.Do(httptest.NewRequest(http.MethodGet, path, nil))
}

// Post submits a form to path with this session's CSRF token (unless values sets
// _csrf itself).
func (c *Client) Post(path string, values url.Values) *Response {
	c.t.Helper()
	if values == nil {
		values = url.Values{}
	}
	if _, ok := values["_csrf"]; !ok {
		values.Set("_csrf", c.CSRF())
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.Do(req)
}

// CSRF returns the session's CSRF token, fetching a page to get one when needed.
func (c *Client) CSRF() string {
	if c.csrf == "" {
		c.Get("/auth/login/")
	}
	return c.csrf
}

// Do sends req with the cookies and records the new ones.
func (c *Client) Do(req *http.Request) *Response {
	c.t.Helper()
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	return c.send(req)
}

// CrossSite sends req as a browser sends another site's form POST: without the
// client's SameSite=Lax cookies (cookies the response sets are kept).
func (c *Client) CrossSite(req *http.Request) *Response {
	c.t.Helper()
	return c.send(req)
}

func (c *Client) send(req *http.Request) *Response {
	c.t.Helper()
	if req.Host == "" || req.Host == "example.com" {
		req.Host = "gatehouse.test"
	}
	res, err := c.app.Fiber.Test(req, -1)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
			continue
		}
		c.cookies[ck.Name] = ck
	}
	body, _ := io.ReadAll(res.Body)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(body)))
	if err != nil {
		c.t.Fatalf("parse %s: %v", req.URL, err)
	}
	if tok, ok := doc.Find(`meta[name="csrf-token"]`).Attr("content"); ok && tok != "" {
		c.csrf = tok
	}
	return &Response{Status: res.StatusCode, Location: res.Header.Get("Location"), Header: res.Header, Body: string(body), Doc: doc}
}

// Cookie returns the named cookie the client holds, or nil.
func (c *Client) Cookie(name string) *http.Cookie { return c.cookies[name] }
