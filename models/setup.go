package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

// ErrAlreadySetUp is returned by SetUpInstance once any account exists.
var ErrAlreadySetUp = Forbidden("This instance is already set up. Log in instead.")

// FirstRun is the input of SetUpInstance.
type FirstRun struct {
	User NewUser
	Org  NewOrganization
}

// SetUpInstance creates the first account (a superuser) and its organization, only
// while there is no account at all. Two visitors racing get one winner.
func SetUpInstance(ctx context.Context, db bun.IDB, in FirstRun, ip string) (*User, *Organization, error) {
	var u *User
	var org *Organization
	// Validate both halves first so every field error shows at once.
	v := &ValidationError{}
	checkEmail(v, "email", in.User.Email)
	checkText(v, "name", in.User.Name, "a name", true, 200)
	checkPassword(v, "password", in.User.Password)
	checkText(v, "org_name", in.Org.Name, "an organization name", true, 100)
	if in.Org.Slug != "" {
		checkSlug(v, "org_slug", in.Org.Slug)
	}
	if err := v.Err(); err != nil {
		return nil, nil, err
	}
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(7341)"); err != nil {
			return fmt.Errorf("setup lock: %w", err)
		}
		n, err := CountUsers(ctx, tx)
		if err != nil {
			return err
		}
		if n > 0 {
			return ErrAlreadySetUp
		}
		in.User.Superuser = true
		in.User.Verified = true // the instance's operator
		if u, err = CreateUser(ctx, tx, in.User); err != nil {
			return err
		}
		org, err = CreateOrganization(ctx, tx, Actor{UserID: u.ID, Label: u.Email, IP: ip}, in.Org)
		if v, ok := AsValidation(err); ok {
			// The org form fields are prefixed on the setup page.
			out := &ValidationError{}
			for k, msg := range v.Fields {
				out.Add("org_"+k, msg)
			}
			return out
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return u, org, nil
}
