package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"gatehouse/models/dnscheck"
	"gatehouse/models/mail"
)

// Verified domains (README "Verified domains"). An organization proves it owns an
// email domain by publishing a DNS TXT record; from then on, in one place
// (domainVerdict, called by every SSO sign-in):
//
//   - the org's own IdP (SAML, Google, GitHub) asserting an address at the domain
//     proves the mailbox of a *new* account: just-in-time accounts there are verified;
//   - an IdP of any other org asserting an address at the domain can never create,
//     link or sign in an account (refused at the door, the sign-in log says why);
//   - a domain is verified by one org at most (a unique index), and public mail
//     domains are never verifiable;
//   - with domain capture on, an address at the domain signs in through the org's SSO
//     (SSORoute): a password login goes to the IdP.
//
// Pending domains are re-checked for DomainPendingWindow, verified ones daily; a
// verified domain whose record disappears is lost (unverified, owners emailed).

// Checking schedule.
const (
	DomainPendingWindow = 72 * time.Hour
	DomainPendingEvery  = time.Hour
	DomainVerifiedEvery = 24 * time.Hour
	maxDomainsPerOrg    = 50
)

// OrgDomain is an email domain an org claims.
type OrgDomain struct {
	bun.BaseModel `bun:"table:org_domains"`

	ID            int64      `bun:"id,pk,autoincrement"`
	OrgID         int64      `bun:"org_id"`
	Domain        string     `bun:"domain"`
	Token         string     `bun:"token"`
	VerifiedAt    *time.Time `bun:"verified_at"`
	CheckUntil    time.Time  `bun:"check_until"`
	LastCheckedAt *time.Time `bun:"last_checked_at"`
	LostAt        *time.Time `bun:"lost_at"`
	CreatedAt     time.Time  `bun:"created_at,nullzero,default:now()"`
}

// Verified reports whether the domain's record was found at the last check.
func (d *OrgDomain) Verified() bool { return d.VerifiedAt != nil }

// RecordName and RecordValue are the TXT record to publish.
func (d *OrgDomain) RecordName() string  { return dnscheck.RecordName(d.Domain) }
func (d *OrgDomain) RecordValue() string { return dnscheck.RecordValue(d.Token) }

// Status is "verified", "checking" (pending, re-checked automatically), "lost" (the
// record disappeared; re-checked like a pending one) or "not verified" (no longer
// re-checked: press Verify).
func (d *OrgDomain) Status(now time.Time) string {
	switch {
	case d.Verified():
		return "verified"
	case d.CheckUntil.After(now) && d.LostAt != nil:
		return "lost"
	case d.CheckUntil.After(now):
		return "checking"
	}
	return "not verified"
}

// EmailDomain is the lower-case domain of an email address ("" without one).
func EmailDomain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(email[at+1:])), ".")
}

// normalizeDomain checks a domain an owner typed: an ASCII host name of at least two
// labels (internationalized names in their xn-- form), not a public mail service.
func normalizeDomain(s string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	d = strings.TrimPrefix(d, "@")
	switch {
	case d == "":
		return "", Invalid("domain", "Enter a domain, like example.com.")
	case len(d) > 253:
		return "", Invalid("domain", "The domain is too long (253 characters at most).")
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return "", Invalid("domain", "Enter a full domain, like example.com.")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", Invalid("domain", "Enter a valid domain, like example.com.")
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return "", Invalid("domain", "Enter a valid domain, like example.com (an internationalized domain in its xn-- form).")
			}
		}
	}
	if allDigits := strings.Trim(labels[len(labels)-1], "0123456789") == ""; allDigits {
		return "", Invalid("domain", "Enter a domain name, not an IP address.")
	}
	if IsPublicMailDomain(d) {
		return "", Invalid("domain", d+" is a public email service: anyone can have an address there, so no organization can verify it.")
	}
	return d, nil
}

var errDomainTaken = Invalid("domain", "This domain is verified by another organization.")

// ListDomains returns org's domains, by name.
func ListDomains(ctx context.Context, db bun.IDB, orgID int64) ([]OrgDomain, error) {
	var out []OrgDomain
	if err := db.NewSelect().Model(&out).Where("org_id = ?", orgID).OrderExpr("domain").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	return out, nil
}

// DomainOf returns org's domain id or name, or ErrNotFound (also for another org's).
func DomainOf(ctx context.Context, db bun.IDB, orgID int64, idOrName string) (*OrgDomain, error) {
	d := new(OrgDomain)
	q := db.NewSelect().Model(d).Where("org_id = ?", orgID)
	if strings.Trim(idOrName, "0123456789") == "" && idOrName != "" {
		q = q.Where("id = ?", idOrName)
	} else {
		q = q.Where("domain = ?", strings.TrimSuffix(strings.ToLower(strings.TrimSpace(idOrName)), "."))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, notFound(err, "domain")
	}
	return d, nil
}

// AddDomain claims domain for org (owners only): it returns the pending domain with
// the token to publish. A malformed or public domain, one the org has already added,
// or one verified by another org is a ValidationError on "domain".
func AddDomain(ctx context.Context, db bun.IDB, orgID int64, actor Actor, domain string) (*OrgDomain, error) {
	if err := authorizeActor(ctx, db, orgID, actor, ActAddDomain, Target{}); err != nil {
		return nil, err
	}
	name, err := normalizeDomain(domain)
	if err != nil {
		return nil, err
	}
	token, _ := newToken()
	d := &OrgDomain{OrgID: orgID, Domain: name, Token: token, CheckUntil: time.Now().Add(DomainPendingWindow)}
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var n int
		if err := tx.NewRaw("SELECT count(*) FROM org_domains WHERE org_id = ?", orgID).Scan(ctx, &n); err != nil {
			return err
		}
		if n >= maxDomainsPerOrg {
			return Invalid("domain", fmt.Sprintf("An organization can have %d domains at most.", maxDomainsPerOrg))
		}
		taken, err := tx.NewSelect().TableExpr("org_domains").Where("domain = ? AND verified_at IS NOT NULL AND org_id <> ?", name, orgID).Exists(ctx)
		if err != nil {
			return err
		}
		if taken {
			return errDomainTaken
		}
		if _, err := tx.NewInsert().Model(d).Returning("*").Exec(ctx); err != nil {
			if isUniqueViolation(err, "org_domains_org_id_domain_key") {
				return Invalid("domain", "This domain is already on the list.")
			}
			return fmt.Errorf("add domain: %w", err)
		}
		return audit(ctx, tx, orgID, actor, EventDomainAdded, name, map[string]any{"record": d.RecordName()})
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// VerifyDomain looks up the domain's TXT record now (owners only). Found, the domain
// is verified (and the other owners are emailed); not found, a ValidationError on
// "domain" says what the DNS answered; a DNS without an answer is a ValidationError
// too. A domain another org verified first is refused.
func VerifyDomain(ctx context.Context, db bun.IDB, mailer *Mailer, resolver *dnscheck.Resolver, orgID int64, actor Actor, domainID int64) (*OrgDomain, error) {
	if err := authorizeActor(ctx, db, orgID, actor, ActVerifyDomain, Target{}); err != nil {
		return nil, err
	}
	d, err := DomainOf(ctx, db, orgID, fmt.Sprint(domainID))
	if err != nil {
		return nil, err
	}
	outcome, values, err := resolver.Check(ctx, d.Domain, d.Token)
	if err != nil {
		return nil, Invalid("domain", "The DNS lookup of "+d.RecordName()+" got no answer ("+strings.TrimPrefix(err.Error(), dnscheck.ErrTemporary.Error()+": ")+"). Try again in a minute.")
	}
	if outcome != dnscheck.Found {
		msg := "We did not find the TXT record " + d.RecordName() + " with the value " + d.RecordValue() + "."
		if len(values) > 0 {
			msg += " The DNS has " + fmt.Sprintf("%q", values) + " there."
		}
		msg += " New records can take a few minutes to appear; we keep checking."
		_, _ = db.NewUpdate().Model(d).Set("last_checked_at = now()").WherePK().Exec(ctx)
		return nil, Invalid("domain", msg)
	}
	if d.Verified() {
		_, err := db.NewUpdate().Model(d).Set("last_checked_at = now()").WherePK().Exec(ctx)
		return d, err
	}
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		return markVerified(ctx, tx, mailer, d, actor)
	})
	if err != nil {
		return nil, err
	}
	return DomainOf(ctx, db, orgID, fmt.Sprint(domainID))
}

// markVerified records a found record: one org per domain (the unique index decides
// a race), audited, the other owners emailed; under domain capture the domain's
// sessions without this org's SSO end (endCapturedSessions).
func markVerified(ctx context.Context, tx bun.Tx, mailer *Mailer, d *OrgDomain, actor Actor) error {
	taken, err := tx.NewSelect().TableExpr("org_domains").Where("domain = ? AND verified_at IS NOT NULL AND org_id <> ?", d.Domain, d.OrgID).Exists(ctx)
	if err != nil {
		return err
	}
	if taken {
		return errDomainTaken
	}
	if _, err := tx.NewRaw(`UPDATE org_domains SET verified_at = now(), last_checked_at = now(), lost_at = NULL WHERE id = ?`, d.ID).Exec(ctx); err != nil {
		if isUniqueViolation(err, "org_domains_verified_once") {
			return errDomainTaken
		}
		return fmt.Errorf("verify domain: %w", err)
	}
	// Under domain capture the new domain's password sessions end now.
	ended, err := endCapturedSessions(ctx, tx, d.OrgID, d.Domain, actor.Session)
	if err != nil {
		return err
	}
	if err := audit(ctx, tx, d.OrgID, actor, EventDomainVerified, d.Domain, map[string]any{"record": d.RecordName(), "sessions_ended": ended}); err != nil {
		return err
	}
	return notifyOwners(ctx, tx, mailer, d.OrgID, actor, "verified the domain "+d.Domain+": the organization's identity provider is now trusted for addresses at "+d.Domain)
}

// RemoveDomain deletes org's domain (owners only); removing a verified one emails the
// other owners.
func RemoveDomain(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor, domainID int64) error {
	if err := authorizeActor(ctx, db, orgID, actor, ActRemoveDomain, Target{}); err != nil {
		return err
	}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		d := new(OrgDomain)
		if err := tx.NewDelete().Model(d).Where("id = ? AND org_id = ?", domainID, orgID).Returning("*").Scan(ctx); err != nil {
			return notFound(err, "domain")
		}
		if err := audit(ctx, tx, orgID, actor, EventDomainRemoved, d.Domain, map[string]any{"was_verified": d.Verified()}); err != nil {
			return err
		}
		if d.Verified() {
			return notifyOwners(ctx, tx, mailer, orgID, actor, "removed the verified domain "+d.Domain)
		}
		return nil
	})
}

// SetDomainCapture turns domain capture on or off (owners only; the other owners are
// emailed). Turning it on ends, at once, the sessions of accounts at the verified
// domains that did not come from this org's SSO (endCapturedSessions), except the
// acting browser's (actor.Session). It returns how many sessions ended.
func SetDomainCapture(ctx context.Context, db bun.IDB, mailer *Mailer, orgID int64, actor Actor, on bool) (int64, error) {
	if err := authorizeActor(ctx, db, orgID, actor, ActDomainCapture, Target{}); err != nil {
		return 0, err
	}
	var ended int64
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewRaw("UPDATE organizations SET domain_capture = ? WHERE id = ? AND domain_capture <> ?", on, orgID, on).Exec(ctx)
		if err != nil {
			return fmt.Errorf("domain capture: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		details := map[string]any{"domain_capture": on}
		if on {
			if ended, err = endCapturedSessions(ctx, tx, orgID, "", actor.Session); err != nil {
				return err
			}
			details["sessions_ended"] = ended
		}
		if err := audit(ctx, tx, orgID, actor, EventDomainCapture, "", details); err != nil {
			return err
		}
		what := "turned domain capture off"
		if on {
			what = "turned domain capture on: accounts at the verified domains must sign in through single sign-on"
		}
		return notifyOwners(ctx, tx, mailer, orgID, actor, what)
	})
	return ended, err
}

// endCapturedSessions applies domain capture to open sessions, as Require SSO does
// (UpdateAuthSettings): when org captures its domains and has an active provider, the
// sessions of accounts at its verified domains (only domain, when not "") that did
// not complete this org's SSO end at once, except keep (a SessionHash). Those
// accounts sign in again through the org's SSO (SSORoute). It returns how many ended.
func endCapturedSessions(ctx context.Context, tx bun.IDB, orgID int64, domain, keep string) (int64, error) {
	res, err := tx.NewRaw(`UPDATE sessions SET expiry = now()
		WHERE expiry > now() AND token <> ? AND NOT (? = ANY(sso_orgs))
		  AND EXISTS (SELECT 1 FROM organizations o JOIN auth_providers p ON p.org_id = o.id
		              WHERE o.id = ? AND o.domain_capture AND p.status = 'active')
		  AND user_id IN (SELECT u.id FROM users u JOIN org_domains d ON d.domain = split_part(lower(u.email), '@', 2)
		                  WHERE d.org_id = ? AND d.verified_at IS NOT NULL AND (? = '' OR d.domain = ?))`,
		keep, orgID, orgID, orgID, domain, domain).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("end captured sessions: %w", err)
	}
	return res.RowsAffected()
}

// DomainCheckResult counts what CheckDomains did.
type DomainCheckResult struct {
	Checked, Verified, Lost, Unanswered int
}

// CheckDomains re-checks the domains due at now: pending ones (until their window
// ends) every DomainPendingEvery, verified ones every DomainVerifiedEvery. A pending
// record found verifies the domain; a verified record missing (the DNS answered
// without it) loses the domain: unverified, audited, every owner emailed, and checked
// again like a pending domain for DomainPendingWindow. A lookup without an answer
// changes nothing.
func CheckDomains(ctx context.Context, db bun.IDB, mailer *Mailer, resolver *dnscheck.Resolver, now time.Time) (DomainCheckResult, error) {
	var res DomainCheckResult
	var due []OrgDomain
	err := db.NewSelect().Model(&due).
		Where("(verified_at IS NULL AND check_until > ? AND (last_checked_at IS NULL OR last_checked_at <= ?))", now, now.Add(-DomainPendingEvery)).
		WhereOr("(verified_at IS NOT NULL AND (last_checked_at IS NULL OR last_checked_at <= ?))", now.Add(-DomainVerifiedEvery)).
		OrderExpr("id").Limit(1000).Scan(ctx)
	if err != nil {
		return res, fmt.Errorf("domains due: %w", err)
	}
	var errs []error
	for i := range due {
		d := &due[i]
		outcome, _, err := resolver.Check(ctx, d.Domain, d.Token)
		if err != nil {
			res.Unanswered++
			continue
		}
		res.Checked++
		err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			switch {
			case outcome == dnscheck.Found && !d.Verified():
				err := markVerified(ctx, tx, mailer, d, System("DNS check"))
				if _, taken := AsValidation(err); taken {
					_, err = tx.NewRaw("UPDATE org_domains SET last_checked_at = ? WHERE id = ?", now, d.ID).Exec(ctx)
					return err
				}
				if err == nil {
					res.Verified++
				}
				return err
			case outcome == dnscheck.Missing && d.Verified():
				res.Lost++
				return loseDomain(ctx, tx, mailer, d, now)
			}
			_, err := tx.NewRaw("UPDATE org_domains SET last_checked_at = ? WHERE id = ?", now, d.ID).Exec(ctx)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("domain %s: %w", d.Domain, err))
		}
	}
	return res, errors.Join(errs...)
}

// loseDomain unverifies a domain whose record disappeared and warns every owner.
func loseDomain(ctx context.Context, tx bun.Tx, mailer *Mailer, d *OrgDomain, now time.Time) error {
	if _, err := tx.NewRaw(`UPDATE org_domains SET verified_at = NULL, lost_at = ?, last_checked_at = ?, check_until = ? WHERE id = ?`,
		now, now, now.Add(DomainPendingWindow), d.ID).Exec(ctx); err != nil {
		return fmt.Errorf("lose domain: %w", err)
	}
	actor := System("DNS check")
	if err := audit(ctx, tx, d.OrgID, actor, EventDomainLost, d.Domain, map[string]any{"record": d.RecordName()}); err != nil {
		return err
	}
	// Every owner learns what happened and the record to publish again (its own
	// email: the generic trust-change notice says neither).
	org, err := getOrg(ctx, tx, d.OrgID)
	if err != nil {
		return err
	}
	var owners []string
	if err := tx.NewRaw(`SELECT u.email FROM members m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? AND m.role = 'owner' AND m.active ORDER BY u.id`, d.OrgID).Scan(ctx, &owners); err != nil {
		return fmt.Errorf("owners to warn: %w", err)
	}
	capture := "no"
	if org.DomainCapture {
		capture = "yes"
	}
	for _, to := range owners {
		if err := mailer.enqueue(ctx, tx, mail.Args{To: to, Template: mail.TemplateDomainLost, Data: map[string]string{
			"org_name": org.Name, "org_slug": org.Slug, "domain": d.Domain, "record_name": d.RecordName(), "record_value": d.RecordValue(),
			"lost_at": now.UTC().Format("2 January 2006 15:04 MST"), "capture": capture,
			"recheck_hours": fmt.Sprint(int(DomainPendingWindow.Hours()))}}); err != nil {
			return err
		}
	}
	return nil
}

// DomainCheckArgs is the periodic domain check.
type DomainCheckArgs struct{}

// Kind implements river.JobArgs.
func (DomainCheckArgs) Kind() string { return "domain_check" }

// DomainCheckWorker runs CheckDomains.
type DomainCheckWorker struct {
	river.WorkerDefaults[DomainCheckArgs]
	DB       bun.IDB
	Mailer   *Mailer
	Resolver *dnscheck.Resolver
}

// Work implements river.Worker.
func (w *DomainCheckWorker) Work(ctx context.Context, _ *river.Job[DomainCheckArgs]) error {
	_, err := CheckDomains(ctx, w.DB, w.Mailer, w.Resolver, time.Now())
	return err
}

// domainVerdict is what the verified domains say about an IdP of org asserting
// addresses.
type domainVerdict int

const (
	domainOpen    domainVerdict = iota // no org verified the domain
	domainOwn                          // org verified it: its IdP's word proves a new account's mailbox
	domainForeign                      // another org verified it: this IdP may not speak for it
)

// verifiedDomainOwnerSQL is the org that verified the domain (an SQL expression; no
// row: none).
func verifiedDomainOwnerSQL(domain string) string {
	return "SELECT org_id FROM org_domains WHERE domain = " + domain + " AND verified_at IS NOT NULL"
}

var qVerifiedDomainOwner = prepare(func(bun.IDB) string { return verifiedDomainOwnerSQL("$1") })

// domainVerdictFor is the rule for every SSO sign-in into org: the strictest verdict
// over the addresses (the asserted one and, for a linked account, the account's),
// with the domain it is about.
func domainVerdictFor(ctx context.Context, db bun.IDB, orgID int64, emails ...string) (domainVerdict, string, error) {
	verdict, about := domainOpen, ""
	for _, e := range emails {
		dom := EmailDomain(e)
		if dom == "" {
			continue
		}
		var owner int64
		err := qVerifiedDomainOwner.scanOne(ctx, db, &owner, dom)
		if IsNotFound(notFound(err, "")) {
			continue
		}
		if err != nil {
			return domainOpen, "", fmt.Errorf("verified domain: %w", err)
		}
		switch v, d := domainVerdictOf(&owner, orgID, dom); v {
		case domainForeign:
			return v, d, nil
		case domainOwn:
			verdict, about = v, d
		}
	}
	return verdict, about, nil
}

// domainVerdictOf is the verdict for one address at domain, whose verifying org is
// owner (nil: no org verified it), for an IdP of orgID.
func domainVerdictOf(owner *int64, orgID int64, domain string) (domainVerdict, string) {
	switch {
	case owner == nil:
		return domainOpen, ""
	case *owner != orgID:
		return domainForeign, domain
	}
	return domainOwn, domain
}

// ReasonDomainForeign is the sign-in log reason for an IdP asserting an address at a
// domain another org verified.
const ReasonDomainForeign = "domain_verified_elsewhere"

func foreignDomainError(domain string) error {
	return &SSOError{Reason: ReasonDomainForeign,
		Message: "This email address belongs to another organization's verified domain: sign in through that organization.",
		Hint:    "The address is at " + domain + ", a domain verified by another organization: this identity provider cannot create, link or sign in accounts there."}
}

// SSORoute is where "sign in with your email" goes: the org that verified email's
// domain when it has an active provider, with whether the org captures the domain.
// It looks at the domain only, never at accounts, so it answers the same for known and
// unknown addresses. ErrNotFound when no SSO signs the address in.
func SSORoute(ctx context.Context, db bun.IDB, email string) (*Organization, *AuthProvider, error) {
	dom := EmailDomain(email)
	if dom == "" {
		return nil, nil, fmt.Errorf("SSO route: %w", ErrNotFound)
	}
	var orgID int64
	err := db.NewRaw("SELECT org_id FROM org_domains WHERE domain = ? AND verified_at IS NOT NULL", dom).Scan(ctx, &orgID)
	if err != nil {
		return nil, nil, notFound(err, "SSO route")
	}
	org, err := getOrg(ctx, db, orgID)
	if err != nil {
		return nil, nil, err
	}
	p, err := ProviderOf(ctx, db, orgID)
	if err != nil {
		return nil, nil, err
	}
	if !p.Active() {
		return nil, nil, fmt.Errorf("SSO route: %w", ErrNotFound)
	}
	return org, p, nil
}

// CapturedAccount is an account at one of the org's verified domains (listed on the
// Auth page for domain capture).
type CapturedAccount struct {
	UserID      int64  `bun:"id"`
	Email       string `bun:"email"`
	Member      bool   `bun:"member"`
	Linked      bool   `bun:"linked"`
	HasPassword bool   `bun:"has_password"`
}

// Status is "linked", "member, not linked" or "not a member".
func (a CapturedAccount) Status() string {
	switch {
	case a.Linked:
		return "linked"
	case a.Member:
		return "member, not linked"
	}
	return "not a member"
}

// CapturedAccounts returns up to limit accounts at org's verified domains, and how
// many there are.
func CapturedAccounts(ctx context.Context, db bun.IDB, orgID int64, limit int) ([]CapturedAccount, int, error) {
	var out []CapturedAccount
	q := `FROM users u JOIN org_domains d ON d.org_id = ? AND d.verified_at IS NOT NULL
		AND lower(u.email) LIKE '%@' || d.domain`
	var total int
	if err := db.NewRaw("SELECT count(*) "+q, orgID).Scan(ctx, &total); err != nil {
		return nil, 0, fmt.Errorf("captured accounts: %w", err)
	}
	err := db.NewRaw(`SELECT u.id, u.email,
		EXISTS (SELECT 1 FROM members m WHERE m.org_id = d.org_id AND m.user_id = u.id) AS member,
		EXISTS (SELECT 1 FROM auth_identities i WHERE i.org_id = d.org_id AND i.user_id = u.id) AS linked,
		u.password_hash IS NOT NULL AS has_password `+q+` ORDER BY lower(u.email) LIMIT ?`, orgID, limit).Scan(ctx, &out)
	if err != nil {
		return nil, 0, fmt.Errorf("captured accounts: %w", err)
	}
	return out, total, nil
}
