package circuit_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/circuit"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
)

// guarded returns a client of mr guarded by a new breaker, and a counter of
// the hook's client-closed notices.
func guarded(t *testing.T, mr *miniredis.Miniredis) (*redis.Client, *circuit.Breaker, *atomic.Int32) {
	t.Helper()
	b := mustNew(t, breaker.Settings{})
	var closed atomic.Int32
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialerRetries: 1})
	rdb.AddHook(b.NewHook(circuit.HookEvents{ClientClosed: func() { closed.Add(1) }}))
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
	_ = mr.Set("str", "v")
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
		if err == nil || breaker.Classify(err) != breaker.Suspect {
			t.Fatalf("transaction %d against a dead server = %v, want a suspicion", i, err)
		}
	}
	if b.State() != breaker.Closed {
		t.Fatalf("state %v after 5 suspicions, want closed: the connector's check decides", b.State())
	}
	b.Trip(b.Epoch()) // as the connector's check does when Redis does not answer
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
	_ = mr.Set("k", "v")
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

// TestHookBypassAndHandshake: a bypassed hook lets everything through
// uncounted (a connect attempt's own commands); handshake commands are not
// counted but are refused, like the rest, while the circuit is open.
func TestHookBypassAndHandshake(t *testing.T) {
	// guarded returns a client of a fresh miniredis whose commands go
	// through the hook of a circuit with threshold 1, and the transitions
	// the hook reported.
	guarded := func(t *testing.T) (*miniredis.Miniredis, *circuit.Breaker, *circuit.Hook, *redis.Client, *[]string) {
		mr := miniredis.RunT(t)
		b := mustNew(t, breaker.Settings{FailureThreshold: 1})
		var transitions []string
		h := b.NewHook(circuit.HookEvents{Transition: func(_ context.Context, from, to breaker.State) {
			transitions = append(transitions, from.String()+">"+to.String())
		}})
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialerRetries: 1})
		rdb.AddHook(h)
		t.Cleanup(func() { _ = rdb.Close() })
		return mr, b, h, rdb, &transitions
	}

	t.Run("handshake", func(t *testing.T) {
		mr, b, _, rdb, transitions := guarded(t)
		ctx := t.Context()
		// Handshake-shaped commands on a closed circuit pass, uncounted.
		if err := rdb.Do(ctx, "client", "setname", "x").Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Select(ctx, 0); return nil }); err != nil {
			t.Fatal(err)
		}
		if b.Failures() != 0 {
			t.Fatalf("handshake commands counted %d failures", b.Failures())
		}
		mr.SetError("LOADING Redis is loading the dataset in memory")
		_ = rdb.Get(ctx, "k").Err() // trips (threshold 1)
		if b.State() != breaker.Open || len(*transitions) != 1 || (*transitions)[0] != "closed>open" {
			t.Fatalf("state %v, transitions %v; want open, one closed>open reported with the command", b.State(), *transitions)
		}
		if err := rdb.Do(ctx, "client", "setname", "y").Err(); !errors.Is(err, breaker.ErrUnavailable) {
			t.Errorf("handshake command on an open circuit: %v, want refused", err)
		}
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Select(ctx, 0); return nil }); !errors.Is(err, breaker.ErrUnavailable) {
			t.Errorf("handshake pipeline on an open circuit: %v, want refused", err)
		}
	})

	t.Run("bypass", func(t *testing.T) {
		mr, b, h, rdb, _ := guarded(t)
		ctx := t.Context()
		b.Trip(b.Epoch())
		h.SetBypass(true)
		failures := b.Failures()
		if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Errorf("bypassed command on an open circuit: %v, want it through", err)
		}
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Get(ctx, "k"); return nil }); err != nil {
			t.Errorf("bypassed pipeline: %v", err)
		}
		mr.SetError("LOADING again")
		_ = rdb.Get(ctx, "k").Err()
		if b.Failures() != failures {
			t.Errorf("a bypassed failure was counted")
		}
	})
}

// TestHookSuspects: a command whose caller's deadline ended, or that found
// the pool saturated, counts no failure however often it happens: it is
// reported as a suspicion, for the connector to confirm.
func TestHookSuspects(t *testing.T) {
	// guarded returns a circuit and a one-connection client guarded by it
	// whose pool gives up after 20ms, and the count of suspicions.
	guarded := func(t *testing.T) (*miniredis.Miniredis, *circuit.Breaker, *redis.Client, *atomic.Int32) {
		mr := miniredis.RunT(t)
		b := mustNew(t, breaker.Settings{FailureThreshold: 1})
		var suspicions atomic.Int32
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialerRetries: 1,
			PoolSize: 1, PoolTimeout: 20 * time.Millisecond, ContextTimeoutEnabled: true})
		rdb.AddHook(b.NewHook(circuit.HookEvents{Suspect: func(error) { suspicions.Add(1) }}))
		t.Cleanup(func() { _ = rdb.Close() })
		return mr, b, rdb, &suspicions
	}

	t.Run("caller's deadline", func(t *testing.T) {
		_, b, rdb, suspicions := guarded(t)
		expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		defer cancel()
		for range 10 {
			if err := rdb.Get(expired, "k").Err(); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("GET with an expired deadline = %v", err)
			}
		}
		if b.State() != breaker.Closed || b.Failures() != 0 || suspicions.Load() != 10 {
			t.Errorf("state %v, %d failures, %d suspicions; want closed, 0, 10", b.State(), b.Failures(), suspicions.Load())
		}
	})

	t.Run("saturated pool", func(t *testing.T) {
		mr, b, rdb, suspicions := guarded(t)
		// The only connection is held by a blocking command: the pool
		// times out.
		blocked := make(chan error, 1)
		go func() { blocked <- rdb.BLPop(t.Context(), 10*time.Second, "q").Err() }()
		for deadline := time.Now().Add(10 * time.Second); ; {
			if st := rdb.PoolStats(); st.TotalConns == 1 && st.IdleConns == 0 {
				break // BLPOP holds the connection
			}
			if time.Now().After(deadline) {
				t.Fatal("BLPOP never took the connection")
			}
			time.Sleep(time.Millisecond)
		}
		for range 3 {
			if err := rdb.Get(t.Context(), "k").Err(); !errors.Is(err, redis.ErrPoolTimeout) {
				t.Fatalf("GET on a saturated pool = %v, want ErrPoolTimeout", err)
			}
		}
		_, _ = mr.Lpush("q", "x")
		if err := <-blocked; err != nil {
			t.Fatalf("BLPOP: %v", err)
		}
		if b.State() != breaker.Closed || b.Failures() != 0 || suspicions.Load() != 3 {
			t.Errorf("state %v, %d failures, %d suspicions; want closed, 0, 3", b.State(), b.Failures(), suspicions.Load())
		}
	})
}

// TestCommandsNeverProbe: once the open period is over, commands are still
// refused; only an admitted connect attempt (Allow) is the probe, and
// while it runs commands are refused too.
func TestCommandsNeverProbe(t *testing.T) {
	mr := miniredis.RunT(t)
	b := mustNew(t, breaker.Settings{FailureThreshold: 1, Timeout: 20 * time.Millisecond, DisableJitter: true})
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialerRetries: 1})
	rdb.AddHook(b.NewHook(circuit.HookEvents{}))
	defer func() { _ = rdb.Close() }()
	ctx := t.Context()
	mr.SetError("LOADING Redis is loading the dataset in memory")
	_ = rdb.Get(ctx, "k").Err()
	mr.SetError("")
	time.Sleep(b.RetryAfter() + 50*time.Millisecond)
	served := mr.CommandCount()
	for range 10 {
		if err := rdb.Get(ctx, "k").Err(); !errors.Is(err, breaker.ErrUnavailable) {
			t.Fatalf("GET after the open period = %v, want refused", err)
		}
	}
	probe, err := b.Allow()
	if err != nil {
		t.Fatalf("the probe was refused: %v", err)
	}
	if err := rdb.Get(ctx, "k").Err(); !errors.Is(err, breaker.ErrUnavailable) {
		t.Fatalf("GET during the probe = %v, want refused", err)
	}
	if mr.CommandCount() != served {
		t.Errorf("Redis saw %d commands while the circuit was not closed", mr.CommandCount()-served)
	}
	probe.Report(breaker.Success)
	if err := rdb.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after the probe closed the circuit = %v, want redis.Nil", err)
	}
}

func TestStrings(t *testing.T) {
	for v, want := range map[fmt.Stringer]string{
		breaker.Closed: "closed", breaker.HalfOpen: "half-open", breaker.Open: "open", breaker.State(9): "unknown",
		breaker.Success: "success", breaker.Failure: "failure", breaker.Ignored: "ignored", breaker.Fatal: "fatal",
		breaker.Suspect: "suspect", breaker.Outcome(9): "unknown",
	} {
		if got := v.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", v, got, want)
		}
	}
	if got := mustNew(t, breaker.Settings{Name: "cache"}).Name(); got != "cache" {
		t.Errorf("Name() = %q", got)
	}
}

// TestFailedDialsNeverPooled: a failed dial becomes a connection that
// fails on use (go-redis neither logs nor counts it), but one that go-redis
// dialed in the background and keeps idle (MinIdleConns) must not fail a
// command that draws it once Redis is back: its health check discards it.
func TestFailedDialsNeverPooled(t *testing.T) {
	mr := miniredis.RunT(t)
	proxy := faultproxy.New(t, mr.Addr())
	if err := proxy.SetMode(faultproxy.Refuse); err != nil {
		t.Fatal(err)
	}
	b, err := circuit.New(breaker.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), MinIdleConns: 3, MaxRetries: -1, DialerRetries: 1})
	defer func() { _ = rdb.Close() }()
	rdb.AddHook(b.NewHook(circuit.HookEvents{}))
	// The background dials of MinIdleConns, refused, leave failed
	// connections idle in the pool.
	if err := rdb.Ping(t.Context()).Err(); err == nil {
		t.Fatal("PING with nothing listening succeeded")
	}
	deadline := time.Now().Add(10 * time.Second)
	for rdb.PoolStats().IdleConns < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("pool %+v: the background dials never came back", *rdb.PoolStats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := proxy.SetMode(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := rdb.Set(t.Context(), "k", i, 0).Err(); err != nil {
			t.Fatalf("SET #%d with Redis back: %v (a failed dial's connection was drawn from the pool)", i, err)
		}
	}
}
