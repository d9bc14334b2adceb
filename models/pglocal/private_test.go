package pglocal_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"gatehouse/models/pglocal"
)

// nobody is a uid that is neither this process nor the postgres user.
const nobody = 65534

// The zero-config server is durable and reachable only by its owner (issue 13 item 4,
// issue 9 hole 7): fsync and full-page writes on, socket 0700 in a 0700 directory, no
// TCP rule in pg_hba at all (so no trust over TCP).
func TestDefaultServerIsDurableAndPrivate(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	srv, err := pglocal.Start(ctx, dir, pglocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(); removeTemp(srv) })
	conn, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for name, want := range map[string]string{"fsync": "on", "full_page_writes": "on", "unix_socket_permissions": "0700", "listen_addresses": ""} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	var tcpRules int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_hba_file_rules WHERE type <> 'local'").Scan(&tcpRules); err != nil {
		t.Fatal(err)
	}
	if tcpRules != 0 {
		t.Errorf("pg_hba has %d TCP rules, want none", tcpRules)
	}
	sock, err := os.Stat(filepath.Join(srv.SocketDir, ".s.PGSQL.5432"))
	if err != nil {
		t.Fatal(err)
	}
	if sock.Mode().Perm()&0o077 != 0 {
		t.Errorf("socket mode %o, want 0700", sock.Mode().Perm())
	}
	for _, d := range []string{srv.SocketDir, srv.PGData} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %o, want 0700", d, st.Mode().Perm())
		}
	}
	if st, _ := os.Stat(dir); st.Mode().Perm()&0o066 != 0 {
		t.Errorf("data directory mode %o: others may read or write it", st.Mode().Perm())
	}
}

// A data directory someone else made (or a symlink to one) is refused, not used.
func TestRefusesForeignOrSymlinkedDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a directory owned by someone else needs root")
	}
	ctx := context.Background()
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(base, "foreign")
	if err := os.Mkdir(foreign, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(foreign, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(base, "mine")
	if err := os.Mkdir(mine, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(mine, link); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{foreign, link} {
		srv, err := pglocal.Start(ctx, dir, pglocal.Options{})
		if err == nil {
			srv.Stop()
			t.Errorf("Start(%s) accepted it", dir)
			continue
		}
		if !strings.Contains(err.Error(), "refusing") {
			t.Errorf("Start(%s): %v, want a refusal", dir, err)
		}
	}
	if _, err := os.Stat(filepath.Join(foreign, "pg")); err == nil {
		t.Error("a cluster was created in the foreign directory")
	}
}

// When the socket must live in the temporary directory (a deep data directory), the
// folder is made fresh: the name the old code predicted, pre-created by someone else,
// is not used, and everything from the temporary directory down belongs to the server.
func TestTempSocketDirIsFreshAndPrivate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a directory owned by someone else needs root")
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 40))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	sum := sha256.Sum256([]byte(abs))
	predicted := filepath.Join(os.TempDir(), "gatehouse-pg-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(filepath.Join(predicted, "run"), 0o777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(predicted) })
	for _, d := range []string{predicted, filepath.Join(predicted, "run")} {
		if err := os.Chown(d, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := pglocal.Start(ctx, dir, pglocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(); removeTemp(srv) })
	if strings.HasPrefix(srv.SocketDir, predicted) {
		t.Fatalf("socket in the pre-created directory %s", srv.SocketDir)
	}
	for d := srv.SocketDir; d != filepath.Dir(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
		st, err := os.Lstat(d)
		if err != nil {
			t.Fatal(err)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid == nobody {
			t.Errorf("%s belongs to uid %d", d, uid)
		}
		if d != os.TempDir() && st.Mode().Perm()&0o022 != 0 {
			t.Errorf("%s mode %o: others can write", d, st.Mode().Perm())
		}
	}
	if st, _ := os.Stat(srv.SocketDir); st.Mode().Perm() != 0o700 {
		t.Errorf("socket directory mode %o, want 0700", st.Mode().Perm())
	}
	// A second start attaches through the recorded folder.
	again, err := pglocal.Start(ctx, dir, pglocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Attached() || again.SocketDir != srv.SocketDir {
		t.Fatalf("second start: attached %v, socket %s (first %s)", again.Attached(), again.SocketDir, srv.SocketDir)
	}
}

// removeTemp removes the server's folder in the temporary directory, if it has one.
func removeTemp(s *pglocal.Server) {
	if d := s.PrivateTempDir(); d != "" {
		os.RemoveAll(d)
	}
}
