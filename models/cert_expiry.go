package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"gatehouse/models/mail"
	"gatehouse/models/samlsp"
)

// CertExpiryWarning is how long before a pinned IdP signing certificate expires its
// owners are warned (the Auth page and Test Configuration show it from then on, too).
const CertExpiryWarning = samlsp.CertExpiryWarning

// Certificate expiry stages.
const (
	CertExpiring = samlsp.CertExpiring
	CertExpired  = samlsp.CertExpired
)

// CertStage is where a certificate with this NotAfter stands at now: "" (fine),
// CertExpiring (within CertExpiryWarning) or CertExpired.
//
// An expired certificate is a warning, never an outage: Gatehouse pins the IdP's
// certificate (only the configured ones verify, compared byte for byte), so what makes
// a signature trustworthy is the registered key, not the certificate's dates, which
// nobody here checks against a CA. A stolen key is not revoked by its certificate's
// expiry either; the cure for that is replacing the registration. Sentry's library does
// not check the dates of a pinned certificate for the same reason. The ACS and the
// logout endpoints (models/samlsp) therefore never look at a configured certificate's
// dates; a certificate that is not configured is never used.
func CertStage(notAfter, now time.Time) string { return samlsp.CertStage(notAfter, now) }

// WarnCertificateExpiry emails the owners of every org whose pinned IdP signing
// certificate entered a new stage (expiring, then expired) since the last warning,
// once per stage and certificate, in the transaction that records it. It returns how
// many warnings it sent.
func WarnCertificateExpiry(ctx context.Context, db bun.IDB, mailer *Mailer, now time.Time) (int, error) {
	var ids []int64
	if err := db.NewSelect().Model((*AuthProvider)(nil)).Column("id").Where("status = ?", ProviderActive).Scan(ctx, &ids); err != nil {
		return 0, fmt.Errorf("providers: %w", err)
	}
	sent := 0
	var errs []error
	for _, id := range ids {
		err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			p := new(AuthProvider)
			if err := tx.NewSelect().Model(p).Where("id = ?", id).For("UPDATE").Scan(ctx); err != nil {
				return err
			}
			if !p.IsSAML() {
				return nil
			}
			idp := p.Config.IdP()
			certs, err := idp.Certificates()
			if err != nil {
				return err
			}
			org, err := getOrg(ctx, tx, p.OrgID)
			if err != nil {
				return err
			}
			var owners []string
			if err := tx.NewRaw(`SELECT u.email FROM members m JOIN users u ON u.id = m.user_id
				WHERE m.org_id = ? AND m.role = 'owner' AND m.active`, p.OrgID).Scan(ctx, &owners); err != nil {
				return err
			}
			warnings := map[string]string{}
			changed := false
			for _, c := range certs {
				fp := samlsp.Fingerprint(c.Raw)
				stage := CertStage(c.NotAfter, now)
				if stage != "" {
					warnings[fp] = stage
				}
				if stage == "" || p.Config.CertWarnings[fp] == stage {
					continue
				}
				changed = true
				for _, to := range owners {
					if err := mailer.enqueue(ctx, tx, mail.Args{To: to, Template: mail.TemplateCertExpiry, Data: map[string]string{
						"org_name": org.Name, "org_slug": org.Slug, "fingerprint": fp, "stage": stage,
						"not_after": c.NotAfter.UTC().Format("2006-01-02")}}); err != nil {
						return err
					}
				}
				sent++
			}
			if !changed && len(warnings) == len(p.Config.CertWarnings) {
				return nil
			}
			cfg := p.Config
			cfg.CertWarnings = warnings
			_, err = tx.NewUpdate().Model(p).Set("config = ?", cfg).WherePK().Exec(ctx)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("provider %d: %w", id, err))
		}
	}
	return sent, errors.Join(errs...)
}

// CertExpiryArgs is the periodic job that runs WarnCertificateExpiry.
type CertExpiryArgs struct{}

// Kind implements river.JobArgs.
func (CertExpiryArgs) Kind() string { return "cert_expiry" }

// CertExpiryWorker runs CertExpiryArgs.
type CertExpiryWorker struct {
	river.WorkerDefaults[CertExpiryArgs]
	DB     bun.IDB
	Mailer *Mailer
}

// Work implements river.Worker.
func (w *CertExpiryWorker) Work(ctx context.Context, _ *river.Job[CertExpiryArgs]) error {
	_, err := WarnCertificateExpiry(ctx, w.DB, w.Mailer, time.Now())
	return err
}
