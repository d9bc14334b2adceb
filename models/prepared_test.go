package models_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"gatehouse/models"
	"gatehouse/models/database"
	"gatehouse/models/dbtest"
	"gatehouse/models/samlsp"
	"gatehouse/models/sessionstore"
)

// The hot-path reads run as prepared statements (prepared.go) and must answer exactly
// as the bun queries they replace: found, an org without a provider, no such org —
// in a transaction and outside one, twice (the second run uses the cached statement).
func TestPreparedOrgAndProvider(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	acme := f.mustCreateOrg(owner, "acme")
	bare := f.mustCreateOrg(owner, "bare")
	if _, err := f.db.Bun.ExecContext(f.ctx, "INSERT INTO auth_providers (org_id, kind, status, require_sso) VALUES (?, 'saml2', 'active', true)", acme.ID); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		org, p, err := models.OrgAndProvider(f.ctx, f.db.Bun, "acme")
		if err != nil || org.ID != acme.ID || org.Slug != "acme" || org.Name != acme.Name || p.OrgID != acme.ID || p.Kind != "saml2" || !p.RequireSSO || !p.Active() {
			t.Fatalf("acme: %+v %+v %v", org, p, err)
		}
		org, p, err = models.OrgAndProvider(f.ctx, f.db.Bun, "bare")
		if !models.IsNotFound(err) || org == nil || org.ID != bare.ID || p != nil {
			t.Fatalf("org without a provider: %+v %+v %v", org, p, err)
		}
		org, p, err = models.OrgAndProvider(f.ctx, f.db.Bun, "nope")
		if !models.IsNotFound(err) || org != nil || p != nil {
			t.Fatalf("no such org: %+v %+v %v", org, p, err)
		}
	}
	tx, err := f.db.Bun.BeginTx(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if org, p, err := models.OrgAndProvider(f.ctx, tx, "acme"); err != nil || org.ID != acme.ID || p.OrgID != acme.ID {
		t.Fatalf("in a transaction: %v", err)
	}
}

// Only a bounded set of statement texts is ever prepared: filters that are not a
// single comparison run unprepared, so a SCIM client cannot fill a connection's
// statement cache (and the server's memory) with filters of ever new shapes that carry
// no more arguments than a lookup (`attr pr` adds none). The review reproduced 512
// cached statements and +100 MB per backend with 700 such filters.
func TestSCIMFiltersDoNotFillTheStatementCache(t *testing.T) {
	f := newFixture(t)
	owner := f.mustCreateUser("owner@example.com")
	acme := f.mustCreateOrg(owner, "acme")
	conn, err := f.db.Bun.Conn(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	prepared := func() int {
		var n int
		if err := conn.QueryRowContext(f.ctx, "SELECT count(*) FROM pg_prepared_statements").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	list := func(filter string) {
		t.Helper()
		if _, err := models.ListSCIMUsers(f.ctx, conn, acme.ID, "https://gatehouse.test/scim/v2", filter, 1, 10); err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
	}
	// The lookups IdPs make are prepared, once per shape.
	for i := 0; i < 5; i++ {
		list(`userName eq "user` + strconv.Itoa(i) + `@example.com"`)
	}
	lookups := prepared()
	if lookups == 0 || lookups > 2 {
		t.Fatalf("a userName lookup left %d prepared statements, want 1 or 2 (count and page)", lookups)
	}
	// Forty filters of forty shapes, each with at most one argument.
	for i := 1; i <= 40; i++ {
		list(strings.Repeat("userName pr and ", i) + `userName eq "x@example.com"`)
		list(strings.Repeat("not (displayName pr) or ", i) + "active pr")
	}
	if n := prepared(); n != lookups {
		t.Fatalf("other filters prepared %d statements", n-lookups)
	}
}

// The hot paths' statements work in every pgx exec mode an operator may choose in
// DATABASE_URL (exec or simple_protocol behind a transaction-mode pooler): a returning
// SSO sign-in (JIT first, then the linked account), the SCIM token, a SCIM lookup and
// the org with its provider.
func TestPreparedStatementsInEveryExecMode(t *testing.T) {
	for _, mode := range []string{"", "cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol"} {
		t.Run("mode="+mode, func(t *testing.T) {
			ctx := context.Background()
			_, u := dbtest.NewWithURL(t)
			if mode != "" {
				sep := "?"
				if strings.Contains(u, "?") {
					sep = "&"
				}
				u += sep + "default_query_exec_mode=" + mode
			}
			db, err := database.Open(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			mailer, err := models.NewMailer(db.SQL)
			if err != nil {
				t.Fatal(err)
			}
			owner, err := models.CreateUser(ctx, db.Bun, models.NewUser{Email: "owner@example.com", Name: "Owner", Password: "correct horse battery"})
			if err != nil {
				t.Fatal(err)
			}
			org, err := models.CreateOrganization(ctx, db.Bun, models.Actor{UserID: owner.ID, Label: owner.Email}, models.NewOrganization{Name: "Acme", Slug: "acme"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Bun.ExecContext(ctx, "INSERT INTO auth_providers (org_id, kind, status, scim_enabled) VALUES (?, 'saml2', 'active', true)", org.ID); err != nil {
				t.Fatal(err)
			}
			var acs *models.ProviderCache // nil: what the ACS reads, read every time
			_, _, version, err := acs.OrgAndProvider(ctx, db.Bun, "acme")
			if err != nil || version == "" {
				t.Fatalf("provider version %q: %v", version, err)
			}
			for i := 0; i < 3; i++ { // JIT, then the returning sign-in (twice: cached statements)
				token, err := models.HandOffSAML(ctx, db.Bun, nil, org.ID, models.SAMLHandoff{Issuer: "https://idp.example", AssertionID: "a-" + strconv.Itoa(i),
					ReplayUntil: time.Now().Add(time.Hour), Identity: samlsp.Identity{ID: "ada", Email: "ada@example.com"}, NameID: "ada",
					Attributes: map[string][]string{"email": {"ada@example.com"}}, Next: "/", ProviderVersion: version})
				if err != nil {
					t.Fatal(err)
				}
				res, err := models.CompleteSSOHandoff(ctx, db.Bun, nil, mailer, token, models.HandoffBrowser{IP: "192.0.2.1"}, nil)
				if err != nil || res.Outcome == nil || res.Outcome.User == nil || res.Outcome.User.Email != "ada@example.com" {
					t.Fatalf("sign-in %d: %+v %v", i, res, err)
				}
			}
			var attrs string
			if err := db.Bun.QueryRowContext(ctx, "SELECT attributes::text FROM auth_identities WHERE idp_user_id = 'ada'").Scan(&attrs); err != nil || !strings.Contains(attrs, `"email": ["ada@example.com"]`) {
				t.Fatalf("identity attributes %q %v", attrs, err)
			}
			secret, _, err := models.CreateSCIMToken(ctx, db.Bun, mailer, org.ID, models.System("cli"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := models.AuthenticateSCIM(ctx, db.Bun, org.ID, secret); err != nil {
				t.Fatalf("SCIM token: %v", err)
			}
			list, err := models.ListSCIMUsers(ctx, db.Bun, org.ID, "https://gatehouse.test/scim/v2", `userName eq "ada@example.com"`, 1, 10)
			if err != nil || list.Total != 1 {
				t.Fatalf("SCIM lookup: %+v %v", list, err)
			}
			if o, p, err := models.OrgAndProvider(ctx, db.Bun, "acme"); err != nil || o.ID != org.ID || p.OrgID != org.ID {
				t.Fatalf("org and provider: %v", err)
			}
			uid := owner.ID
			if err := models.RecordSSOAttempt(ctx, db.Bun, models.SSOAttempt{OrgID: org.ID, Outcome: "success", IDPUserID: "ada", UserID: &uid, IP: "192.0.2.1"}); err != nil {
				t.Fatalf("sign-in log: %v", err)
			}
			// The session's find and upsert, in the login's transaction (with its SSO orgs).
			sm := sessionstore.Manager(db.Bun)
			err = db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				sctx, err := sm.Load(sessionstore.InTx(ctx, tx), "")
				if err != nil {
					return err
				}
				sm.Put(sctx, sessionstore.KeyUserID, owner.ID)
				sm.Put(sctx, sessionstore.KeySSO(org.ID), time.Now().Unix())
				token, _, err := sm.Commit(sctx)
				if err != nil {
					return err
				}
				if sctx, err = sm.Load(sessionstore.InTx(ctx, tx), token); err != nil || sm.GetInt64(sctx, sessionstore.KeyUserID) != owner.ID {
					return fmt.Errorf("session not found again: %v", err)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("session: %v", err)
			}
			var orgs string
			if err := db.Bun.QueryRowContext(ctx, "SELECT sso_orgs::text FROM sessions WHERE user_id = ?", owner.ID).Scan(&orgs); err != nil || orgs != fmt.Sprintf("{%d}", org.ID) {
				t.Fatalf("session row sso_orgs %q %v", orgs, err)
			}
		})
	}
}
