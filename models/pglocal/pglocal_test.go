package pglocal_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"gatehouse/models/pglocal"
)

func TestStartThenAttach(t *testing.T) {
	if _, err := pglocal.FindBinDir(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A deep path: the socket must still fit the kernel's limit.
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 40))
	first, err := pglocal.Start(ctx, dir, pglocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Stop()
	if first.Attached() {
		t.Fatal("first start attached to nothing")
	}
	// A CLI command while the server runs attaches instead of starting a second one.
	second, err := pglocal.Start(ctx, dir, pglocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Attached() {
		t.Fatal("second start did not attach")
	}
	second.Stop() // no-op for an attached server
	conn, err := pgx.Connect(ctx, first.URL())
	if err != nil {
		t.Fatalf("server gone after the attached one stopped: %v", err)
	}
	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || db != pglocal.DatabaseName {
		t.Fatalf("database %q (%v)", db, err)
	}
	conn.Close(ctx)
	first.Stop()
	if _, err := pgx.Connect(ctx, first.URL()); err == nil {
		t.Fatal("server still answers after Stop")
	}
	// And it starts again on the same cluster.
	again, err := pglocal.Start(ctx, dir, pglocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	again.Stop()
	removeTemp(again)
}
