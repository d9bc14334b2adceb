package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
)

// PasswordParams are the argon2id parameters (OWASP's m=46 MiB, t=1, p=1): one hash
// costs well under 100 ms on one core (see BenchmarkPasswordHash).
var PasswordParams = &argon2id.Params{Memory: 46 * 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// User is a global account.
type User struct {
	bun.BaseModel `bun:"table:users"`

	ID            int64   `bun:"id,pk,autoincrement"`
	Email         string  `bun:"email"`
	Name          string  `bun:"name"`
	PasswordHash  *string `bun:"password_hash"`
	EmailVerified bool    `bun:"email_verified"`
	IsActive      bool    `bun:"is_active"`
	IsSuperuser   bool    `bun:"is_superuser"`
	// CreatedByOrgID is the org whose IdP created the account just in time (see ReachesOrg).
	CreatedByOrgID *int64    `bun:"created_by_org_id"`
	CreatedAt      time.Time `bun:"created_at,nullzero,default:now()"`
	UpdatedAt      time.Time `bun:"updated_at,nullzero,default:now()"`
}

// DisplayName is the name, or the email when the name is empty.
func (u *User) DisplayName() string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

// NewUser is the input of CreateUser.
type NewUser struct {
	Email, Name, Password string
	Superuser             bool
	// Verified: the address is trusted without a mailbox proof (the instance's first
	// account and accounts the operator creates with the CLI).
	Verified bool
}

// CreateUser validates and stores a new account. A taken email (any case) is a
// ValidationError on "email".
func CreateUser(ctx context.Context, db bun.IDB, in NewUser) (*User, error) {
	v := &ValidationError{}
	email := checkEmail(v, "email", in.Email)
	name := checkText(v, "name", in.Name, "a name", true, 200)
	checkPassword(v, "password", in.Password)
	if err := v.Err(); err != nil {
		return nil, err
	}
	hash, err := hashPassword(ctx, in.Password)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	u := &User{Email: email, Name: name, PasswordHash: &hash, IsActive: true, IsSuperuser: in.Superuser, EmailVerified: in.Verified}
	if _, err := db.NewInsert().Model(u).Returning("*").Exec(ctx); err != nil {
		if isUniqueViolation(err, "users_email_key") {
			return nil, Invalid("email", "An account with this email already exists. Log in instead.")
		}
		return nil, fmt.Errorf("insert user: %w", err)
	}
	return u, nil
}

// GetUser returns the user or ErrNotFound.
func GetUser(ctx context.Context, db bun.IDB, id int64) (*User, error) {
	u := new(User)
	if err := db.NewSelect().Model(u).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, notFound(err, "user")
	}
	return u, nil
}

// UserByEmail returns the user with that email (any case) or ErrNotFound.
func UserByEmail(ctx context.Context, db bun.IDB, email string) (*User, error) {
	u := new(User)
	if err := db.NewSelect().Model(u).Where("lower(email) = lower(?)", NormalizeEmail(email)).Scan(ctx); err != nil {
		return nil, notFound(err, "user")
	}
	return u, nil
}

// ErrBadCredentials is returned by Authenticate for an unknown email, a wrong password
// or a disabled account alike, so the answer does not reveal which.
var ErrBadCredentials = errors.New("wrong email or password")

// dummyHash is compared against when the email is unknown, so both paths cost the same.
var dummyHash, _ = argon2id.CreateHash("gatehouse-timing-equaliser", PasswordParams)

// Authenticate checks an email and password.
func Authenticate(ctx context.Context, db bun.IDB, email, password string) (*User, error) {
	u, err := UserByEmail(ctx, db, email)
	if errors.Is(err, ErrNotFound) || (err == nil && u.PasswordHash == nil) {
		if _, err := comparePassword(ctx, password, dummyHash); errors.Is(err, ErrBusy) {
			return nil, err
		}
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	ok, err := comparePassword(ctx, password, *u.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("compare password: %w", err)
	}
	if !ok || !u.IsActive {
		return nil, ErrBadCredentials
	}
	return u, nil
}

// UpdateProfile changes the user's name.
func UpdateProfile(ctx context.Context, db bun.IDB, userID int64, name string) error {
	v := &ValidationError{}
	name = checkText(v, "name", name, "a name", true, 200)
	if err := v.Err(); err != nil {
		return err
	}
	_, err := db.NewUpdate().Model((*User)(nil)).Set("name = ?", name).Set("updated_at = now()").Where("id = ?", userID).Exec(ctx)
	return err
}

// ErrFirstPasswordNeedsMailbox is returned when an account without a password tries to
// set one directly: a first password needs the emailed link (a mailbox proof).
var ErrFirstPasswordNeedsMailbox = Forbidden("To set a first password, use the link we email to your address.")

// ChangePassword checks the current password and sets a new one. An account without
// a password gets ErrFirstPasswordNeedsMailbox. The caller ends the other sessions.
func ChangePassword(ctx context.Context, db bun.IDB, userID int64, current, next string) error {
	u, err := GetUser(ctx, db, userID)
	if err != nil {
		return err
	}
	if u.PasswordHash == nil {
		return ErrFirstPasswordNeedsMailbox
	}
	v := &ValidationError{}
	ok, err := comparePassword(ctx, current, *u.PasswordHash)
	if err != nil {
		return fmt.Errorf("compare password: %w", err)
	}
	if !ok {
		v.Add("current_password", "This is not your current password.")
	}
	checkPassword(v, "new_password", next)
	if err := v.Err(); err != nil {
		return err
	}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := setPassword(ctx, tx, userID, next); err != nil {
			return err
		}
		// A changed password ends every session of the account; the caller starts a
		// new one for the browser that changed it (SECURITY.md "Powers").
		_, err := RevokeUserSessions(ctx, tx, userID, "")
		return err
	})
}

func setPassword(ctx context.Context, db bun.IDB, userID int64, pw string) error {
	hash, err := hashPassword(ctx, pw)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	_, err = db.NewUpdate().Model((*User)(nil)).Set("password_hash = ?", hash).Set("updated_at = now()").Where("id = ?", userID).Exec(ctx)
	return err
}

// CountUsers returns how many accounts exist (0 on a new instance).
func CountUsers(ctx context.Context, db bun.IDB) (int64, error) {
	return db.NewSelect().Model((*User)(nil)).Count(ctx)
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("load %s: %w", what, err)
}

func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return constraint == "" || strings.EqualFold(pgErr.ConstraintName, constraint)
	}
	return false
}
