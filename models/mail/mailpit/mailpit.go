// Package mailpit runs a real SMTP server (Mailpit, built from the dev tools module
// in .tools/) for tests, and reads what it received through its HTTP API.
package mailpit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running Mailpit.
type Server struct {
	SMTPAddr, HTTPAddr string
	out                *syncBuffer
}

// SMTPURL is the SMTP_URL that delivers to this server.
func (m *Server) SMTPURL() string { return "smtp://" + m.SMTPAddr + "?tls=none" }

// Output is Mailpit's log.
func (m *Server) Output() string { return m.out.String() }

// GetJSON decodes Mailpit's API answer for path into v.
func (m *Server) GetJSON(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + m.HTTPAddr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", path, err)
	}
}

// Address is a mailbox in Mailpit's API.
type Address struct{ Name, Address string }

// Summary is a message as Mailpit lists it.
type Summary struct {
	ID      string
	Subject string
	To      []*Address
}

// Messages lists what Mailpit holds, newest first.
func (m *Server) Messages(t testing.TB) []Summary {
	t.Helper()
	var list struct {
		Total    int
		Messages []Summary
	}
	m.GetJSON(t, "/api/v1/messages", &list)
	return list.Messages
}

// WaitForMessages waits until Mailpit holds n messages (at most 15 s) and returns them.
func (m *Server) WaitForMessages(t testing.TB, n int) []Summary {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		msgs := m.Messages(t)
		if len(msgs) > n {
			t.Fatalf("mailpit holds %d messages, want %d", len(msgs), n)
		}
		if len(msgs) == n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit holds %d messages after 15s, want %d\nmailpit output:\n%s", len(msgs), n, m.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Start runs Mailpit on free loopback ports until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary(t)
	mp := &Server{SMTPAddr: FreeAddr(t), HTTPAddr: FreeAddr(t), out: &syncBuffer{}}
	dir := t.TempDir()
	cmd := exec.Command(bin,
		"--smtp", mp.SMTPAddr,
		"--listen", mp.HTTPAddr,
		"--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check",
		"--smtp-disable-rdns",
	)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = mp.out, mp.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mailpit: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("mailpit (pid %d) did not exit after kill", cmd.Process.Pid)
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-exited:
			exited <- err // let the cleanup see it too
			t.Fatalf("mailpit exited before it was ready: %v\n%s", err, mp.Output())
		default:
		}
		if ready(client, mp) {
			return mp
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit not ready after 30s\n%s", mp.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready: the HTTP API answers and the SMTP port accepts connections.
func ready(client *http.Client, mp *Server) bool {
	resp, err := client.Get("http://" + mp.HTTPAddr + "/api/v1/messages")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	c, err := net.DialTimeout("tcp", mp.SMTPAddr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// binary returns $MAILPIT_BIN, or builds Mailpit from the dev tools module
// (.tools/go.mod) into the test's temporary directory; Go's build cache makes
// rebuilds take a few seconds.
func binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("MAILPIT_BIN"); bin != "" {
		return bin
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("build mailpit: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "mailpit")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-C", filepath.Join(root, ".tools"), "-o", bin, "github.com/axllent/mailpit")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build mailpit (or set MAILPIT_BIN to an installed one): %s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	t.Logf("built mailpit in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

// repoRoot walks up from the working directory to the one holding .tools/go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, ".tools", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no .tools/go.mod above the working directory")
		}
		dir = parent
	}
}

// syncBuffer collects a child's output from two pipes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
