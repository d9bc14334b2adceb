CREATE TABLE email_deliveries (
    job_id  bigint PRIMARY KEY,
    sent_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE email_deliveries IS 'One row per email job whose message the mail server accepted: a retried or rescued job (after a crash or a database stall that kept River from completing it) is not sent twice.';
