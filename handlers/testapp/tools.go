package testapp

import (
	"os"
	"testing"
)

// RequireTool stops a test that needs software outside Go and PostgreSQL (Chromium,
// SimpleSAMLphp). In CI (GATEHOUSE_CI set by .ci/run, which installs them) a missing
// tool fails the test; elsewhere it is skipped, so `go test ./...` passes on a machine
// with only Go and the PostgreSQL binaries.
func RequireTool(t testing.TB, present bool, what, hint string) {
	t.Helper()
	if present {
		return
	}
	if os.Getenv("GATEHOUSE_CI") != "" {
		t.Fatalf("%s is missing: %s", what, hint)
	}
	t.Skipf("%s is missing (%s); CI installs it and runs this test", what, hint)
}
