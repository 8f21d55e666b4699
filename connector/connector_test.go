package connector_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
	"github.com/ankitoon/redismw/internal/testkit/testmain"
)

// behindProxy starts a real redis-server and a fault proxy in front of it.
func behindProxy(t *testing.T) (*redistest.Server, *faultproxy.Proxy) {
	t.Helper()
	srv := redistest.Start(t)
	return srv, faultproxy.New(t, srv.Addr)
}

// eventually is testmain.Eventually.
var eventually = testmain.Eventually

// unavailable asserts that err is an *UnavailableError and returns it.
func unavailable(t *testing.T, err error) *connector.UnavailableError {
	t.Helper()
	var ue *connector.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("error %v (%T), want a *connector.UnavailableError matching ErrUnavailable", err, err)
	}
	return ue
}

// TestHerdSharesOneConnect: 10 000 callers on a cold connector, against a
// real server behind a proxy that adds 20ms to every new connection, cause
// exactly one connect of one attempt, and all of them get the same client;
// the connect's warm-up dials the pool's connections beside it, and no
// more than the pool holds.
func TestHerdSharesOneConnect(t *testing.T) {
	_, proxy := behindProxy(t)
	proxy.SetDialDelay(20 * time.Millisecond)
	// A generous attempt: 10 000 goroutines under -race on a busy machine
	// must not make the one attempt time out (this test is about sharing,
	// not speed).
	c := newConnector(t, proxy.URL(), func(cfg *connector.Config) { cfg.AttemptTimeout = 30 * time.Second })

	const callers = 10_000
	gate := make(chan struct{})
	clients := make([]redis.UniversalClient, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-gate
			clients[i], errs[i] = c.Client(t.Context())
		})
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	took := time.Since(start)

	if got, size := proxy.Accepted(), int64(10*runtime.GOMAXPROCS(0)); got > size {
		t.Errorf("the herd opened %d connections, want at most the pool's %d", got, size)
	}
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if clients[i] != clients[0] {
			t.Fatalf("caller %d got a different client", i)
		}
	}
	s := c.Stats()
	if s.Connects != 1 || s.Attempts != 1 || s.State != connector.StateReady {
		t.Errorf("stats %+v, want 1 connect, 1 attempt, ready", s)
	}
	if err := clients[0].Ping(t.Context()).Err(); err != nil {
		t.Errorf("PING on the shared client: %v", err)
	}
	t.Logf("%d callers: %d connection(s) accepted, wall time %v, connect latency %v",
		callers, proxy.Accepted(), took, s.LastConnectLatency)
}

// TestWarmUp: a first connect dials, beside its attempt, a pooled
// connection for each caller waiting on it, up to the pool's size, so
// that their first commands find them ready; a lone caller dials once.
func TestWarmUp(t *testing.T) {
	t.Run("lone caller", func(t *testing.T) {
		_, proxy := behindProxy(t)
		c := newConnector(t, proxy.URL(), nil)
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.Ping(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		if got := proxy.Accepted(); got != 1 {
			t.Errorf("a lone caller's connect and PING opened %d connections, want 1", got)
		}
	})
	t.Run("herd", func(t *testing.T) {
		_, proxy := behindProxy(t)
		proxy.SetDialDelay(100 * time.Millisecond) // the callers join during the attempt
		const size, callers = 8, 50
		c := newConnector(t, proxy.URL()+fmt.Sprintf("?pool_size=%d", size), func(cfg *connector.Config) { cfg.AttemptTimeout = 30 * time.Second })
		gate := make(chan struct{})
		var wg sync.WaitGroup
		clients := make([]redis.UniversalClient, callers)
		for i := range callers {
			wg.Go(func() {
				<-gate
				rdb, err := c.Client(t.Context())
				if err != nil {
					t.Error(err)
				}
				clients[i] = rdb
			})
		}
		close(gate)
		wg.Wait()
		if t.Failed() {
			return
		}
		// No caller has run a command: the pool was filled by the connect.
		eventually(t, 10*time.Second, "the pool to hold its connections", func() bool { return clients[0].PoolStats().TotalConns == size })
		if got := proxy.Accepted(); got != size {
			t.Errorf("%d connections accepted, want the pool's %d", got, size)
		}
		if s := c.Stats(); s.Connects != 1 || s.Attempts != 1 {
			t.Errorf("stats %+v, want 1 connect of 1 attempt", s)
		}
	})
}

// TestNoWarmUpWithoutWaiters: callers that do not wait — an attempt of
// the connect has failed against a hung Redis and the connect goes on in
// the background — start no warm-up: Redis gets no dial beyond the
// attempts'.
func TestNoWarmUpWithoutWaiters(t *testing.T) {
	_, proxy := behindProxy(t)
	if err := proxy.SetMode(faultproxy.Hang); err != nil {
		t.Fatal(err)
	}
	c := newConnector(t, proxy.URL()+"?pool_size=8", func(cfg *connector.Config) {
		cfg.AttemptTimeout = 400 * time.Millisecond
		cfg.MaxAttempts = 3
		cfg.Backoff = connector.FullJitter(100*time.Millisecond, time.Second)
	})
	if _, err := c.Client(t.Context()); err == nil {
		t.Fatal("a hung Redis connected")
	}
	before := proxy.Accepted() // the first attempt's, and nothing else: one caller waited
	// The herd comes while the later attempts hang.
	eventually(t, 10*time.Second, "the connect's second attempt", func() bool { return c.Stats().Attempts >= 2 })
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for range 3000 {
		wg.Go(func() {
			<-gate
			if _, err := c.Client(t.Context()); err == nil {
				t.Error("a hung Redis connected")
			}
		})
	}
	close(gate)
	wg.Wait()
	eventually(t, 10*time.Second, "the connect's last attempt", func() bool { return c.Stats().Attempts >= 3 })
	settle(t, c)
	if got := proxy.Accepted() - before; got > 2 {
		t.Errorf("%d connections after the first failed attempt, for 3000 callers that did not wait; want at most the 2 later attempts'", got)
	}
}

// TestWarmUpPanics: a user hook that panics in the warm-up's PINGs does
// not crash the process: the attempt's own PING reports the panic to its
// callers, once, and the connector closes cleanly.
func TestWarmUpPanics(t *testing.T) {
	_, proxy := behindProxy(t)
	proxy.SetDialDelay(100 * time.Millisecond) // the callers join during the attempt
	c := newConnector(t, proxy.URL(), func(cfg *connector.Config) {
		cfg.AttemptTimeout = 30 * time.Second
		on := &atomic.Bool{}
		on.Store(true)
		cfg.OnNewClient = func(rdb redis.UniversalClient) error { rdb.AddHook(panicHook{on}); return nil }
	})
	gate := make(chan struct{})
	var wg sync.WaitGroup
	var panicked atomic.Int32
	for range 10 {
		wg.Go(func() {
			defer func() {
				if recover() != nil {
					panicked.Add(1)
				}
			}()
			<-gate
			_, _ = c.Client(t.Context())
		})
	}
	close(gate)
	wg.Wait()
	if panicked.Load() == 0 {
		t.Fatal("no caller saw the connect's panic")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestReadyPathIsOneLoad: a ready connector returns the same client without
// allocating.
func TestReadyPathIsOneLoad(t *testing.T) {
	mr := miniredis.RunT(t)
	c := newConnector(t, "redis://"+mr.Addr(), nil)
	first, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	allocs := testing.AllocsPerRun(1000, func() {
		rdb, err := c.Client(ctx)
		if rdb != first || err != nil {
			t.Fatalf("ready path returned %p, %v; want %p, nil", rdb, err, first)
		}
	})
	if allocs != 0 {
		t.Errorf("ready path allocates %v times per call, want 0", allocs)
	}
}

// TestRecoversAfterFailedFirstConnect is the "stuck flag" outage of the
// origin app, proven absent: the first connect fails because nothing
// listens; once the server is there, a later Client succeeds — at once
// while the circuit is closed, and within one open period plus one attempt
// once it has tripped.
func TestRecoversAfterFailedFirstConnect(t *testing.T) {
	t.Run("circuit closed", func(t *testing.T) {
		_, proxy := behindProxy(t)
		c := newConnector(t, proxy.URL(), nil)
		ctx := t.Context()

		if err := proxy.SetMode(faultproxy.Refuse); err != nil {
			t.Fatal(err)
		}
		_, err := c.Client(ctx)
		ue := unavailable(t, err)
		if ue.CircuitOpen || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "after 1 attempt") {
			t.Fatalf("first connect: %v; want the first attempt's failure naming the refusal, circuit closed", err)
		}
		settle(t, c) // the connect goes on in the background
		if s := c.Stats(); s.Attempts != 3 || s.AttemptFailures != 3 || s.State != connector.StateIdle {
			t.Fatalf("after the failed connect: %+v; want 3 failed attempts, idle", s)
		}

		if err := proxy.SetMode(faultproxy.Pass); err != nil {
			t.Fatal(err)
		}
		// The first call after the failures starts a connect without
		// waiting for it (Redis failed last); the connect succeeds in the
		// background.
		eventually(t, 5*time.Second, "Client succeeding once the server listens", func() bool {
			_, err := c.Client(ctx)
			return err == nil
		})
	})

	t.Run("circuit tripped", func(t *testing.T) {
		_, proxy := behindProxy(t)
		var moves <-chan breaker.State
		c := newConnector(t, proxy.URL(), func(cfg *connector.Config) { moves = watch(cfg) })
		ctx := t.Context()
		if err := proxy.SetMode(faultproxy.Refuse); err != nil {
			t.Fatal(err)
		}
		_, _ = c.Client(ctx) // 3 failures
		settle(t, c)
		_, err := c.Client(ctx) // 2 more: the circuit opens
		settle(t, c)
		// The caller got the first attempt's failure: a connect failure,
		// no refusal.
		if ue := unavailable(t, err); ue.CircuitOpen || c.Stats().Circuit != breaker.Open {
			t.Fatalf("after 5 failed attempts: %+v, circuit %v; want a connect failure, circuit open", ue, c.Stats().Circuit)
		}
		if _, err := c.Client(ctx); !unavailable(t, err).CircuitOpen || unavailable(t, err).RetryAfter <= 0 {
			t.Fatalf("next call: %v; want refused by the open circuit, with RetryAfter", err)
		}
		if err := proxy.SetMode(faultproxy.Pass); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		_, err = c.Client(ctx)
		if wait := unavailable(t, err).RetryAfter; wait <= 0 {
			t.Fatalf("open circuit refused without RetryAfter: %v", err)
		}
		// The connector probes on its own at the end of the open period.
		await(t, moves, breaker.Closed)
		if _, err := c.Client(ctx); err != nil {
			t.Fatalf("Client once the probe closed the circuit: %v", err)
		}
		if took, bound := time.Since(back), 400*time.Millisecond+500*time.Millisecond+time.Second; took > bound {
			t.Errorf("recovery took %v, want within one open period plus one attempt (%v with slack)", took, bound)
		}
		if s := c.Stats(); s.Circuit != breaker.Closed || s.State != connector.StateReady {
			t.Errorf("after recovery: %+v; want circuit closed, ready", s)
		}
	})
}

// TestHungServer: against a server that accepts and never answers, a
// connect gives up within MaxAttempts × AttemptTimeout + backoff with one
// connection per attempt; once the circuit is open, calls fail at once
// without any new connection.
func TestHungServer(t *testing.T) {
	_, proxy := behindProxy(t)
	if err := proxy.SetMode(faultproxy.Hang); err != nil {
		t.Fatal(err)
	}
	const attempt = 300 * time.Millisecond
	c := newConnector(t, proxy.URL(), func(cfg *connector.Config) { cfg.AttemptTimeout = attempt })
	ctx := t.Context()

	start := time.Now()
	_, err := c.Client(ctx)
	first := time.Since(start)
	ue := unavailable(t, err)
	if !errors.Is(ue, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timeout") {
		t.Errorf("connect to a hung server: %v; want a timeout", err)
	}
	if first < attempt || first > attempt+time.Second {
		t.Errorf("Client returned after %v; want after the first attempt (%v): nobody waits for the others", first, attempt)
	}
	settle(t, c)
	took := time.Since(start)
	if bound := 3*attempt + 2*10*time.Millisecond; took < 3*attempt || took > bound+time.Second {
		t.Errorf("connect took %v; want about MaxAttempts × AttemptTimeout + backoff = %v", took, bound)
	}
	if got := proxy.Accepted(); got != 3 {
		t.Errorf("3 attempts opened %d connections; go-redis must dial once per attempt", got)
	}

	_, err = c.Client(ctx) // failures 4 and 5: the circuit opens
	settle(t, c)
	_, err2 := c.Client(ctx)
	if err2 != nil && c.Stats().Circuit == breaker.Open {
		err = err2
	}
	if ue := unavailable(t, err); ue.RetryAfter <= 0 || c.Stats().Circuit != breaker.Open {
		t.Fatalf("after 5 failed attempts: %v, circuit %v; want a refusal with RetryAfter, the circuit open", err, c.Stats().Circuit)
	}
	dials := proxy.Accepted()
	var slowest time.Duration
	for range 1000 {
		start := time.Now()
		_, err := c.Client(ctx)
		slowest = max(slowest, time.Since(start))
		if ue := unavailable(t, err); !ue.CircuitOpen || ue.RetryAfter <= 0 {
			t.Fatalf("call on an open circuit: %+v; want CircuitOpen with RetryAfter", ue)
		}
	}
	if got := proxy.Accepted() - dials; got != 0 {
		t.Errorf("1000 calls on an open circuit opened %d connections, want 0", got)
	}
	if slowest > 100*time.Millisecond {
		t.Errorf("slowest call on an open circuit took %v, want it immediate", slowest)
	}
	s := c.Stats()
	if s.FastFails < 1000 || s.State != connector.StateCircuitOpen {
		t.Errorf("stats %+v; want ≥ 1000 fast fails, circuit_open", s)
	}
	t.Logf("connect against a hung server: first failure returned after %v, %v for %d attempts; 1000 calls after the trip: 0 connections, slowest %v", first, took, 3, slowest)
}

// TestRedisKilledAfterConnect: commands on a ready client fail when Redis
// dies, the circuit opens, commands then fail fast without network I/O; once
// Redis is back, the circuit closes after the open period and commands
// succeed again through the same connector.
func TestRedisKilledAfterConnect(t *testing.T) {
	srv, proxy := behindProxy(t)
	var moves <-chan breaker.State
	c := newConnector(t, proxy.URL(), func(cfg *connector.Config) { moves = watch(cfg) })
	ctx := t.Context()
	rdb, err := c.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Incr(ctx, "n").Err(); err != nil {
		t.Fatal(err)
	}

	srv.Kill()
	for deadline := time.Now().Add(5 * time.Second); c.Stats().Circuit != breaker.Open; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("circuit still %v 5s after Redis was killed", c.Stats().Circuit)
		}
		err := rdb.Incr(ctx, "n").Err()
		if o := breaker.Classify(err); o != breaker.Suspect && !errors.Is(err, connector.ErrUnavailable) {
			t.Fatalf("INCR on a dead server: %v (%v); want a network error (a suspicion, which the check confirms), or refused once the check opened the circuit", err, o)
		}
	}
	dials, attempts := proxy.Accepted(), c.Stats().Attempts
	for range 100 {
		if err := rdb.Incr(ctx, "n").Err(); !unavailable(t, err).CircuitOpen {
			t.Fatalf("INCR on an open circuit: %v", err)
		}
	}
	_, err = c.Client(ctx)
	wait := unavailable(t, err).RetryAfter
	// The first failure asked for a check, whose dial may reach the proxy
	// just after the circuit opened: at most one connection more.
	if got, probes := proxy.Accepted()-dials, int64(c.Stats().Attempts-attempts); got > probes+1 {
		t.Errorf("the open circuit let %d connections through, for %d probes", got, probes)
	}

	if wait <= 0 {
		t.Errorf("refusal without RetryAfter: %v", err)
	}

	srv.Restart()
	// The connector probes on its own: nobody calls it.
	await(t, moves, breaker.Closed)
	rdb2, err := c.Client(ctx)
	if err != nil {
		t.Fatalf("Client once the probe closed the circuit: %v", err)
	}
	if err := rdb2.Incr(ctx, "n").Err(); err != nil {
		t.Fatalf("INCR after recovery: %v", err)
	}
	// The client handed out before the outage lives on: it works again.
	if rdb2 != rdb {
		t.Errorf("the connector replaced its client after the outage; a long-lived holder would keep a dead one")
	}
	if err := rdb.Incr(ctx, "n").Err(); err != nil {
		t.Fatalf("INCR on the client held across the outage: %v", err)
	}
	if s := c.Stats(); s.Circuit != breaker.Closed || s.State != connector.StateReady {
		t.Errorf("after recovery: %+v", s)
	}
}

// TestCallerLeavesWithoutCancellingConnect: a caller whose context ends
// returns at once with its context's error; the connect goes on for the
// others and nothing is counted as a failure.
func TestCallerLeavesWithoutCancellingConnect(t *testing.T) {
	_, proxy := behindProxy(t)
	proxy.SetDialDelay(time.Second)
	c := newConnector(t, proxy.URL(), func(cfg *connector.Config) { cfg.AttemptTimeout = 3 * time.Second })

	leaving, leave := context.WithCancel(t.Context())
	type result struct {
		rdb  redis.UniversalClient
		err  error
		took time.Duration
	}
	left, stayed := make(chan result, 1), make(chan result, 1)
	var canceledAt atomic.Int64
	go func() {
		rdb, err := c.Client(leaving)
		left <- result{rdb, err, time.Duration(time.Now().UnixNano() - canceledAt.Load())}
	}()
	go func() {
		rdb, err := c.Client(t.Context())
		stayed <- result{rdb, err, 0}
	}()
	eventually(t, 5*time.Second, "two callers waiting on the connect", func() bool { return c.Stats().Waiting == 2 })
	canceledAt.Store(time.Now().UnixNano())
	leave()

	l := <-left
	if !errors.Is(l.err, context.Canceled) || l.rdb != nil {
		t.Fatalf("leaving caller got %v, %v; want context.Canceled", l.rdb, l.err)
	}
	if l.took > 500*time.Millisecond {
		t.Errorf("leaving caller returned %v after its cancel, want at once (the connect takes 1s)", l.took)
	}
	s := <-stayed
	if s.err != nil || s.rdb == nil {
		t.Fatalf("staying caller: %v", s.err)
	}
	st := c.Stats()
	if st.Connects != 1 || st.AttemptFailures != 0 || st.Failures != 0 || st.State != connector.StateReady {
		t.Errorf("stats %+v; want one connect, no failure, ready", st)
	}
}

// TestCloseDuringConnect: Close cuts an attempt blocked on a hung server
// short, the waiting caller gets ErrClosed, later calls too.
func TestCloseDuringConnect(t *testing.T) {
	_, proxy := behindProxy(t)
	if err := proxy.SetMode(faultproxy.Hang); err != nil {
		t.Fatal(err)
	}
	c := newConnector(t, proxy.URL(), func(cfg *connector.Config) { cfg.AttemptTimeout = 30 * time.Second })
	waiter := make(chan error, 1)
	go func() {
		_, err := c.Client(context.Background())
		waiter <- err
	}()
	eventually(t, 5*time.Second, "the attempt reaching the hung server", func() bool { return proxy.Accepted() == 1 })

	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v with an attempt of 30s under way, want it prompt", took)
	}
	if err := <-waiter; !errors.Is(err, connector.ErrClosed) {
		t.Errorf("waiting caller got %v, want ErrClosed", err)
	}
	if _, err := c.Client(t.Context()); !errors.Is(err, connector.ErrClosed) {
		t.Errorf("Client after Close: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if s := c.Stats(); s.State != connector.StateClosed || s.AttemptFailures != 0 || s.Failures != 0 {
		t.Errorf("stats %+v; want closed, and the cut attempt not counted", s)
	}
}

// TestCloseClosesReadyClient: after Close the client handed out is closed.
func TestCloseClosesReadyClient(t *testing.T) {
	mr := miniredis.RunT(t)
	c := newConnector(t, "redis://"+mr.Addr(), nil)
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Ping(t.Context()).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("PING after Close: %v, want redis.ErrClosed", err)
	}
}

// TestUserClosedClientIsReplaced: a client closed by user code is replaced
// by the next Client call after a command found it closed.
func TestUserClosedClientIsReplaced(t *testing.T) {
	mr := miniredis.RunT(t)
	c := newConnector(t, "redis://"+mr.Addr(), nil)
	ctx := t.Context()
	first, err := c.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = first.Close()
	if err := first.Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("PING on the closed client: %v", err)
	}
	second, err := c.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatal("Client returned the closed client again")
	}
	if err := second.Ping(ctx).Err(); err != nil {
		t.Errorf("PING on the replacement: %v", err)
	}
	if s := c.Stats(); s.Connects != 2 || s.Failures != 0 {
		t.Errorf("stats %+v; want 2 connects, no failure counted", s)
	}
}

// TestPanicDuringConnect: a panic in user code during the connect is
// re-raised in the waiting caller, and does not leave the connector stuck.
func TestPanicDuringConnect(t *testing.T) {
	_, proxy := behindProxy(t)
	var boom atomic.Bool
	boom.Store(true)
	c := newConnector(t, proxy.URL(), func(cfg *connector.Config) {
		cfg.Backoff = func(int) time.Duration {
			if boom.Load() {
				panic("boom in Backoff")
			}
			return 0
		}
	})
	if err := proxy.SetMode(faultproxy.Refuse); err != nil {
		t.Fatal(err)
	}
	v := func() (v any) {
		defer func() { v = recover() }()
		_, _ = c.Client(t.Context())
		return nil
	}()
	if v == nil || !strings.Contains(fmt.Sprint(v), "boom in Backoff") {
		t.Fatalf("waiter recovered %v, want the connect's panic", v)
	}
	if s := c.Stats(); s.State == connector.StateConnecting || !strings.Contains(s.LastError, "boom") {
		t.Fatalf("after the panic: %+v; want not connecting, the panic in LastError", s)
	}

	boom.Store(false)
	if err := proxy.SetMode(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "Client succeeding after a panicked connect", func() bool {
		_, err := c.Client(t.Context())
		return err == nil
	})
}

// TestStatsNeverContainPassword: a failing connect with a password in the
// URL leaves no trace of it in errors or Stats.
func TestStatsNeverContainPassword(t *testing.T) {
	_, proxy := behindProxy(t)
	if err := proxy.SetMode(faultproxy.Refuse); err != nil {
		t.Fatal(err)
	}
	c := newConnector(t, "redis://user:"+strings.NewReplacer("%", "%25", "@", "%40").Replace(secret)+"@"+proxy.Addr(), nil)
	_, err := c.Client(t.Context())
	_ = unavailable(t, err)
	s := c.Stats()
	for _, text := range []string{err.Error(), s.LastError, fmt.Sprintf("%+v", s)} {
		if strings.Contains(text, "s3cr") {
			t.Errorf("password in %q", text)
		}
	}
	if s.LastError == "" {
		t.Error("LastError is empty after a failed connect")
	}
}

// TestOneDialPerOpenPeriod: while the circuit is open, Redis sees at most
// one dial per open period — the connector's probe — although calls to
// Client and commands, pipelines and PubSub on a client held from before
// the outage go on the whole time. Dials are counted by the innermost
// dialer: real connection attempts only.
func TestOneDialPerOpenPeriod(t *testing.T) {
	for _, tc := range []struct {
		fault   faultproxy.Mode
		minIdle int
	}{{faultproxy.Refuse, 0}, {faultproxy.Reset, 0}, {faultproxy.Hang, 0}, {faultproxy.Reset, 4}, {faultproxy.Hang, 4}} {
		fault := tc.fault
		t.Run(fmt.Sprintf("%v/min_idle_conns=%d", fault, tc.minIdle), func(t *testing.T) {
			_, proxy := behindProxy(t)
			var dials atomic.Int64
			const open = 200 * time.Millisecond
			c := newConnector(t, "", func(cfg *connector.Config) {
				cfg.URL = ""
				cfg.Options = &redis.UniversalOptions{
					Addrs: []string{proxy.Addr()},
					Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
						dials.Add(1)
						var d net.Dialer
						return d.DialContext(ctx, network, addr)
					},
					ReadTimeout:  100 * time.Millisecond,
					MinIdleConns: tc.minIdle,
				}
				cfg.AttemptTimeout = 100 * time.Millisecond
				cfg.Breaker.Timeout = open
			})
			rdb, err := c.Client(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			sub := rdb.Subscribe(t.Context(), "news")
			defer func() { _ = sub.Close() }()
			if err := proxy.SetMode(fault); err != nil {
				t.Fatal(err)
			}
			proxy.CutAll()
			eventually(t, 10*time.Second, "the circuit opening", func() bool {
				_ = rdb.Incr(t.Context(), "n").Err()
				return c.Stats().Circuit != breaker.Closed
			})
			base := dials.Load()
			start := time.Now()
			calls := 0
			for time.Since(start) < 2*time.Second {
				_, _ = c.Client(t.Context())
				_ = rdb.Incr(t.Context(), "n").Err()
				_, _ = rdb.Pipelined(t.Context(), func(p redis.Pipeliner) error { p.Incr(t.Context(), "n"); return nil })
				calls++
				time.Sleep(100 * time.Microsecond)
			}
			got := dials.Load() - base
			periods := int64(time.Since(start)/open) + 1
			if got > periods {
				t.Errorf("%d rounds of calls and commands over %v made %d dials; want at most one per %v open period (%d)", calls, time.Since(start).Round(time.Millisecond), got, open, periods)
			}
			if got == 0 {
				t.Errorf("no probe at all in %v of %v open periods", time.Since(start).Round(time.Millisecond), open)
			}
			t.Logf("%v: %d rounds (Client, INCR, pipeline) in 2s, a PubSub subscriber, %d dials (≤ %d open periods)", fault, calls, got, periods)
		})
	}
}

// TestNoDoubleApply proves the retry policy: the connector's clients do not
// retry commands, so an INCR whose reply is lost (the connection cut after
// Redis executed it) is applied once and reported as failed. A go-redis
// client with its default retries applies it twice.
func TestNoDoubleApply(t *testing.T) {
	incrWithLostReply := func(t *testing.T, rdb redis.UniversalClient, srv *redistest.Server, proxy *faultproxy.Proxy, key string) (int64, error) {
		t.Helper()
		direct := redis.NewClient(&redis.Options{Addr: srv.Addr})
		defer func() { _ = direct.Close() }()
		if err := rdb.Ping(t.Context()).Err(); err != nil { // a pooled connection, before the latency
			t.Fatal(err)
		}
		proxy.SetLatency(300 * time.Millisecond) // replies are held back…
		defer proxy.SetLatency(0)
		done := make(chan error, 1)
		go func() { done <- rdb.Incr(t.Context(), key).Err() }()
		eventually(t, 5*time.Second, "the INCR executed by Redis", func() bool {
			n, _ := direct.Get(t.Context(), key).Int64()
			return n == 1
		})
		proxy.CutAll() // …and lost
		err := <-done
		proxy.SetLatency(0)
		n, _ := direct.Get(t.Context(), key).Int64()
		return n, err
	}

	srv, proxy := behindProxy(t)
	c := newConnector(t, proxy.URL(), nil)
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	applied, err := incrWithLostReply(t, rdb, srv, proxy, "connector")
	if err == nil || applied != 1 {
		t.Errorf("connector client: error %v, INCR applied %d times; want an error and exactly one application", err, applied)
	}

	plain := redis.NewClient(&redis.Options{Addr: proxy.Addr()}) // go-redis defaults: MaxRetries 3
	defer func() { _ = plain.Close() }()
	applied, err = incrWithLostReply(t, plain, srv, proxy, "plain")
	if err != nil || applied != 2 {
		t.Errorf("plain go-redis client: error %v, applied %d times; want the retry to apply it twice (what the policy avoids)", err, applied)
	}
}

// TestNobodyWaitsAfterAFailedAttempt: a cold start against a hung server
// costs the callers that arrive before the first attempt fails that
// attempt's time; once it has failed, callers get its failure at once
// while the connect goes on with its attempts in the background.
func TestNobodyWaitsAfterAFailedAttempt(t *testing.T) {
	_, proxy := behindProxy(t)
	if err := proxy.SetMode(faultproxy.Hang); err != nil {
		t.Fatal(err)
	}
	const attempt = 300 * time.Millisecond
	c := newConnector(t, proxy.URL(), func(cfg *connector.Config) {
		cfg.AttemptTimeout = attempt
		cfg.Backoff = func(int) time.Duration { return 50 * time.Millisecond }
	})
	var wg sync.WaitGroup
	var early atomic.Int64
	for range 10 {
		wg.Go(func() {
			start := time.Now()
			if _, err := c.Client(t.Context()); err == nil {
				t.Error("Client succeeded against a hung server")
			}
			early.Store(max(early.Load(), int64(time.Since(start))))
		})
	}
	wg.Wait()
	if d := time.Duration(early.Load()); d < attempt || d > attempt+time.Second {
		t.Errorf("the first callers waited up to %v; want about one attempt (%v)", d, attempt)
	}
	if c.State() != connector.StateConnecting {
		t.Fatalf("state %v; want the connect still under way with its next attempts", c.State())
	}
	var slowest time.Duration
	for c.State() == connector.StateConnecting {
		start := time.Now()
		if _, err := c.Client(t.Context()); err == nil {
			t.Fatal("Client succeeded against a hung server")
		}
		slowest = max(slowest, time.Since(start))
		time.Sleep(time.Millisecond)
	}
	if slowest > 100*time.Millisecond {
		t.Errorf("a call during the connect's later attempts took %v; want it at once", slowest)
	}
	t.Logf("cold start against a hung server: first callers %v, later calls at most %v", time.Duration(early.Load()).Round(time.Millisecond), slowest)
}

// logCapture is a go-redis logger (redis.SetLogger) that keeps the lines.
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCapture) Printf(_ context.Context, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
}

func (l *logCapture) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := l.lines
	l.lines = nil
	return lines
}

// stderrLogger is go-redis' default logger, restored after a test that
// replaced it.
type stderrLogger struct{ l *log.Logger }

func (s stderrLogger) Printf(_ context.Context, format string, v ...any) {
	_ = s.l.Output(2, fmt.Sprintf(format, v...))
}

// TestGoRedisLogsNothing: go-redis prints every failed dial through its
// process-wide logger (stderr by default); the connector's clients make it
// print nothing through an outage — connect attempts, probes, recovery —
// and the connector reports the failures itself (Config.Logger).
func TestGoRedisLogsNothing(t *testing.T) {
	capture := &logCapture{}
	redis.SetLogger(capture)
	t.Cleanup(func() { redis.SetLogger(stderrLogger{log.New(os.Stderr, "redis: ", log.LstdFlags|log.Lshortfile)}) })

	_, proxy := behindProxy(t)
	if err := proxy.SetMode(faultproxy.Refuse); err != nil {
		t.Fatal(err)
	}
	// The control: a plain go-redis client logs its failed dial.
	plain := redis.NewClient(&redis.Options{Addr: proxy.Addr(), MaxRetries: -1, DialerRetries: 1})
	defer func() { _ = plain.Close() }()
	if err := plain.Ping(t.Context()).Err(); err == nil {
		t.Fatal("PING with nothing listening succeeded")
	}
	if lines := capture.take(); len(lines) == 0 {
		t.Fatal("a plain go-redis client's failed dial logged nothing: the capture does not work")
	}

	var logged bytes.Buffer
	var mu sync.Mutex
	c := newConnector(t, proxy.URL(), func(cfg *connector.Config) {
		cfg.Breaker.Timeout = 50 * time.Millisecond
		cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))
	})
	if _, err := c.Client(t.Context()); err == nil {
		t.Fatal("Client with nothing listening succeeded")
	}
	eventually(t, 10*time.Second, "the circuit to open and probe", func() bool {
		_, _ = c.Client(t.Context())
		return c.Stats().Attempts >= 7
	})
	if err := proxy.SetMode(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "recovery", func() bool { _, ok := c.Ready(); return ok })

	// Redis goes away under a ready client: the failed command asks for a
	// check, whose dial is refused too, and the circuit opens.
	rdb, _ := c.Ready()
	if err := proxy.SetMode(faultproxy.Refuse); err != nil {
		t.Fatal(err)
	}
	proxy.CutAll()
	_ = rdb.Ping(t.Context()).Err()
	eventually(t, 10*time.Second, "the check to open the circuit", func() bool { return c.Stats().ChecksFailed >= 1 })
	if lines := capture.take(); len(lines) > 0 {
		t.Errorf("go-redis logged %d line(s) for the connector's clients, e.g. %q", len(lines), lines[0])
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), "connection refused") {
		t.Errorf("Config.Logger got no failure with its cause:\n%s", logged.String())
	}
}
