package models

import (
	"context"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/alexedwards/argon2id"
)

// Password hashing is bounded (issue 12): each argon2id hash holds PasswordParams.Memory
// (46 MiB) for its duration, so unbounded concurrency is unbounded memory (30
// concurrent wrong-password logins took 1.4 GB). At most one hash per core runs; a
// request waits for a slot while its context lives, at most MaxHashWait, and at most
// MaxHashWaiters requests wait; anything over that gets ErrBusy (503 + Retry-After).
var (
	hashSlots = make(chan struct{}, runtime.GOMAXPROCS(0))
	// MaxHashWaiters is how many requests may queue for a slot.
	MaxHashWaiters = int64(8 * runtime.GOMAXPROCS(0))
	// MaxHashWait is the longest a request waits for a slot.
	MaxHashWait = 3 * time.Second
	hashWaiters atomic.Int64
)

// DefaultMemoryLimit is the Go runtime's soft memory limit when GOMEMLIMIT is not set.
// Each argon2id hash's 46 MiB become garbage the moment it ends; without a limit the
// collector lets garbage grow to the size of the live heap before collecting, so bursts
// of password logins peaked at 314 MB RSS; with it at 171–177 MB (issue 12,
// BenchmarkWrongPasswordRSS). It is soft: a live heap that needs more gets more (the
// runtime caps the extra collection work), so it never causes an out-of-memory.
const DefaultMemoryLimit = 128 << 20

// MemoryLimit is the soft limit set when GOMEMLIMIT is not: DefaultMemoryLimit, or
// more on a machine with more cores, so that the hashes that may run at once (one per
// core) plus 32 MiB for everything else fit under it and the collector never runs
// continuously while they do.
func MemoryLimit() int64 {
	need := int64(32<<20) + int64(cap(hashSlots))*int64(PasswordParams.Memory)*1024
	return max(DefaultMemoryLimit, need)
}

// ApplyMemoryLimit sets MemoryLimit unless the operator set GOMEMLIMIT, and returns the
// limit in effect (bytes).
func ApplyMemoryLimit() int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	debug.SetMemoryLimit(MemoryLimit())
	return MemoryLimit()
}

// DefaultGCPercent is the collector's GOGC when the operator has not set one. Under
// the soft memory limit a higher GOGC costs no unbounded memory (the limit still has
// garbage collected when the heap nears it) and collects less often while the heap is
// small: the collector's marking per SSO login went from 0.21 to 0.10 ms of CPU
// (BenchmarkSSOLoginThroughput's profile, issue 12).
const DefaultGCPercent = 400

// ApplyGCPercent sets DefaultGCPercent unless the operator set GOGC, and returns the
// GOGC in effect.
func ApplyGCPercent() int {
	if os.Getenv("GOGC") != "" {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(DefaultGCPercent)
	return DefaultGCPercent
}

// ErrBusy: password hashing is at capacity; try again shortly (HTTP 503, Retry-After).
var ErrBusy = errors.New("password hashing is at capacity")

// BusyRetryAfter is the Retry-After advertised with ErrBusy.
const BusyRetryAfter = 2 * time.Second

// withHashSlot runs fn holding a hashing slot.
func withHashSlot(ctx context.Context, fn func() error) error {
	select {
	case hashSlots <- struct{}{}:
	default:
		if hashWaiters.Add(1) > MaxHashWaiters {
			hashWaiters.Add(-1)
			return ErrBusy
		}
		t := time.NewTimer(MaxHashWait)
		select {
		case hashSlots <- struct{}{}:
			hashWaiters.Add(-1)
			t.Stop()
		case <-t.C:
			hashWaiters.Add(-1)
			return ErrBusy
		case <-ctx.Done():
			hashWaiters.Add(-1)
			t.Stop()
			return ErrBusy
		}
	}
	defer func() { <-hashSlots }()
	return fn()
}

// hashPassword is argon2id.CreateHash under the hashing bound.
func hashPassword(ctx context.Context, pw string) (hash string, err error) {
	err = withHashSlot(ctx, func() error {
		hash, err = argon2id.CreateHash(pw, PasswordParams)
		return err
	})
	return hash, err
}

// comparePassword is argon2id.ComparePasswordAndHash under the hashing bound.
func comparePassword(ctx context.Context, pw, hash string) (ok bool, err error) {
	err = withHashSlot(ctx, func() error {
		ok, err = argon2id.ComparePasswordAndHash(pw, hash)
		return err
	})
	return ok, err
}
