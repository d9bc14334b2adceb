package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/dnscheck"
	"gatehouse/models/fetch"
	"gatehouse/models/mail"
)

// Email jobs left `running` (a crash before sending; or a database stall after
// sending, when River could not record the end) are rescued within minutes, not an
// hour, and a job whose message was already delivered is not sent again
// (issue 13 item 3).
func TestStuckEmailJobsAreRescuedAndNotSentTwice(t *testing.T) {
	ctx := context.Background()
	db := dbtest.New(t)
	outbox := &mail.Outbox{DB: db.Bun}
	render := func(a mail.Args) (mail.Message, error) { return mail.Message{To: a.To, Subject: a.Template}, nil }
	resolver, err := dnscheck.New("")
	if err != nil {
		t.Fatal(err)
	}
	start := func() func() {
		jobs, err := models.NewJobs(db.Pool, db.Bun, render, outbox, fetch.New(true), resolver)
		if err != nil {
			t.Fatal(err)
		}
		if err := jobs.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return func() {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_ = jobs.Stop(sctx)
		}
	}
	inserter, err := river.NewClient(riverpgxv5.New(db.Pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	insert := func(to string) int64 {
		res, err := inserter.Insert(ctx, mail.Args{To: to, Template: mail.TemplateInvitation}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Job.ID
	}
	sentTo := func(to string) int {
		var n int
		if err := db.Bun.NewRaw("SELECT count(*) FROM dev_mails WHERE recipient = ?", to).Scan(ctx, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	state := func(id int64) string {
		var s string
		if err := db.Bun.NewRaw("SELECT state FROM river_job WHERE id = ?", id).Scan(ctx, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitCompleted := func(ids ...int64) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for _, id := range ids {
			for state(id) != "completed" {
				if time.Now().After(deadline) {
					t.Fatalf("job %d still %s", id, state(id))
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	// orphan makes a job look like one whose worker vanished ten minutes ago.
	orphan := func(id int64) {
		if _, err := db.Bun.ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, finalized_at = NULL,
			attempted_at = now() - interval '10 minutes', attempted_by = '{gone}' WHERE id = ?`, id); err != nil {
			t.Fatal(err)
		}
	}

	// Delivered, but the completion was never recorded.
	stop := start()
	delivered := insert("delivered@example.test")
	waitCompleted(delivered)
	stop()
	orphan(delivered)
	// Taken by a worker that crashed before sending.
	crashed := insert("crashed@example.test")
	orphan(crashed)

	stop = start()
	defer stop()
	waitCompleted(delivered, crashed)
	if n := sentTo("delivered@example.test"); n != 1 {
		t.Errorf("delivered job sent %d times, want 1", n)
	}
	if n := sentTo("crashed@example.test"); n != 1 {
		t.Errorf("crashed job sent %d times, want 1", n)
	}
}
