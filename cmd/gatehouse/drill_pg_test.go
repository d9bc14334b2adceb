package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgNode is one PostgreSQL server of the drill, on a loopback TCP port.
type pgNode struct {
	name, bin, dir string
	port           int
	cred           *syscall.Credential // the postgres OS user when the drill runs as root
	cmd            *exec.Cmd
	exited         chan struct{}
}

func drillCredential(t *testing.T) *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatal("running as root needs the postgres OS user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// runAs runs a PostgreSQL tool as the server's OS user.
func (n *pgNode) runAs(t *testing.T, tool string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(n.bin, tool), args...)
	if n.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: n.cred}
	}
	cmd.Dir = os.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
}

func (n *pgNode) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", n.port, db)
}

// start runs postgres on the node's port and waits until it accepts connections.
func (n *pgNode) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(n.dir), n.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(n.bin, "postgres"), "-D", n.dir, "-p", strconv.Itoa(n.port), "-k", n.dir,
		"-c", "listen_addresses=127.0.0.1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: n.cred}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = os.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd, n.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(n.exited)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, n.url("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start: %v", n.name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop signals the postmaster (SIGINT fast, SIGQUIT immediate, SIGKILL) and waits.
func (n *pgNode) stop(sig syscall.Signal) {
	if n.cmd == nil {
		return
	}
	if sig == syscall.SIGKILL {
		n.signalAll(sig)
	} else {
		_ = n.cmd.Process.Signal(sig)
	}
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		n.signalAll(syscall.SIGKILL)
		<-n.exited
	}
	n.cmd = nil
}

// signalAll signals the postmaster and every backend it forked (they setsid, so they
// are not in its process group): SIGSTOP freezes the whole server.
func (n *pgNode) signalAll(sig syscall.Signal) {
	if n.cmd == nil {
		return
	}
	pid := n.cmd.Process.Pid
	_ = syscall.Kill(pid, sig)
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(string(b[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
			_ = syscall.Kill(child, sig)
		}
	}
}

func (n *pgNode) exec(t *testing.T, db, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, n.url(db))
	if err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %s: %v", n.name, sql, err)
	}
}

// primaryAndStandby initialises a primary and a synchronous streaming standby of it.
func primaryAndStandby(t *testing.T, bin, work string) (*pgNode, *pgNode) {
	cred := drillCredential(t)
	primary := &pgNode{name: "primary", bin: bin, dir: filepath.Join(work, "primary"), port: freePort(t), cred: cred}
	standby := &pgNode{name: "standby", bin: bin, dir: filepath.Join(work, "standby"), port: freePort(t), cred: cred}
	primary.runAs(t, "initdb", "-D", primary.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	conf := `
wal_level = replica
max_wal_senders = 10
hot_standby = on
max_connections = 200
synchronous_commit = on
fsync = off                # the drill tests failover, not power loss: keep it fast
wal_sender_timeout = 10s
wal_receiver_status_interval = 1s
`
	f, err := os.OpenFile(filepath.Join(primary.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(conf)
	f.Close()
	primary.start(t)
	t.Cleanup(func() { primary.signalAll(syscall.SIGCONT); primary.stop(syscall.SIGQUIT) })
	primary.exec(t, "postgres", "CREATE DATABASE gatehouse")

	standby.runAs(t, "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.port), "-U", "postgres",
		"-D", standby.dir, "-R", "-X", "stream", "-c", "fast")
	f, err = os.OpenFile(filepath.Join(standby.dir, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "primary_conninfo = 'host=127.0.0.1 port=%d user=postgres application_name=standby'\n", primary.port)
	f.Close()
	standby.start(t)
	t.Cleanup(func() { standby.signalAll(syscall.SIGCONT); standby.stop(syscall.SIGQUIT) })
	// Synchronous from now on: a commit is acknowledged once the standby has it.
	primary.exec(t, "postgres", "ALTER SYSTEM SET synchronous_standby_names = 'standby'")
	primary.exec(t, "postgres", "SELECT pg_reload_conf()")

	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, primary.url("postgres"))
		var state string
		if err == nil {
			_ = conn.QueryRow(ctx, "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'").Scan(&state)
			conn.Close(ctx)
		}
		cancel()
		if state == "sync" {
			return primary, standby
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby not synchronous (state %q)", state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
