package mail_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"gatehouse/models/dbtest"
	"gatehouse/models/mail"
	"gatehouse/models/mail/mailpit"
)

// TestSMTPSendToMailpit delivers one message through a real SMTP server (Mailpit, from
// the dev tools module in .tools/) and checks what arrived through Mailpit's HTTP API.
func TestSMTPSendToMailpit(t *testing.T) {
	mp := mailpit.Start(t)

	s, err := mail.NewSMTP(mp.SMTPURL(), "Gatehouse <gatehouse@example.test>")
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
		t.Fatalf("Send: %v\nmailpit output:\n%s", err, mp.Output())
	}

	sum := mp.WaitForMessages(t, 1)[0]
	if sum.Subject != msg.Subject {
		t.Errorf("summary subject = %q, want %q", sum.Subject, msg.Subject)
	}

	var got struct {
		ID      string
		From    *mailpit.Address
		To      []*mailpit.Address
		Subject string
		Text    string
		HTML    string
	}
	mp.GetJSON(t, "/api/v1/message/"+sum.ID, &got)

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
	addr := mailpit.FreeAddr(t) // was free a moment ago, and nothing listens there now
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
	db := dbtest.New(t).Bun
	job := func(id int64, a mail.Args) *river.Job[mail.Args] {
		return &river.Job[mail.Args]{JobRow: &rivertype.JobRow{ID: id}, Args: a}
	}
	args := mail.Args{To: "carol@example.test", Template: mail.TemplatePasswordReset, Data: map[string]string{"link": "https://x.test/r"}}

	t.Run("render error is returned and nothing is sent", func(t *testing.T) {
		boom := errors.New("boom")
		snd := &recordingSender{}
		w := &mail.Worker{Render: func(mail.Args) (mail.Message, error) { return mail.Message{}, boom }, Sender: snd, DB: db}
		err := w.Work(t.Context(), job(1, args))
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
		}, Sender: snd, DB: db}
		err := w.Work(t.Context(), job(2, args))
		if !errors.Is(err, sendErr) {
			t.Fatalf("Work error = %v, want %v", err, sendErr)
		}
		if len(snd.sent) != 1 || snd.sent[0].To != args.To || snd.sent[0].Text != args.Data["link"] {
			t.Errorf("sent = %+v, want one message to %s", snd.sent, args.To)
		}
	})

	t.Run("a job runs again after its delivery: nothing is sent twice", func(t *testing.T) {
		snd := &recordingSender{}
		w := &mail.Worker{Render: func(a mail.Args) (mail.Message, error) { return mail.Message{To: a.To}, nil }, Sender: snd, DB: db}
		for i := 0; i < 3; i++ {
			if err := w.Work(t.Context(), job(3, args)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Work(t.Context(), job(4, args)); err != nil {
			t.Fatal(err)
		}
		if len(snd.sent) != 2 {
			t.Errorf("sent %d messages for jobs 3 (three runs) and 4, want 2", len(snd.sent))
		}
	})
}

func addrs(as []*mailpit.Address) string {
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
