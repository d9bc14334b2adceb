package models

import (
	"context"
	"errors"
	"os"
	"runtime/debug"
	"testing"
	"time"
)

// fillHashSlots occupies every hashing slot until the returned function runs.
func fillHashSlots(t *testing.T) func() {
	t.Helper()
	for i := 0; i < cap(hashSlots); i++ {
		hashSlots <- struct{}{}
	}
	return func() {
		for i := 0; i < cap(hashSlots); i++ {
			<-hashSlots
		}
	}
}

// TestHashingBounded: with every slot taken, a hash waits (and runs once a slot
// frees), gives up with ErrBusy when its context ends or the wait is too long, and is
// refused at once when too many already wait.
func TestHashingBounded(t *testing.T) {
	hash, err := hashPassword(context.Background(), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	release := fillHashSlots(t)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := comparePassword(ctx, "x", hash); !errors.Is(err, ErrBusy) {
		t.Fatalf("cancelled context: %v", err)
	}

	prevWait, prevWaiters := MaxHashWait, MaxHashWaiters
	defer func() { MaxHashWait, MaxHashWaiters = prevWait, prevWaiters }()
	MaxHashWait = 10 * time.Millisecond
	if _, err := comparePassword(context.Background(), "x", hash); !errors.Is(err, ErrBusy) {
		t.Fatalf("wait past MaxHashWait: %v", err)
	}
	MaxHashWaiters = 0
	MaxHashWait = time.Hour
	if _, err := comparePassword(context.Background(), "x", hash); !errors.Is(err, ErrBusy) {
		t.Fatalf("over MaxHashWaiters: %v", err)
	}

	// A waiter gets the slot when one frees.
	MaxHashWaiters = 1
	done := make(chan error, 1)
	go func() {
		ok, err := comparePassword(context.Background(), "correct horse battery", hash)
		if err == nil && !ok {
			err = errors.New("the right password did not match")
		}
		done <- err
	}()
	for hashWaiters.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("ran without a slot: %v", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(hashSlots) != 0 || hashWaiters.Load() != 0 {
		t.Fatalf("slots %d, waiters %d after all finished", len(hashSlots), hashWaiters.Load())
	}
}

// The server's soft memory limit is DefaultMemoryLimit unless GOMEMLIMIT is set.
func TestApplyMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	t.Setenv("GOMEMLIMIT", "")
	os.Unsetenv("GOMEMLIMIT")
	if got := ApplyMemoryLimit(); got != MemoryLimit() || debug.SetMemoryLimit(-1) != MemoryLimit() || MemoryLimit() < DefaultMemoryLimit ||
		MemoryLimit() < int64(cap(hashSlots))*int64(PasswordParams.Memory)*1024 {
		t.Fatalf("default limit: %d (runtime %d)", got, debug.SetMemoryLimit(-1))
	}
	debug.SetMemoryLimit(1 << 30) // as the runtime does from GOMEMLIMIT=1GiB
	t.Setenv("GOMEMLIMIT", "1GiB")
	if got := ApplyMemoryLimit(); got != 1<<30 || debug.SetMemoryLimit(-1) != 1<<30 {
		t.Fatalf("GOMEMLIMIT overridden: %d", got)
	}
}

// The collector runs at DefaultGCPercent unless GOGC is set.
func TestApplyGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	if got := ApplyGCPercent(); got != DefaultGCPercent || debug.SetGCPercent(DefaultGCPercent) != DefaultGCPercent {
		t.Fatalf("default GOGC: %d", got)
	}
	debug.SetGCPercent(50) // as the runtime does from GOGC=50
	t.Setenv("GOGC", "50")
	if got := ApplyGCPercent(); got != 50 || debug.SetGCPercent(50) != 50 {
		t.Fatalf("GOGC overridden: %d", got)
	}
}
