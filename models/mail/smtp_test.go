package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"gatehouse/models/mail"
)

// TestSMTPSendToMailpit delivers one message through a real SMTP server (Mailpit, from
// the dev tools module in .tools/) and checks what arrived through Mailpit's HTTP API.
func TestSMTPSendToMailpit(t *testing.T) {
	mp := startMailpit(t)

	s, err := mail.NewSMTP(fmt.Sprintf("smtp://%s?tls=none", mp.smtpAddr), "Gatehouse <gatehouse@example.test>")
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	// Non-ASCII text and a link with "=" in it: both must survive the transfer encoding.
	link := "https://gatehouse.example.test/invitations/accept?token=abc=123&org=7"
	msg := mail.Message{
		To:      "alice@example.test",
		Subject: "You’re invited to Acme Café on Gatehouse",
		Text:    "Hello Alice,\n\nAccept the invitation: " + link + "\n\nThis link expires in 7 days.",
		HTML:    `<p>Hello Alice,</p><p><a href="` + link + `">Accept the invitation</a> — it expires in 7 days.</p>`,
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.Send(ctx, msg); err != nil {
		t.Fatalf("Send: %v\nmailpit output:\n%s", err, mp.output())
	}

	sum := mp.waitForOneMessage(t)
	if sum.Subject != msg.Subject {
		t.Errorf("summary subject = %q, want %q", sum.Subject, msg.Subject)
	}

	var got struct {
		ID      string
		From    *address
		To      []*address
		Subject string
		Text    string
		HTML    string
	}
	mp.getJSON(t, "/api/v1/message/"+sum.ID, &got)

	if got.From == nil || got.From.Address != "gatehouse@example.test" || got.From.Name != "Gatehouse" {
		t.Errorf("From = %+v, want Gatehouse <gatehouse@example.test>", got.From)
	}
	if len(got.To) != 1 || got.To[0].Address != msg.To {
		t.Errorf("To = %s, want [%s]", addrs(got.To), msg.To)
	}
	if got.Subject != msg.Subject {
		t.Errorf("Subject = %q, want %q", got.Subject, msg.Subject)
	}
	if normalize(got.Text) != normalize(msg.Text) {
		t.Errorf("Text body:\n got %q\nwant %q", got.Text, msg.Text)
	}
	if normalize(got.HTML) != normalize(msg.HTML) {
		t.Errorf("HTML body:\n got %q\nwant %q", got.HTML, msg.HTML)
	}
}

// TestSMTPSendServerDown: a server that is not listening gives an error, not a panic.
func TestSMTPSendServerDown(t *testing.T) {
	addr := freeAddr(t) // was free a moment ago, and nothing listens there now
	s, err := mail.NewSMTP("smtp://"+addr+"?tls=none", "Gatehouse <gatehouse@example.test>")
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err = s.Send(ctx, mail.Message{To: "bob@example.test", Subject: "hi", Text: "hi", HTML: "<p>hi</p>"})
	if err == nil {
		t.Fatal("Send to a closed port succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "smtp send") {
		t.Errorf("error = %q, want it to say %q", err, "smtp send")
	}
}

func TestNewSMTPRejectsBadURLs(t *testing.T) {
	for _, raw := range []string{"", "http://127.0.0.1:25", "smtp://", "smtp://127.0.0.1:notaport", "127.0.0.1:25"} {
		if _, err := mail.NewSMTP(raw, "gatehouse@example.test"); err == nil {
			t.Errorf("NewSMTP(%q) succeeded, want an error", raw)
		}
	}
}

type recordingSender struct {
	sent []mail.Message
	err  error
}

func (r *recordingSender) Send(_ context.Context, m mail.Message) error {
	r.sent = append(r.sent, m)
	return r.err
}

func TestWorkerWork(t *testing.T) {
	args := mail.Args{To: "carol@example.test", Template: mail.TemplatePasswordReset, Data: map[string]string{"link": "https://x.test/r"}}

	t.Run("render error is returned and nothing is sent", func(t *testing.T) {
		boom := errors.New("boom")
		snd := &recordingSender{}
		w := &mail.Worker{Render: func(mail.Args) (mail.Message, error) { return mail.Message{}, boom }, Sender: snd}
		err := w.Work(t.Context(), &river.Job[mail.Args]{Args: args})
		if !errors.Is(err, boom) {
			t.Fatalf("Work error = %v, want it to wrap %v", err, boom)
		}
		if !strings.Contains(err.Error(), mail.TemplatePasswordReset) {
			t.Errorf("error %q does not name the template", err)
		}
		if len(snd.sent) != 0 {
			t.Errorf("sent %d messages after a render error, want 0", len(snd.sent))
		}
	})

	t.Run("rendered message is sent and send error returned", func(t *testing.T) {
		sendErr := errors.New("smtp down")
		snd := &recordingSender{err: sendErr}
		w := &mail.Worker{Render: func(a mail.Args) (mail.Message, error) {
			return mail.Message{To: a.To, Subject: "Reset", Text: a.Data["link"], HTML: "<a>" + a.Data["link"] + "</a>"}, nil
		}, Sender: snd}
		err := w.Work(t.Context(), &river.Job[mail.Args]{Args: args})
		if !errors.Is(err, sendErr) {
			t.Fatalf("Work error = %v, want %v", err, sendErr)
		}
		if len(snd.sent) != 1 || snd.sent[0].To != args.To || snd.sent[0].Text != args.Data["link"] {
			t.Errorf("sent = %+v, want one message to %s", snd.sent, args.To)
		}
	})
}

// --- Mailpit harness ---

type address struct{ Name, Address string }

func addrs(as []*address) string {
	var s []string
	for _, a := range as {
		s = append(s, fmt.Sprintf("%q <%s>", a.Name, a.Address))
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// normalize makes line endings and trailing whitespace comparable.
func normalize(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
}

type mailpit struct {
	smtpAddr, httpAddr string
	out                *syncBuffer
}

func (m *mailpit) output() string { return m.out.String() }

func (m *mailpit) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + m.httpAddr + path)
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

type messageSummary struct {
	ID      string
	Subject string
}

func (m *mailpit) waitForOneMessage(t *testing.T) messageSummary {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var list struct {
			Total    int
			Messages []messageSummary
		}
		m.getJSON(t, "/api/v1/messages", &list)
		if len(list.Messages) > 1 {
			t.Fatalf("mailpit holds %d messages, want 1", len(list.Messages))
		}
		if len(list.Messages) == 1 {
			return list.Messages[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message arrived in mailpit\nmailpit output:\n%s", m.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startMailpit runs Mailpit on free loopback ports until the test ends.
func startMailpit(t *testing.T) *mailpit {
	t.Helper()
	bin := mailpitBinary(t)
	mp := &mailpit{smtpAddr: freeAddr(t), httpAddr: freeAddr(t), out: &syncBuffer{}}
	dir := t.TempDir()
	cmd := exec.Command(bin,
		"--smtp", mp.smtpAddr,
		"--listen", mp.httpAddr,
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
			t.Fatalf("mailpit exited before it was ready: %v\n%s", err, mp.output())
		default:
		}
		if ready(client, mp) {
			return mp
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit not ready after 30s\n%s", mp.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready: the HTTP API answers and the SMTP port accepts connections.
func ready(client *http.Client, mp *mailpit) bool {
	resp, err := client.Get("http://" + mp.httpAddr + "/api/v1/messages")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	c, err := net.DialTimeout("tcp", mp.smtpAddr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// mailpitBinary returns $MAILPIT_BIN, or builds Mailpit from the dev tools module
// (.tools/go.mod) into the test's temporary directory; Go's build cache makes
// rebuilds take a few seconds.
func mailpitBinary(t *testing.T) string {
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
