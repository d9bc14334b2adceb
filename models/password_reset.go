package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"gatehouse/models/mail"
)

// PasswordResetLifetime is how long a reset link works.
const PasswordResetLifetime = time.Hour

// RequestPasswordReset emails a single-use reset link when an account has that email.
// It says nothing about whether one does (the page answers the same either way).
func RequestPasswordReset(ctx context.Context, db bun.IDB, mailer *Mailer, email string) error {
	v := &ValidationError{}
	email = checkEmail(v, "email", email)
	if err := v.Err(); err != nil {
		return err
	}
	u, err := UserByEmail(ctx, db, email)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		token, hash := newToken()
		if _, err := tx.NewRaw("INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES (?, ?, ?)",
			hash, u.ID, time.Now().Add(PasswordResetLifetime)).Exec(ctx); err != nil {
			return fmt.Errorf("store reset token: %w", err)
		}
		return mailer.enqueue(ctx, tx, mail.Args{To: u.Email, Template: mail.TemplatePasswordReset,
			Data: map[string]string{"name": u.DisplayName(), "token": token}})
	})
}

// ErrResetLinkInvalid is returned for an unknown, used or expired reset link.
var ErrResetLinkInvalid = errors.New("this password reset link is invalid or has expired")

// CheckPasswordReset reports whether a reset token is usable.
func CheckPasswordReset(ctx context.Context, db bun.IDB, token string) error {
	ok, err := db.NewSelect().TableExpr("password_resets").
		Where("token_hash = ? AND used_at IS NULL AND expires_at > now()", HashToken(token)).Exists(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return ErrResetLinkInvalid
	}
	return nil
}

// ResetPassword sets a new password through a reset token (once), and ends every
// session of the user.
func ResetPassword(ctx context.Context, db bun.IDB, token, password string) (*User, error) {
	v := &ValidationError{}
	checkPassword(v, "password", password)
	if err := v.Err(); err != nil {
		return nil, err
	}
	var u *User
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var userID int64
		err := tx.NewRaw(`UPDATE password_resets SET used_at = now()
			WHERE token_hash = ? AND used_at IS NULL AND expires_at > now() RETURNING user_id`, HashToken(token)).Scan(ctx, &userID)
		if err != nil {
			return ErrResetLinkInvalid
		}
		// The link proves the mailbox: an account not proven before is claimed clean
		// (its IdP links and sessions end).
		if _, err := proveMailbox(ctx, tx, userID); err != nil {
			return err
		}
		if err := setPassword(ctx, tx, userID, password); err != nil {
			return err
		}
		if _, err := RevokeUserSessions(ctx, tx, userID, ""); err != nil {
			return err
		}
		u, err = GetUser(ctx, tx, userID)
		return err
	})
	return u, err
}
