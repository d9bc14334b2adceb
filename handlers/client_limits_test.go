package handlers_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
)

// A SCIM body over 1 MiB gets the SCIM 413 over a real connection, not a reset while
// the client is still sending (issue 13 item 8).
func TestSCIMBodyOverLimitIs413(t *testing.T) {
	e := newSCIMEnvWith(t, testapp.Options{})
	a := e.a
	ln, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatal(lerr)
	}
	go func() { _ = a.Fiber.Listener(ln) }()
	defer a.Fiber.Shutdown() //nolint:errcheck
	// A client that sends its whole request before reading (as IdPs' HTTP clients do).
	big := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"big@example.com","displayName":"` +
		strings.Repeat("x", 3<<19) + `"}` // 1.5 MiB
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := "POST /api/0/organizations/acme/scim/v2/Users HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer " + e.token +
		"\r\nContent-Type: application/scim+json\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n"
	// Sent in pieces, as over a real network: the server must not close under it.
	msg := head + big
	for len(msg) > 0 {
		n := min(64<<10, len(msg))
		if _, err := io.WriteString(conn, msg[:n]); err != nil {
			t.Fatalf("sending the 1.5 MiB body: %v (the server closed before reading it)", err)
		}
		msg = msg[n:]
		time.Sleep(10 * time.Millisecond)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v (want a SCIM 413)", err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("413 body is not JSON: %v", err)
	}
	if res.StatusCode != http.StatusRequestEntityTooLarge || body["status"] != "413" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/scim+json") {
		t.Fatalf("%d %s %v", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
}

// Per-address limits key on the client behind a trusted proxy, on the IPv6 /64, and
// ignore X-Forwarded-For from anyone else (issue 13 item 5, issue 9's /64).
func TestRateLimitKeysOnTheClient(t *testing.T) {
	badAuth := func(a *testapp.App, xff string) int {
		req := httptest.NewRequest("GET", "/api/0/organizations/acme/scim/v2/Users", nil)
		req.Header.Set("Authorization", "Bearer ghscim_guess")
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		res, err := a.Fiber.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	// app.Test connections come from 0.0.0.0: that is the proxy.
	proxied := newSCIMEnvWith(t, testapp.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/32")}})
	for i := 0; i < 31; i++ {
		// One attacker rotating through their /64 behind the proxy.
		badAuth(proxied.a, "198.51.100.9, 2001:db8:a:b::"+strings.Repeat("f", i%4+1))
	}
	if st := badAuth(proxied.a, "2001:db8:a:b:1:2:3:4"); st != http.StatusTooManyRequests {
		t.Fatalf("same /64 after 31 failures: %d, want 429", st)
	}
	if st := badAuth(proxied.a, "2001:db8:a:c::1"); st != http.StatusUnauthorized {
		t.Fatalf("another client behind the same proxy: %d, want 401 (not locked out by someone else)", st)
	}
	if st := badAuth(proxied.a, "203.0.113.7"); st != http.StatusUnauthorized {
		t.Fatalf("an IPv4 client behind the proxy: %d, want 401", st)
	}

	// Without trusted proxies the header is the client's to write: ignored.
	direct := newSCIMEnvWith(t, testapp.Options{})
	for i := 0; i < 31; i++ {
		badAuth(direct.a, "203.0.113."+strings.Repeat("1", i%3+1))
	}
	if st := badAuth(direct.a, "192.0.2.200"); st != http.StatusTooManyRequests {
		t.Fatalf("spoofed X-Forwarded-For escaped the limit: %d", st)
	}
}

func TestClientAddressAndKey(t *testing.T) {
	trusted, err := models.ParseTrustedProxies("10.0.0.0/8, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		wantAddr     string
		wantKey      string
	}{
		{"direct IPv4", "203.0.113.5", nil, "203.0.113.5", "203.0.113.5"},
		{"direct, header ignored", "203.0.113.5", []string{"1.2.3.4"}, "203.0.113.5", "203.0.113.5"},
		{"behind proxy", "10.1.2.3", []string{"198.51.100.7"}, "198.51.100.7", "198.51.100.7"},
		{"client-written hops before the proxy's are ignored", "10.1.2.3", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7", "198.51.100.7"},
		{"two trusted proxies", "10.1.2.3", []string{"198.51.100.7", "10.9.9.9"}, "198.51.100.7", "198.51.100.7"},
		{"IPv6 keys on the /64", "10.1.2.3", []string{"2001:db8:1:2:aaaa::1"}, "2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"IPv4-mapped", "::ffff:203.0.113.5", nil, "203.0.113.5", "203.0.113.5"},
		{"garbled hop", "10.1.2.3", []string{"not-an-ip"}, "10.1.2.3", "10.1.2.3"},
		{"all trusted", "10.1.2.3", []string{"10.0.0.1"}, "10.0.0.1", "10.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := models.ClientAddress(netip.MustParseAddr(tc.remote), tc.xff, trusted)
			if a.String() != tc.wantAddr || models.ClientKey(a) != tc.wantKey {
				t.Fatalf("got %s / %s, want %s / %s", a, models.ClientKey(a), tc.wantAddr, tc.wantKey)
			}
		})
	}
	if _, err := models.ParseTrustedProxies("10.0.0.0/8,nonsense"); err == nil {
		t.Fatal("nonsense accepted")
	}
}
