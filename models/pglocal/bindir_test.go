package pglocal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFirstBinDir(t *testing.T) {
	empty, onlyInitdb, both := t.TempDir(), t.TempDir(), t.TempDir()
	for _, f := range []string{filepath.Join(onlyInitdb, "initdb"), filepath.Join(both, "initdb"), filepath.Join(both, "postgres")} {
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := firstBinDir([]string{empty, onlyInitdb, both}); err != nil || d != both {
		t.Fatalf("got %q, %v; want %q", d, err, both)
	}
	_, err := firstBinDir([]string{empty, onlyInitdb})
	if !errors.Is(err, ErrNoBinaries) || !strings.Contains(err.Error(), "apt-get install postgresql") || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("missing binaries: %v", err)
	}
}
