// Package pglocal runs a private PostgreSQL server from the machine's installed
// binaries, so that `go run ./cmd/gatehouse` and `go test ./...` need no setup.
//
// The server listens on a Unix socket only (no TCP port to collide with). When the
// process runs as root, initdb and postgres run as the `postgres` OS user, because
// PostgreSQL refuses to run as root.
//
// Only its owner can reach it (SECURITY.md): the data directory must be a real
// directory owned by this user and writable by nobody else; the cluster and socket
// directories are 0700 and owned by the server's user; the socket is 0700; pg_hba
// allows the Unix socket only (no TCP at all, so no `trust` over TCP). Where a short
// socket path or the postgres user's reach needs a folder in the system's temporary
// directory, it is made fresh (random name, 0700) and its path is kept in the data
// directory, never a predictable name someone else could have created first.
package pglocal

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// DatabaseName is the database created in the local server for the application.
const DatabaseName = "gatehouse"

// maxSocketPath is the longest Unix socket path the kernel accepts (108 bytes with NUL).
const maxSocketPath = 107

// Options tune how the server is started.
type Options struct {
	// Detached leaves the server running after this process exits (shared test
	// server). Otherwise the server is a child that dies with this process.
	Detached bool
	// Log receives the server's output; nil discards it.
	LogFile string
	// Fast turns durability off (fsync, full-page writes) for throwaway test servers.
	// The default is durable: a power cut loses at most the last moments of commits
	// (synchronous_commit=off) and never corrupts the cluster.
	Fast bool
}

// Server is a running (or attached) local PostgreSQL server.
type Server struct {
	DataDir   string // the directory given by the caller
	PGData    string // the cluster directory
	SocketDir string
	cmd       *exec.Cmd
	attached  bool
}

// ErrNoBinaries is returned when no PostgreSQL server binaries can be found.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries found (looked in $PG_BINDIR, `pg_config --bindir`, /usr/lib/postgresql/*/bin and $PATH for initdb and postgres): install the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) or set DATABASE_URL")

// FindBinDir returns the directory holding initdb and postgres.
func FindBinDir() (string, error) {
	var candidates []string
	if d := os.Getenv("PG_BINDIR"); d != "" {
		candidates = append(candidates, d)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versions, func(i, j int) bool { return pgVersion(versions[i]) > pgVersion(versions[j]) })
	candidates = append(candidates, versions...)
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, filepath.Dir(real))
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	return firstBinDir(candidates)
}

// firstBinDir is the first candidate holding both initdb and postgres.
func firstBinDir(candidates []string) (string, error) {
	for _, d := range candidates {
		if isExecutable(filepath.Join(d, "postgres")) && isExecutable(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func pgVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start attaches to the server already running in dataDir, or initialises and starts
// one. The caller must Stop it (a no-op for attached or detached servers).
func Start(ctx context.Context, dataDir string, opts Options) (*Server, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("data directory %q: %w", dataDir, err)
	}
	runAs, err := serverUser()
	if err != nil {
		return nil, err
	}
	// Root's data directory lets the postgres user through (0711: enter, not list).
	mode := os.FileMode(0o700)
	if runAs.root {
		mode = 0o711
	}
	if err := ownedDir(abs, uint32(os.Geteuid()), mode, false); err != nil {
		return nil, err
	}
	s := &Server{DataDir: abs}

	unlock, err := lockFile(filepath.Join(abs, "pglocal.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if s.PGData, s.SocketDir, err = clusterPaths(abs, runAs); err != nil {
		return nil, err
	}
	for _, d := range []string{s.PGData, s.SocketDir} {
		if err := ownedDir(d, runAs.uid, 0o700, true); err != nil {
			return nil, err
		}
	}

	if s.ping(ctx) == nil {
		s.attached = true
		return s, s.ensureDatabase(ctx)
	}
	binDir, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	if err := s.initdb(ctx, binDir, runAs); err != nil {
		return nil, err
	}
	if err := s.writeHBA(runAs); err != nil {
		return nil, err
	}
	if err := s.start(binDir, runAs, opts); err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.ensureDatabase(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// URL returns the connection URL of the application database.
func (s *Server) URL() string { return s.URLFor(DatabaseName) }

// URLFor returns the connection URL of database name on this server.
func (s *Server) URLFor(name string) string {
	q := url.Values{"host": {s.SocketDir}, "sslmode": {"disable"}}
	return "postgres://postgres@localhost:5432/" + name + "?" + q.Encode()
}

// PrivateTempDir is the server's fresh folder in the temporary directory, or "" when
// the cluster and socket live in the data directory (tests remove it when done).
func (s *Server) PrivateTempDir() string {
	b, err := os.ReadFile(filepath.Join(s.DataDir, tempDirRecord))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Attached reports whether Start found a server that was already running.
func (s *Server) Attached() bool { return s.attached }

// Stop stops a server this process started as its child. Attached and detached
// servers keep running.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	// SIGINT is PostgreSQL's "fast shutdown".
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
	}
	s.cmd = nil
}

type osUser struct {
	root     bool
	uid, gid uint32
}

func serverUser() (osUser, error) {
	if os.Geteuid() != 0 {
		return osUser{uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return osUser{}, errors.New("running as root: PostgreSQL refuses to run as root and there is no `postgres` OS user to run it as; install the PostgreSQL server package (which creates it), run as a normal user, or set DATABASE_URL")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return osUser{root: true, uid: uint32(uid), gid: uint32(gid)}, nil
}

// clusterPaths chooses where the cluster and its socket live. The cluster lives in
// dataDir/pg unless the server user cannot reach it; the socket path must stay short.
// Either may then live in the data directory's private folder in the temporary
// directory (privateTempDir).
func clusterPaths(dataDir string, runAs osUser) (pgdata, sockDir string, err error) {
	pgdata = filepath.Join(dataDir, "pg")
	sockDir = filepath.Join(dataDir, "run")
	movePG := runAs.root && !traversableByOthers(dataDir)
	moveSock := movePG || len(filepath.Join(sockDir, ".s.PGSQL.5432")) > maxSocketPath
	if !moveSock {
		return pgdata, sockDir, nil
	}
	short, err := privateTempDir(dataDir, runAs)
	if err != nil {
		return "", "", err
	}
	if movePG {
		pgdata = filepath.Join(short, "pg")
	}
	return pgdata, filepath.Join(short, "run"), nil
}

// tempDirRecord is the file in the data directory that names its private folder in the
// temporary directory.
const tempDirRecord = "pglocal.tmpdir"

// privateTempDir returns the data directory's folder in the temporary directory: the
// one recorded in the data directory when it is still there and still private, else a
// fresh one (random name, 0700, owned by the server's user), which is then recorded.
// A recorded folder that is now a symlink or owned by someone else is refused.
func privateTempDir(dataDir string, runAs osUser) (string, error) {
	record := filepath.Join(dataDir, tempDirRecord)
	if b, err := os.ReadFile(record); err == nil {
		dir := strings.TrimSpace(string(b))
		if _, err := os.Lstat(dir); err == nil {
			if err := ownedDir(dir, runAs.uid, 0o700, false); err != nil {
				return "", fmt.Errorf("%w (named in %s: remove that file to start over)", err, record)
			}
			return dir, nil
		}
	}
	dir, err := os.MkdirTemp("", "gatehouse-pg-")
	if err != nil {
		return "", fmt.Errorf("create a private folder for the socket: %w", err)
	}
	if runAs.root {
		if err := os.Chown(dir, int(runAs.uid), int(runAs.gid)); err != nil {
			return "", fmt.Errorf("hand %s to the postgres user: %w", dir, err)
		}
	}
	if err := os.WriteFile(record, []byte(dir+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("record %s: %w", dir, err)
	}
	return dir, nil
}

// ownedDir makes sure dir is a private directory of uid: created with mode when it does
// not exist; otherwise it must be a real directory (not a symlink) owned by uid and
// writable by nobody else. With tighten, an existing directory of uid is set to mode
// (PostgreSQL's own directories); otherwise a wider mode is refused only when others
// could write to it.
func ownedDir(dir string, uid uint32, mode os.FileMode, tighten bool) error {
	st, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(dir), err)
		}
		if err := os.Mkdir(dir, mode); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		if err := os.Chmod(dir, mode); err != nil { // umask
			return err
		}
		if uid != uint32(os.Geteuid()) {
			if err := os.Chown(dir, int(uid), -1); err != nil {
				return fmt.Errorf("hand %s to the postgres user: %w", dir, err)
			}
		}
		st, err = os.Lstat(dir)
	}
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if st.Mode()&os.ModeSymlink != 0 || !st.IsDir() {
		return fmt.Errorf("refusing %s for the embedded database: it is a symlink or not a directory (use a real directory of your own)", dir)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !ok || sys.Uid != uid {
		return fmt.Errorf("refusing %s for the embedded database: it belongs to another user; use a directory of your own", dir)
	}
	if tighten && st.Mode().Perm() != mode {
		if err := os.Chmod(dir, mode); err != nil {
			return fmt.Errorf("make %s private: %w", dir, err)
		}
	} else if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("refusing %s for the embedded database: others can write to it (mode %o); chmod go-w it or use another directory", dir, st.Mode().Perm())
	}
	return nil
}

// traversableByOthers reports whether every directory from / to dir can be entered by
// a user that is neither its owner nor in its group.
func traversableByOthers(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

func (s *Server) initdb(ctx context.Context, binDir string, runAs osUser) error {
	if _, err := os.Stat(filepath.Join(s.PGData, "PG_VERSION")); err == nil {
		return nil
	}
	// trust on the socket only: the socket and its directory are 0700 (see writeHBA).
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", s.PGData, "-U", "postgres", "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.SysProcAttr = credential(runAs)
	cmd.Dir = os.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb in %s failed: %w\n%s", s.PGData, err, out)
	}
	return nil
}

// hba is the whole pg_hba.conf of a local server: the Unix socket (0700, its owner and
// root only) and nothing over TCP. Written at every start, so clusters made by older
// versions (initdb --auth=trust) lose their TCP trust lines too.
const hba = `# Written by Gatehouse (models/pglocal) at every start: edits are lost.
# Unix socket only; the socket and its directory are 0700. No TCP.
local all all trust
local replication all trust
`

func (s *Server) writeHBA(runAs osUser) error {
	p := filepath.Join(s.PGData, "pg_hba.conf")
	if err := os.WriteFile(p, []byte(hba), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if runAs.root {
		if err := os.Lchown(p, int(runAs.uid), int(runAs.gid)); err != nil {
			return fmt.Errorf("hand %s to the postgres user: %w", p, err)
		}
	}
	return nil
}

func (s *Server) start(binDir string, runAs osUser, opts Options) error {
	// A crash can leave a stale pid file behind; postgres itself checks whether that
	// process is alive, so only remove it when no server answers (checked by caller).
	args := []string{
		"-D", s.PGData,
		"-k", s.SocketDir,
		"-c", "listen_addresses=",
		"-c", "max_connections=300",
		"-c", "unix_socket_permissions=0700",
		// Durable: a crash or power cut never corrupts the cluster; committed
		// transactions of the last moments (up to 3 × wal_writer_delay) may be lost.
		"-c", "synchronous_commit=off",
	}
	if opts.Fast {
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(binDir, "postgres"), args...)
	attr := credential(runAs)
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	if opts.Detached {
		attr.Setsid = true
	} else {
		attr.Setpgid = true
		attr.Pdeathsig = syscall.SIGINT
	}
	cmd.SysProcAttr = attr
	cmd.Dir = os.TempDir()
	logPath := opts.LogFile
	if logPath == "" {
		logPath = filepath.Join(s.DataDir, "postgres.log")
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", logPath, err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	logf.Close()
	if opts.Detached {
		go func() { _ = cmd.Wait() }()
		return nil
	}
	s.cmd = cmd
	return nil
}

// Signal sends sig to a server this process started and to every process it forked
// (backends call setsid, so they are not in its process group): tests freeze the whole
// server with SIGSTOP and thaw it with SIGCONT. Linux only (it reads /proc).
func (s *Server) Signal(sig syscall.Signal) error {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return errors.New("pglocal: not a server this process started")
	}
	pid := s.cmd.Process.Pid
	if err := syscall.Kill(pid, sig); err != nil {
		return err
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so parse after the last ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
			_ = syscall.Kill(child, sig)
		}
	}
	return nil
}

func credential(runAs osUser) *syscall.SysProcAttr {
	if !runAs.root {
		return nil
	}
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: runAs.uid, Gid: runAs.gid}}
}

func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := s.ping(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres in %s did not become ready (see %s): %w", s.PGData, filepath.Join(s.DataDir, "postgres.log"), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URLFor("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

func (s *Server) ensureDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.URLFor("postgres"))
	if err != nil {
		return fmt.Errorf("connect to local postgres: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", DatabaseName).Scan(&exists); err != nil {
		return fmt.Errorf("look up database: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+DatabaseName); err != nil {
		var again bool
		if qerr := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", DatabaseName).Scan(&again); qerr == nil && again {
			return nil // created concurrently
		}
		return fmt.Errorf("create database %s: %w", DatabaseName, err)
	}
	return nil
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
