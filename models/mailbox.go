package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"gatehouse/models/mail"
)

// Mailbox rules (SECURITY.md "Accounts and linking"), in one place:
//
//   - An email address is proven only by its mailbox: an invitation link, a password
//     reset link, a link-confirmation email, a sign-up verification. An IdP's assertion
//     never proves an address for an account the IdP did not create.
//   - When a person proves the mailbox of an account that had not been proven before,
//     every IdP link and every session made before the proof ends: the account becomes
//     theirs, clean (proveMailbox).
//   - An account created just in time by org B's IdP reaches org B only until its
//     mailbox is proven (ReachesOrg).
//   - An unverified account cannot link an IdP by password or session, and setting a
//     first password needs a mailbox proof (the reset link).

// ErrMailboxUnproven is returned when an action needs an account whose email address
// has been proven by its mailbox.
var ErrMailboxUnproven = Forbidden("This account's email address is not verified yet. Use the link we email to it first.")

// ReachesOrg reports whether u may reach org orgID at all: an account an IdP created
// just in time reaches only that IdP's org until its mailbox is proven.
func ReachesOrg(u *User, orgID int64) bool {
	return u.EmailVerified || u.CreatedByOrgID == nil || *u.CreatedByOrgID == orgID
}

// proveMailbox records that the person in front of a link sent to the account's
// address proved its mailbox. When the address had not been proven before, every IdP
// link, pending link and session made before the proof ends (the caller signs the
// prover in afresh). It reports whether anything was cleaned.
//
// It takes rows in a sign-in's order (member, then identity), and locks the account
// FOR NO KEY UPDATE, which a sign-in's foreign keys (FOR KEY SHARE) do not wait for:
// a sign-in of the same person in flight never deadlocks with it.
func proveMailbox(ctx context.Context, tx bun.IDB, userID int64) (bool, error) {
	var verified bool
	if err := tx.NewRaw("SELECT email_verified FROM users WHERE id = ? FOR NO KEY UPDATE", userID).Scan(ctx, &verified); err != nil {
		return false, notFound(err, "user")
	}
	if verified {
		return false, nil
	}
	for _, q := range []string{
		"UPDATE members SET sso_linked = false WHERE user_id = ?",
		"DELETE FROM auth_identities WHERE user_id = ?",
		"DELETE FROM pending_links WHERE user_id = ?",
		"UPDATE users SET email_verified = true, created_by_org_id = NULL, updated_at = now() WHERE id = ?",
	} {
		if _, err := tx.NewRaw(q, userID).Exec(ctx); err != nil {
			return false, fmt.Errorf("prove mailbox: %w", err)
		}
	}
	if _, err := RevokeUserSessions(ctx, tx, userID, ""); err != nil {
		return false, err
	}
	return true, nil
}

// EmailVerificationLifetime is how long a sign-up verification link works.
const EmailVerificationLifetime = 24 * time.Hour

// Register is a sign-up (SPEC §1): it never says whether the address has an account.
// A new address gets an unverified account and a verification link; an address that
// has an account gets an email saying so (with the reset link). Both answer the same.
// The password is hashed either way, so both cost the same.
func Register(ctx context.Context, db bun.IDB, mailer *Mailer, in NewUser) error {
	v := &ValidationError{}
	email := checkEmail(v, "email", in.Email)
	checkText(v, "name", in.Name, "a name", true, 200)
	checkPassword(v, "password", in.Password)
	if err := v.Err(); err != nil {
		return err
	}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if existing, err := UserByEmail(ctx, tx, email); err == nil {
			if _, err := hashPassword(ctx, in.Password); err != nil { // the same cost as a new account
				return err
			}
			return mailer.enqueue(ctx, tx, mail.Args{To: existing.Email, Template: mail.TemplateAccountExists, Data: map[string]string{}})
		} else if !IsNotFound(err) {
			return err
		}
		u, err := CreateUser(ctx, tx, in)
		if _, taken := AsValidation(err); taken {
			return nil // registered at the same moment by another request, which sends the link
		}
		if err != nil {
			return err
		}
		token, hash := newToken()
		if _, err := tx.NewRaw("INSERT INTO email_verifications (token_hash, user_id, expires_at) VALUES (?, ?, ?)",
			hash, u.ID, time.Now().Add(EmailVerificationLifetime)).Exec(ctx); err != nil {
			return fmt.Errorf("store verification: %w", err)
		}
		return mailer.enqueue(ctx, tx, mail.Args{To: u.Email, Template: mail.TemplateVerifyEmail,
			Data: map[string]string{"name": u.DisplayName(), "token": token}})
	})
}

// ErrVerificationInvalid is returned for an unknown, used or expired verification link.
var ErrVerificationInvalid = errors.New("this verification link is invalid, already used or expired")

// VerifyEmail consumes a sign-up verification link (once): the mailbox is proven.
// It returns the account, to sign in.
func VerifyEmail(ctx context.Context, db bun.IDB, token string) (*User, error) {
	var u *User
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var userID int64
		err := tx.NewRaw(`UPDATE email_verifications SET used_at = now()
			WHERE token_hash = ? AND used_at IS NULL AND expires_at > now() RETURNING user_id`, HashToken(token)).Scan(ctx, &userID)
		if err != nil {
			return ErrVerificationInvalid
		}
		if _, err := proveMailbox(ctx, tx, userID); err != nil {
			return err
		}
		u, err = GetUser(ctx, tx, userID)
		return err
	})
	return u, err
}

// CheckEmailVerification reports whether a verification token is usable.
func CheckEmailVerification(ctx context.Context, db bun.IDB, token string) error {
	ok, err := db.NewSelect().TableExpr("email_verifications").
		Where("token_hash = ? AND used_at IS NULL AND expires_at > now()", HashToken(token)).Exists(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return ErrVerificationInvalid
	}
	return nil
}
