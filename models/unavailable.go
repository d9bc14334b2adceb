package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// RetryAfterSeconds is what every surface tells a client to wait when the database is
// unavailable (Retry-After): long enough for a restart or a standby's promotion.
const RetryAfterSeconds = 5

// DatabaseUnavailable reports whether err means "the database cannot be used right
// now, try again" rather than "this request is wrong" or "this is a bug". It is the
// one classification every surface uses (HTML → 503 page, SCIM → 503 SCIM error, both
// with Retry-After): a restart, a failover, a frozen or unreachable server, a deadline
// (per request, statement_timeout, lock_timeout, pool acquire) all land here.
func DatabaseUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", // admin_shutdown: the server is stopping or the backend was terminated
			"57P02", // crash_shutdown
			"57P03", // cannot_connect_now: starting up, shutting down, in recovery
			"57014", // query_canceled: statement_timeout or a cancelled request
			"55P03", // lock_not_available: lock_timeout
			"25006", // read_only_sql_transaction: connected to a standby during a failover
			"40001", // serialization_failure
			"40P01", // deadlock_detected
			"53300": // too_many_connections
			return true
		}
		return len(pgErr.Code) == 5 && pgErr.Code[:2] == "08" // connection exceptions
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connErr),
		errors.Is(err, pgconn.ErrConnClosed), // "conn closed"
		errors.Is(err, io.ErrUnexpectedEOF),  // the server went away mid-reply
		errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, context.DeadlineExceeded), // per-request deadline, bounded pool acquire
		pgconn.Timeout(err),
		errors.As(err, &netErr) && netErr.Timeout():
		return true
	}
	return false
}
