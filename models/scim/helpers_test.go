package scim

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	t0 = time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC)
	t1 = time.Date(2024, 6, 2, 10, 45, 15, 0, time.UTC)
)

const base = "https://gh.example/api/0/organizations/acme/scim/v2"

// body returns an inline JSON body as is, or the contents of testdata/<name>.
func body(t *testing.T, s string) []byte {
	t.Helper()
	if strings.HasPrefix(strings.TrimSpace(s), "{") || strings.HasPrefix(strings.TrimSpace(s), "[") || !strings.HasSuffix(s, ".json") {
		return []byte(s)
	}
	b, err := os.ReadFile(filepath.Join("testdata", s))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// patchBody wraps operations in a PatchOp message.
func patchBody(ops string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + ops + `]}`
}

// checkErr compares an error with the SCIM error a row expects (nil: no error).
func checkErr(t *testing.T, got error, want *Error) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Fatalf("unexpected error: %v", got)
		}
		return
	}
	se, ok := got.(*Error)
	if !ok {
		t.Fatalf("error = %#v, want *Error %+v", got, *want)
	}
	if *se != *want {
		t.Fatalf("error =\n  %+v\nwant\n  %+v", *se, *want)
	}
}

func bad(scimType, detail string) *Error {
	return &Error{Status: 400, ScimType: scimType, Detail: detail}
}

func deepEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s =\n  %#v\nwant\n  %#v", what, got, want)
	}
}
