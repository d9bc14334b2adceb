package fetch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
		{"non-standard port", "https://idp.example:8443/metadata", "standard port", strict},
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
