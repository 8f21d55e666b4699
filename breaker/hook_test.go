package breaker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
)

// guarded returns a client of mr guarded by a new breaker, and a counter of
// the hook's client-closed notices.
func guarded(t *testing.T, mr *miniredis.Miniredis) (*redis.Client, *breaker.Breaker, *atomic.Int32) {
	t.Helper()
	b := mustNew(t, breaker.Settings{})
	var closed atomic.Int32
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialerRetries: 1})
	rdb.AddHook(b.NewHook(func() { closed.Add(1) }, nil))
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, b, &closed
}

func TestHookCountsOnlyHealthFailures(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb, b, _ := guarded(t, mr)
	ctx := t.Context()

	for range 10 {
		if err := rdb.Get(ctx, "missing").Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("GET missing = %v, want redis.Nil", err)
		}
	}
	mr.Set("str", "v")
	for range 10 {
		if err := rdb.LPush(ctx, "str", "x").Err(); err == nil {
			t.Fatal("LPUSH on a string succeeded")
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for range 10 {
		if err := rdb.Get(canceled, "k").Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("GET with a canceled context = %v", err)
		}
	}
	if b.Failures() != 0 || b.State() != breaker.Closed {
		t.Fatalf("after redis.Nil, WRONGTYPE and cancellations: %d failures, state %v; want 0, closed", b.Failures(), b.State())
	}

	mr.SetError("LOADING Redis is loading the dataset in memory")
	for i := range 5 {
		if err := rdb.Get(ctx, "k").Err(); !redis.IsLoadingError(err) {
			t.Fatalf("GET %d while loading = %v, want LOADING", i, err)
		}
	}
	if b.State() != breaker.Open {
		t.Fatalf("state %v after 5 LOADING replies, want open", b.State())
	}
	served := mr.CommandCount()
	for range 100 {
		err := rdb.Get(ctx, "k").Err()
		var ue *breaker.UnavailableError
		if !errors.As(err, &ue) || !ue.CircuitOpen || ue.RetryAfter <= 0 {
			t.Fatalf("GET on an open circuit = %v, want *UnavailableError with RetryAfter", err)
		}
	}
	if got := mr.CommandCount(); got != served {
		t.Errorf("the server saw %d commands while the circuit was open, want 0", got-served)
	}
}

func TestHookGuardsPipelines(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb, b, _ := guarded(t, mr)
	ctx := t.Context()

	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "a", 1, 0)
		p.Incr(ctx, "a")
		return nil
	}); err != nil {
		t.Fatalf("pipeline on a healthy server: %v", err)
	}
	mr.Close() // nothing listens any more: every dial is refused
	for i := range 5 {
		_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Incr(ctx, "a")
			return nil
		})
		if err == nil || breaker.Classify(err) != breaker.Failure {
			t.Fatalf("transaction %d against a dead server = %v, want a counted failure", i, err)
		}
	}
	if b.State() != breaker.Open {
		t.Fatalf("state %v after 5 failed transactions, want open", b.State())
	}
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "a")
		p.Get(ctx, "b")
		return nil
	})
	if !errors.Is(err, breaker.ErrUnavailable) {
		t.Fatalf("pipeline on an open circuit = %v, want ErrUnavailable", err)
	}
	for _, cmd := range cmds {
		if !errors.Is(cmd.Err(), breaker.ErrUnavailable) {
			t.Errorf("%v: error %v, want ErrUnavailable on every command", cmd.Args(), cmd.Err())
		}
	}
}

func TestHookReportsClosedClient(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb, b, closed := guarded(t, mr)
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	_ = rdb.Close()
	for range 3 {
		if err := rdb.Get(t.Context(), "k").Err(); !errors.Is(err, redis.ErrClosed) {
			t.Fatalf("GET on a closed client = %v, want redis.ErrClosed", err)
		}
	}
	if got := closed.Load(); got != 3 {
		t.Errorf("closed-client notices = %d, want 3", got)
	}
	if b.Failures() != 0 {
		t.Errorf("a locally closed client counted %d failures, want 0", b.Failures())
	}
}

// TestHookCostsNoAllocation: on a closed circuit, a guarded command
// allocates no more than an unguarded one.
func TestHookCostsNoAllocation(t *testing.T) {
	mr := miniredis.RunT(t)
	guardedRDB, _, _ := guarded(t, mr)
	plain := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = plain.Close() })
	ctx := t.Context()
	mr.Set("k", "v")
	perGet := func(rdb *redis.Client) float64 {
		for range 100 { // warm the pool up
			_ = rdb.Get(ctx, "k").Err()
		}
		return testing.AllocsPerRun(500, func() {
			if err := rdb.Get(ctx, "k").Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
	base, with := perGet(plain), perGet(guardedRDB)
	if with > base {
		t.Errorf("a guarded GET allocates %v times, an unguarded one %v: the hook allocates", with, base)
	}
	t.Logf("allocations per GET: unguarded %v, guarded %v", base, with)
}
