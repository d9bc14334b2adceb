// Package mail sends the application's email: River job arguments, the worker that
// renders and sends them, an SMTP sender (go-mail) and the development outbox.
package mail

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
	gomail "github.com/wneessen/go-mail"
)

// Templates, one per kind of email (SPEC §7).
const (
	TemplateInvitation    = "invitation"
	TemplatePasswordReset = "password_reset"
	TemplateLinkConfirm   = "link_confirm"
	TemplateLinkReminder  = "link_reminder"
	TemplateSSODisabled   = "sso_disabled"
	TemplateOwnerFallback = "owner_fallback"
	TemplateTrustChanged  = "trust_changed"
	TemplateVerifyEmail   = "verify_email"
	TemplateAccountExists = "account_exists"
	TemplateCertExpiry    = "cert_expiry"
	TemplateDomainLost    = "domain_lost"
)

// Args is the River job that sends one email. Data holds the template's values.
type Args struct {
	To       string            `json:"to"`
	Template string            `json:"template"`
	Data     map[string]string `json:"data"`
}

// Kind implements river.JobArgs.
func (Args) Kind() string { return "email" }

// InsertOpts retries a failed send with River's backoff for about a day.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 12, Queue: river.QueueDefault}
}

// Message is a rendered email.
type Message struct {
	To, Subject, Text, HTML string
}

// Renderer turns job arguments into a message (views/emails implements it).
type Renderer func(Args) (Message, error)

// Sender delivers a rendered message.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Worker renders and sends Args jobs, at most once per job: a delivery is recorded by
// job id in the same database (email_deliveries), and a job that finds its record (a
// retry or a rescue after River could not mark it completed) completes without sending.
type Worker struct {
	river.WorkerDefaults[Args]
	Render Renderer
	Sender Sender
	DB     bun.IDB
	Log    *slog.Logger
}

// Work implements river.Worker.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	var sent bool
	if err := w.DB.NewRaw("SELECT EXISTS (SELECT 1 FROM email_deliveries WHERE job_id = ?)", job.ID).Scan(ctx, &sent); err != nil {
		return fmt.Errorf("check earlier delivery: %w", err)
	}
	if sent {
		return nil
	}
	m, err := w.Render(job.Args)
	if err != nil {
		return fmt.Errorf("render %s email: %w", job.Args.Template, err)
	}
	if err := w.Sender.Send(ctx, m); err != nil {
		return err
	}
	// Sent: record it even if the job's own context has just ended, retrying through a
	// short database stall. Returning an error now would send the message again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	for {
		_, err := w.DB.NewRaw("INSERT INTO email_deliveries (job_id) VALUES (?) ON CONFLICT DO NOTHING", job.ID).Exec(rctx)
		if err == nil {
			return nil
		}
		select {
		case <-rctx.Done():
			if w.Log != nil {
				w.Log.Error("email sent but its delivery could not be recorded: a rescue may send it again", "job_id", job.ID, "error", err.Error())
			}
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Timeout bounds one delivery attempt.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return 30 * time.Second }

// SMTP sends through an SMTP server given as smtp://[user:pass@]host[:port] (STARTTLS
// when offered), smtps://… (implicit TLS) or smtp://…?tls=none.
type SMTP struct {
	From   string
	client *gomail.Client
}

// NewSMTP parses rawURL.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") {
		return nil, fmt.Errorf("want smtp://[user:password@]host[:port] or smtps://…")
	}
	opts := []gomail.Option{gomail.WithTimeout(15 * time.Second), gomail.WithTLSPolicy(gomail.TLSOpportunistic)}
	port := 587
	if u.Scheme == "smtps" {
		port = 465
		opts = append(opts, gomail.WithSSL())
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("bad port %q", p)
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if u.Query().Get("tls") == "none" {
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	c, err := gomail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return nil, err
	}
	return &SMTP{From: from, client: c}, nil
}

// Send implements Sender.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.From); err != nil {
		return fmt.Errorf("from address: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	if err := s.client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp send: %w", err)
	}
	return nil
}

// Outbox keeps messages in the database (shown at /_dev/mail) and logs that it did.
type Outbox struct {
	DB  bun.IDB
	Log *slog.Logger
}

// OutboxMessage is a kept message.
type OutboxMessage struct {
	bun.BaseModel `bun:"table:dev_mails"`

	ID        int64     `bun:"id,pk,autoincrement"`
	Recipient string    `bun:"recipient"`
	Subject   string    `bun:"subject"`
	TextBody  string    `bun:"text_body"`
	HTMLBody  string    `bun:"html_body"`
	CreatedAt time.Time `bun:"created_at,nullzero,default:now()"`
}

// Send implements Sender.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	row := &OutboxMessage{Recipient: m.To, Subject: m.Subject, TextBody: m.Text, HTMLBody: m.HTML}
	if _, err := o.DB.NewInsert().Model(row).Exec(ctx); err != nil {
		return fmt.Errorf("keep email: %w", err)
	}
	if o.Log != nil {
		// The body can hold single-use links: only say that a message is waiting.
		o.Log.Info("email kept in the dev outbox (no SMTP_URL)", "to", m.To, "subject", m.Subject, "view", "/_dev/mail")
	}
	return nil
}

// ListOutbox returns the newest kept messages.
func ListOutbox(ctx context.Context, db bun.IDB, limit int) ([]OutboxMessage, error) {
	var out []OutboxMessage
	err := db.NewSelect().Model(&out).OrderExpr("id DESC").Limit(int64(limit)).Scan(ctx)
	return out, err
}

// GetOutbox returns one kept message.
func GetOutbox(ctx context.Context, db bun.IDB, id int64) (*OutboxMessage, error) {
	m := new(OutboxMessage)
	err := db.NewSelect().Model(m).Where("id = ?", id).Scan(ctx)
	return m, err
}
