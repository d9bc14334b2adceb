package fetch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/models/fetch"
)

func TestFetchGuards(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("<md/>"))
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", fetch.MaxBody+1)))
		case "/redirect-loop":
			http.Redirect(w, r, "/redirect-loop", http.StatusFound)
		case "/to-metadata-service":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	open := fetch.New(true)
	if b, err := open.Get(ctx, srv.URL+"/ok"); err != nil || string(b) != "<md/>" {
		t.Fatalf("allowed fetch: %q %v", b, err)
	}
	strict := fetch.New(false)
	cases := []struct {
		name, url, want string
		f               *fetch.Fetcher
	}{
		{"loopback refused by default", "http://127.0.0.1/metadata", "private or reserved address", strict},
		{"localhost name refused by default", "http://localhost/metadata", "private or reserved address", strict},
		{"private network refused by default", "https://10.1.2.3/metadata", "private or reserved address", strict},
		{"cloud metadata refused", "http://169.254.169.254/latest/meta-data/", "", strict},
		{"redirect to the metadata service refused", srv.URL + "/to-metadata-service", "private or reserved", open},
		{"non-http scheme", "file:///etc/passwd", "https:// or http://", strict},
		{"credentials in URL", "https://user:pw@idp.example/metadata", "user name or password", strict},
		{"loopback on a non-standard port refused by its address", "http://127.0.0.1:9031/metadata", "private or reserved address", strict},
		{"private address on Keycloak's port refused by its address", "https://10.1.2.3:8443/metadata", "private or reserved address", strict},
		{"bad port", "https://idp.example:99999/metadata", "invalid port", strict},
		{"404", srv.URL + "/missing", "answered 404", open},
		{"too large", srv.URL + "/big", "larger than 1 MiB", open},
		{"redirect loop", srv.URL + "/redirect-loop", "could not be reached", open},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.f.Get(ctx, tc.url)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "127.0.0.1") || strings.Contains(err.Error(), "169.254") {
				t.Fatalf("error reveals an internal address: %v", err)
			}
		})
	}
}

// TestPublicAddressAnyPort: a public address on a non-standard port (PingFederate
// :9031, Keycloak :8443) passes the guard; only the network decides (no network here:
// "could not be reached", never a refusal of the port or the address).
func TestPublicAddressAnyPort(t *testing.T) {
	for _, u := range []string{"https://1.1.1.1:9031/pf/federation_metadata.ping", "https://[2606:4700:4700::1111]:8443/realms/x/protocol/saml/descriptor"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := fetch.New(false).Get(ctx, u)
		cancel()
		if err != nil && (strings.Contains(err.Error(), "private or reserved") || strings.Contains(err.Error(), "port")) {
			t.Errorf("%s refused by the guard: %v", u, err)
		}
	}
}
