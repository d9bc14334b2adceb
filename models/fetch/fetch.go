// Package fetch downloads IdP metadata from URLs an org owner types, safely: only
// http(s), no credentials in the URL, any port (PingFederate :9031, Keycloak :8443:
// the guard is the address, not the port), every resolved address checked
// at connect time (loopback, private, link-local, cloud metadata, mapped IPv4 …, also
// after redirects), 10 s, 1 MiB after decompression (SECURITY.md "Outbound metadata
// fetch").
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"code.dny.dev/ssrf"
)

// MaxBody bounds a metadata document.
const MaxBody = 1 << 20

// Fetcher gets metadata documents.
type Fetcher struct {
	client       *http.Client
	allowPrivate bool
}

// New returns a Fetcher. allowPrivate lets it reach private and loopback addresses
// (tests, on-premises IdPs); it is off by default in the configuration.
func New(allowPrivate bool) *Fetcher {
	// Every port: what must not be reached is decided by the address, checked at
	// connect time (issue 11: IdPs publish metadata on :8443, :9031 …).
	opts := []ssrf.Option{ssrf.WithAnyPort()}
	if allowPrivate {
		opts = append(opts,
			ssrf.WithAllowedV4Prefixes(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"),
				netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16")),
			ssrf.WithAllowedV6Prefixes(netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fc00::/7")),
		)
	}
	guard := ssrf.New(opts...)
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: guard.Safe}
	transport := &http.Transport{
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  10 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		Proxy:                  nil, // a proxy would dial on our behalf, bypassing the guard
	}
	return &Fetcher{allowPrivate: allowPrivate, client: &http.Client{
		Transport: transport,
		Timeout:   10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			return checkURL(req.URL, allowPrivate)
		},
	}}
}

// Error is a fetch failure worded for the person who typed the URL; it never
// carries the body of an internal response.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func fail(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

func checkURL(u *url.URL, allowPrivate bool) error {
	if u.Scheme != "https" && u.Scheme != "http" {
		return fail("the URL must start with https:// or http://")
	}
	if u.User != nil {
		return fail("the URL must not contain a user name or password")
	}
	if u.Hostname() == "" {
		return fail("the URL has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fail("the URL has an invalid port")
		}
	}
	return nil
}

// Get downloads rawURL.
func (f *Fetcher) Get(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fail("the URL is not valid")
	}
	if err := checkURL(u, f.allowPrivate); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fail("the URL is not valid")
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml, text/xml")
	req.Header.Set("User-Agent", "Gatehouse metadata fetcher")
	res, err := f.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			return nil, fail("the URL did not answer within 10 seconds")
		}
		if errors.Is(err, ssrf.ErrProhibitedIP) || errors.Is(err, ssrf.ErrProhibitedPort) || errors.Is(err, ssrf.ErrProhibitedNetwork) {
			return nil, fail("the URL points to a private or reserved address, which is not allowed: use your IdP's public metadata URL, or paste the metadata XML instead (an on-premises IdP needs the instance's operator to allow private addresses)")
		}
		var fe *Error
		if errors.As(err, &fe) {
			return nil, fe
		}
		return nil, fail("the URL could not be reached")
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fail("the URL answered %d", res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxBody+1))
	if err != nil {
		return nil, fail("the download was interrupted")
	}
	if len(body) > MaxBody {
		return nil, fail("the document is larger than 1 MiB")
	}
	return body, nil
}
