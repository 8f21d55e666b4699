package connector_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// busyScript is redistest.BusyScript: a legitimately slow command.
const busyScript = redistest.BusyScript

// settled waits until the connector has run at least n checks, so that
// what they decided is in the circuit's state.
func settled(t *testing.T, c *connector.Connector, n uint64) {
	t.Helper()
	eventually(t, 10*time.Second, "the connector's checks", func() bool { return c.Stats().Checks >= n })
}

// closedAfter fails the test unless the circuit is closed and counted no
// failure.
func closedAfter(t *testing.T, c *connector.Connector, what string) {
	t.Helper()
	if s := c.Stats(); s.Circuit != breaker.Closed || s.Failures != 0 {
		t.Errorf("after %s: circuit %v, %d failures; want closed, 0: a healthy Redis must never open the circuit", what, s.Circuit, s.Failures)
	}
}

// TestHealthyRedisNeverOpens: what callers do — expired deadlines,
// deadlines shorter than a command's legitimate server time, a saturated
// pool, a failing OnNewClient — never opens the circuit on a healthy,
// real Redis with the default threshold.
func TestHealthyRedisNeverOpens(t *testing.T) {
	t.Run("expired caller deadlines", func(t *testing.T) {
		srv := redistest.Start(t)
		c := newConnector(t, srv.URL(), nil)
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		defer cancel()
		for range 20 {
			if err := rdb.Get(expired, "k").Err(); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("GET with an expired deadline: %v", err)
			}
		}
		settled(t, c, 1)
		closedAfter(t, c, "20 commands with expired deadlines")
	})

	t.Run("deadlines shorter than the command", func(t *testing.T) {
		srv := redistest.Start(t)
		c := newConnector(t, srv.URL(), nil)
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			err := rdb.Eval(ctx, busyScript, nil, 200_000).Err()
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
				t.Fatalf("a 200ms script with a 100ms deadline: %v, want a timeout", err)
			}
		}
		for range 5 {
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			err := rdb.BLPop(ctx, 2*time.Second, "empty").Err()
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
				t.Fatalf("BLPOP 2s with a 100ms deadline: %v, want a timeout", err)
			}
		}
		settled(t, c, 1)
		closedAfter(t, c, "10 commands whose callers allowed less than their server time")
		if err := rdb.Set(t.Context(), "k", "v", 0).Err(); err != nil {
			t.Errorf("SET afterwards: %v", err)
		}
	})

	t.Run("saturated pool", func(t *testing.T) {
		srv := redistest.Start(t)
		c := newConnector(t, srv.URL()+"?pool_size=2&pool_timeout=200ms", nil)
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var blpops sync.WaitGroup
		results := make(chan error, 2)
		for range 2 {
			blpops.Go(func() { results <- rdb.BLPop(t.Context(), 3*time.Second, "jobs").Err() })
		}
		eventually(t, 5*time.Second, "both BLPOPs holding a connection", func() bool {
			st := rdb.PoolStats()
			return st.TotalConns == 2 && st.IdleConns == 0
		})
		for range 5 {
			if err := rdb.Get(t.Context(), "k").Err(); !errors.Is(err, redis.ErrPoolTimeout) {
				t.Fatalf("GET on a saturated pool: %v, want redis.ErrPoolTimeout", err)
			}
		}
		settled(t, c, 1)
		closedAfter(t, c, "5 pool timeouts")
		plain := redis.NewClient(&redis.Options{Addr: srv.Addr})
		defer func() { _ = plain.Close() }()
		if err := plain.RPush(t.Context(), "jobs", "a", "b").Err(); err != nil {
			t.Fatal(err)
		}
		blpops.Wait()
		close(results)
		for err := range results {
			if err != nil {
				t.Errorf("a healthy BLPOP ended with %v: the circuit harmed it", err)
			}
		}
	})

	t.Run("slow Redis, under read_timeout", func(t *testing.T) {
		srv := redistest.Start(t)
		proxy := faultproxy.New(t, srv.Addr)
		c := newConnector(t, proxy.URL()+"?read_timeout=1s", func(cfg *connector.Config) { cfg.AttemptTimeout = 5 * time.Second })
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// Every reply 300ms late: a new connection's handshake takes
		// several round trips, each within read_timeout.
		proxy.SetLatency(300 * time.Millisecond)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if err := rdb.Get(ctx, "k").Err(); err == nil {
			t.Fatal("GET with a 50ms deadline against a 300ms Redis succeeded")
		}
		settled(t, c, 1)
		closedAfter(t, c, "a caller's deadline shorter than a slow Redis' answer")
		if err := rdb.Set(t.Context(), "k", "v", 0).Err(); err != nil {
			t.Errorf("SET without a deadline: %v", err)
		}
	})

	t.Run("slow scripts back to back", func(t *testing.T) {
		srv := redistest.Start(t)
		c := newConnector(t, srv.URL()+"?read_timeout=1s", nil)
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		scripts := make(chan error, 1)
		go func() {
			var first error
			for range 6 { // 300ms each: Redis is busy for 1.8s, never past read_timeout
				if err := rdb.Eval(t.Context(), busyScript, nil, 300_000).Err(); err != nil && first == nil {
					first = err
				}
			}
			scripts <- first
		}()
		// Wait until a script runs: Redis then answers nobody.
		plain := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, ContextTimeoutEnabled: true})
		defer func() { _ = plain.Close() }()
		eventually(t, 10*time.Second, "a script running", func() bool {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			defer cancel()
			return plain.Ping(ctx).Err() != nil
		})
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_ = rdb.Get(ctx, "k").Err()
		settled(t, c, 1)
		if err := <-scripts; err != nil {
			t.Errorf("a script under read_timeout failed: %v", err)
		}
		closedAfter(t, c, "slow scripts back to back and a short deadline")
	})

	t.Run("failing OnNewClient", func(t *testing.T) {
		_, proxy := behindProxy(t)
		c := newConnector(t, proxy.URL(), func(cfg *connector.Config) {
			cfg.OnNewClient = func(redis.UniversalClient) error { return errors.New("instrumentation unavailable") }
		})
		for range 10 {
			_, err := c.Client(t.Context())
			if err == nil || !strings.Contains(err.Error(), "OnNewClient: instrumentation unavailable") {
				t.Fatalf("Client with a failing OnNewClient: %v", err)
			}
		}
		closedAfter(t, c, "10 failing OnNewClient calls")
		if n := proxy.Accepted(); n != 0 {
			t.Errorf("Redis saw %d connections, want 0", n)
		}
	})

	for _, fault := range []string{"dial error", "PING error", "dial panic"} {
		t.Run("user hook's "+fault+" during connect", func(t *testing.T) {
			srv := redistest.Start(t)
			h := &faultyHook{fault: fault}
			c := newConnector(t, srv.URL(), func(cfg *connector.Config) {
				cfg.OnNewClient = func(rdb redis.UniversalClient) error { rdb.AddHook(h); return nil }
			})
			for range 5 {
				if _, err := c.Client(t.Context()); err == nil {
					t.Fatalf("connect succeeded despite the hook's %s", fault)
				}
			}
			closedAfter(t, c, "5 connects failed by a user hook's "+fault)
		})
	}
}

// faultyHook is a user's hook that fails: a dial error, a PING error, or a
// panic in the dial.
type faultyHook struct{ fault string }

func (h *faultyHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		switch h.fault {
		case "dial panic":
			panic("instrumentation bug")
		case "dial error":
			return nil, errors.New("dial quota exceeded")
		}
		return next(ctx, network, addr)
	}
}

func (h *faultyHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.fault == "PING error" && cmd.Name() == "ping" {
			err := errors.New("command blocked by policy")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (h *faultyHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// TestHangDetected: a real redis-server stopped with SIGSTOP (connections
// open, nothing answered) opens the circuit within 2 × read_timeout of the
// hang, at one request at a time, with pipelines, under 1000 concurrent
// requests, and when every caller's deadline is shorter than read_timeout;
// no request waits much longer than read_timeout; after SIGCONT the circuit
// closes again on its own.
func TestHangDetected(t *testing.T) {
	// A caller refused as overload waits what the refusal says
	// (RetryAfter), as a client told Retry-After does. A thousand loops
	// asking again within microseconds of a refusal would take this
	// process' CPU from every goroutine, the connector's check among them
	// (under -race beside two busy loops the check's fresh connection was
	// dialed 0.8-1.2 s after it was asked for, and the circuit opened
	// after up to 2.75 s): that would measure the callers, not Redis.
	backOff := func(err error) {
		var u *connector.UnavailableError
		if errors.Is(err, connector.ErrOverloaded) && errors.As(err, &u) {
			time.Sleep(u.RetryAfter)
		}
	}
	const rt = 500 * time.Millisecond
	// Generous: the bound is 2 × read_timeout; CI's two cores also run the
	// race detector and the other tests.
	const slack = 1500 * time.Millisecond
	run := func(t *testing.T, concurrency int, request func(context.Context, redis.UniversalClient) error) {
		srv := redistest.Start(t)
		var moves <-chan breaker.State
		c := newConnector(t, srv.URL()+"?read_timeout=500ms&pool_size=50", func(cfg *connector.Config) { moves = watch(cfg) })
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := request(t.Context(), rdb); err != nil {
			t.Fatalf("before the hang: %v", err)
		}
		srv.Pause()
		hung := time.Now()
		var slowest atomic.Int64
		var open atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() { // when the circuit opens, whatever the requests are doing
			timeout := time.After(4*rt + slack)
			for {
				select {
				case to := <-moves:
					if to == breaker.Open {
						open.Store(int64(time.Since(hung)))
						return
					}
				case <-timeout:
					return
				}
			}
		})
		for range concurrency {
			wg.Go(func() {
				for time.Since(hung) < 4*rt+slack && c.Stats().Circuit == breaker.Closed {
					start := time.Now()
					err := request(t.Context(), rdb)
					took := time.Since(start)
					for cur := slowest.Load(); int64(took) > cur && !slowest.CompareAndSwap(cur, int64(took)); cur = slowest.Load() {
					}
					backOff(err)
				}
			})
		}
		wg.Wait()
		detected := time.Duration(open.Load())
		if detected == 0 || detected > 2*rt+slack {
			t.Errorf("circuit open %v after the hang, want within 2 × read_timeout (%v, +%v slack)", detected, 2*rt, slack)
		}
		if s := time.Duration(slowest.Load()); s > rt+slack {
			t.Errorf("slowest request %v, want at most read_timeout (%v, +%v slack)", s, rt, slack)
		}
		for range 100 {
			if err := request(t.Context(), rdb); !errors.Is(err, connector.ErrUnavailable) {
				t.Fatalf("request on the open circuit: %v", err)
			}
		}
		t.Logf("%d concurrent: circuit open %v after the hang, slowest request %v", concurrency,
			detected.Round(time.Millisecond), time.Duration(slowest.Load()).Round(time.Millisecond))
		srv.Resume()
		await(t, moves, breaker.Closed) // the connector's own probe, no request needed
		if err := request(t.Context(), rdb); err != nil {
			t.Errorf("request once the circuit closed after SIGCONT: %v", err)
		}
	}
	get := func(ctx context.Context, rdb redis.UniversalClient) error {
		err := rdb.Get(ctx, "k").Err()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		return err
	}
	t.Run("one request at a time", func(t *testing.T) { run(t, 1, get) })
	t.Run("pipelines", func(t *testing.T) {
		run(t, 1, func(ctx context.Context, rdb redis.UniversalClient) error {
			_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, "n")
				p.Set(ctx, "k", "v", 0)
				return nil
			})
			return err
		})
	})
	t.Run("transactions", func(t *testing.T) {
		run(t, 1, func(ctx context.Context, rdb redis.UniversalClient) error {
			_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, "n")
				return nil
			})
			return err
		})
	})
	t.Run("1000 concurrent", func(t *testing.T) { run(t, 1000, get) })
	t.Run("callers' deadlines shorter than read_timeout", func(t *testing.T) {
		run(t, 1, func(ctx context.Context, rdb redis.UniversalClient) error {
			ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			return get(ctx, rdb)
		})
	})
}

// TestOpeningKeepsHealthyWork: opening the circuit destroys nothing that
// Redis serves: a command in flight gets its reply, a PubSub subscriber
// resumes after a restart, and an open period costs Redis no dial but the
// probe's.
func TestOpeningKeepsHealthyWork(t *testing.T) {
	t.Run("in-flight reply delivered", func(t *testing.T) {
		// Past 100ms of a script, Redis answers every other command BUSY:
		// a reply that says it cannot serve, counted; 3 in a row open the
		// circuit while the script's own reply is still to come.
		srv := redistest.Start(t, "--busy-reply-threshold", "100")
		c := newConnector(t, srv.URL(), func(cfg *connector.Config) { cfg.Breaker.FailureThreshold = 3 })
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// The script holds the one pooled connection for 400ms, after an
		// INCR.
		done := make(chan error, 1)
		go func() { done <- rdb.Eval(t.Context(), busyScript, []string{"applied"}, 400_000).Err() }()
		eventually(t, 5*time.Second, "the script holding its connection", func() bool { return rdb.PoolStats().IdleConns == 0 })
		eventually(t, 5*time.Second, "the circuit opening on BUSY replies", func() bool {
			_ = rdb.Get(t.Context(), "k").Err()
			return c.Stats().Circuit != breaker.Closed
		})
		if err := <-done; err != nil {
			t.Fatalf("the script in flight when the circuit opened: %v; want its reply", err)
		}
		plain := redis.NewClient(&redis.Options{Addr: srv.Addr})
		defer func() { _ = plain.Close() }()
		if n, err := plain.Get(t.Context(), "applied").Int(); err != nil || n != 1 {
			t.Errorf("the script's INCR applied %d times (%v), want once", n, err)
		}
	})

	t.Run("idle connections dialed while open", func(t *testing.T) {
		// go-redis keeps min_idle_conns connections ready, dialing them in
		// the background, while the circuit is open too: the dials are
		// refused without I/O, and a command that draws such a connection
		// after recovery is sent on another, not failed.
		srv, proxy := behindProxy(t)
		var moves <-chan breaker.State
		c := newConnector(t, proxy.URL()+"?min_idle_conns=10&pool_size=10&read_timeout=500ms", func(cfg *connector.Config) { moves = watch(cfg) })
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		srv.Kill()
		proxy.CutAll()
		eventually(t, 10*time.Second, "the circuit opening", func() bool {
			_ = rdb.Get(t.Context(), "k").Err()
			return c.Stats().Circuit != breaker.Closed
		})
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
			_ = rdb.Get(t.Context(), "k").Err() // refused; the pool refills with refused connections
			time.Sleep(5 * time.Millisecond)
		}
		srv.Restart()
		await(t, moves, breaker.Closed)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() {
				if err := rdb.Get(t.Context(), "k").Err(); !errors.Is(err, redis.Nil) {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("GET right after recovery: %v", err)
		}
		if _, err := rdb.Pipelined(t.Context(), func(p redis.Pipeliner) error { p.Incr(t.Context(), "n"); return nil }); err != nil {
			t.Errorf("pipeline right after recovery: %v", err)
		}
		// Transactions and Conns stick to the connection they draw.
		client := rdb.(*redis.Client)
		var sticky sync.WaitGroup
		for i := range 8 {
			key := "w:" + itoa(i)
			sticky.Go(func() {
				if err := client.Watch(t.Context(), func(tx *redis.Tx) error {
					_, err := tx.TxPipelined(t.Context(), func(p redis.Pipeliner) error { p.Incr(t.Context(), key); return nil })
					return err
				}, key); err != nil {
					t.Errorf("WATCH transaction right after recovery: %v", err)
				}
				conn := client.Conn()
				defer func() { _ = conn.Close() }()
				if err := conn.Incr(t.Context(), "c").Err(); err != nil {
					t.Errorf("INCR on a Conn right after recovery: %v", err)
				}
			})
		}
		sticky.Wait()
		if n, err := client.Get(t.Context(), "c").Int(); err != nil || n != 8 {
			t.Errorf("counter %d (%v) after 8 Conn INCRs, want 8", n, err)
		}
	})

	t.Run("PubSub resumes", func(t *testing.T) {
		srv := redistest.Start(t)
		var moves <-chan breaker.State
		c := newConnector(t, srv.URL(), func(cfg *connector.Config) { moves = watch(cfg) })
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		sub := rdb.Subscribe(t.Context(), "news")
		defer func() { _ = sub.Close() }()
		if _, err := sub.Receive(t.Context()); err != nil {
			t.Fatal(err)
		}
		msgs := sub.Channel()
		srv.Kill()
		for c.Stats().Circuit == breaker.Closed {
			_ = rdb.Get(t.Context(), "k").Err()
		}
		srv.Restart()
		await(t, moves, breaker.Closed)
		plain := redis.NewClient(&redis.Options{Addr: srv.Addr})
		defer func() { _ = plain.Close() }()
		deadline := time.After(15 * time.Second)
		for {
			_ = plain.Publish(t.Context(), "news", "back").Err()
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatal("the subscriber's channel closed")
				}
				if m.Payload != "back" {
					t.Fatalf("message %q", m.Payload)
				}
				return
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				t.Fatal("the subscriber got nothing within 15s of the restart")
			}
		}
	})
}

// TestNothingWedges: only the connector probes, and nothing user code does
// — a stale Conn pinging in a loop, a panicking hook, Close from
// OnStateChange, a panicking Logger, runtime.Goexit — leaves the circuit
// stuck or a caller with a nil client and a nil error.
func TestNothingWedges(t *testing.T) {
	t.Run("stale Conn pinging every millisecond", func(t *testing.T) {
		srv, proxy := behindProxy(t)
		var moves <-chan breaker.State
		c := newConnector(t, proxy.URL(), func(cfg *connector.Config) { moves = watch(cfg) })
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		conn := rdb.(*redis.Client).Conn()
		defer func() { _ = conn.Close() }()
		stop := make(chan struct{})
		var worker sync.WaitGroup
		worker.Go(func() {
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
					_ = conn.Ping(t.Context()).Err()
				}
			}
		})
		defer func() { close(stop); worker.Wait() }()
		srv.Kill()
		await(t, moves, breaker.Open)
		srv.Restart()
		// 15 open periods of 400ms, as the reproduction allowed.
		eventually(t, 6*time.Second, "the connector recovering despite the worker", func() bool {
			_, err := c.Client(t.Context())
			return err == nil
		})
	})

	t.Run("panicking hook during the probe", func(t *testing.T) {
		srv, proxy := behindProxy(t)
		var panicking atomic.Bool
		c := newConnector(t, proxy.URL(), func(cfg *connector.Config) {
			cfg.OnNewClient = func(rdb redis.UniversalClient) error {
				rdb.AddHook(panicHook{&panicking})
				return nil
			}
		})
		if _, err := c.Client(t.Context()); err != nil {
			t.Fatal(err)
		}
		srv.Kill()
		eventually(t, 10*time.Second, "the circuit opening", func() bool {
			if rdb, ok := c.Ready(); ok {
				_ = rdb.Get(t.Context(), "k").Err()
			}
			return c.Stats().Circuit != breaker.Closed
		})
		panicking.Store(true)
		srv.Restart()
		eventually(t, 10*time.Second, "a probe that panicked", func() bool { return c.Stats().Attempts >= 3 })
		panicking.Store(false)
		eventually(t, 10*time.Second, "recovery after the panicking probes", func() bool {
			_, err := c.Client(t.Context())
			return err == nil
		})
	})

	t.Run("Close from OnStateChange", func(t *testing.T) {
		_, proxy := behindProxy(t)
		var c *connector.Connector
		closed := make(chan error, 1)
		c = newConnector(t, proxy.URL(), func(cfg *connector.Config) {
			cfg.Breaker.FailureThreshold = 1
			cfg.Breaker.OnStateChange = func(_ string, _, to breaker.State) {
				if to == breaker.Open {
					closed <- c.Close()
				}
			}
		})
		if err := proxy.SetMode(faultproxy.Refuse); err != nil {
			t.Fatal(err)
		}
		_, _ = c.Client(t.Context())
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("Close from OnStateChange: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close from OnStateChange did not return: deadlock")
		}
		if _, err := c.Client(t.Context()); !errors.Is(err, connector.ErrClosed) {
			t.Errorf("Client after Close: %v", err)
		}
	})

	t.Run("Close waits for a running OnStateChange", func(t *testing.T) {
		_, proxy := behindProxy(t)
		started, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		var finished atomic.Bool
		c := newConnector(t, proxy.URL(), func(cfg *connector.Config) {
			cfg.Breaker.FailureThreshold = 1
			cfg.Breaker.OnStateChange = func(string, breaker.State, breaker.State) {
				once.Do(func() {
					close(started)
					<-release
					finished.Store(true)
				})
			}
		})
		if err := proxy.SetMode(faultproxy.Refuse); err != nil {
			t.Fatal(err)
		}
		_, _ = c.Client(t.Context())
		<-started
		closed := make(chan error, 1)
		go func() { closed <- c.Close() }()
		select {
		case err := <-closed:
			t.Fatalf("Close returned (%v) while OnStateChange was still running", err)
		case <-time.After(200 * time.Millisecond): // Close is waiting, as it must
		}
		close(release)
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if !finished.Load() {
			t.Error("Close returned before OnStateChange finished")
		}
	})

	t.Run("panicking Logger", func(t *testing.T) {
		_, proxy := behindProxy(t)
		c := newConnector(t, proxy.URL(), func(cfg *connector.Config) {
			cfg.Logger = slogPanicking()
			cfg.Breaker.FailureThreshold = 1
		})
		if err := proxy.SetMode(faultproxy.Refuse); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Client(t.Context()); err == nil {
			t.Fatal("connect succeeded with nothing listening")
		}
		if err := proxy.SetMode(faultproxy.Pass); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "recovery with a panicking Logger", func() bool {
			_, err := c.Client(t.Context())
			return err == nil
		})
	})

	t.Run("no deadlines in the options", func(t *testing.T) {
		srv := redistest.Start(t)
		c := newConnector(t, "", func(cfg *connector.Config) {
			cfg.URL = ""
			cfg.Options = &redis.UniversalOptions{Addrs: []string{srv.Addr}, ReadTimeout: -2, WriteTimeout: -2}
			cfg.AttemptTimeout = 300 * time.Millisecond
			cfg.MaxAttempts = 2
		})
		srv.Pause()
		defer srv.Resume()
		start := time.Now()
		if _, err := c.Client(t.Context()); err == nil {
			t.Fatal("Client succeeded against a stopped server")
		}
		settle(t, c)
		if took := time.Since(start); took > 2*300*time.Millisecond+2*time.Second {
			t.Errorf("a connect of 2 attempts of 300ms took %v with ReadTimeout -2: AttemptTimeout must bound it", took)
		}
	})

	t.Run("runtime.Goexit in OnNewClient", func(t *testing.T) {
		_, proxy := behindProxy(t)
		c := newConnector(t, proxy.URL(), func(cfg *connector.Config) {
			cfg.OnNewClient = func(redis.UniversalClient) error { goexit(); return nil }
		})
		for range 3 {
			rdb, err := c.Client(t.Context())
			if rdb != nil || err == nil || !strings.Contains(err.Error(), "Goexit") {
				t.Fatalf("Client when OnNewClient exits its goroutine: %v, %v; want nil and an error naming Goexit", rdb, err)
			}
		}
		closedAfter(t, c, "OnNewClient calling runtime.Goexit")
	})
}

// panicHook panics on PING while its flag is set.
type panicHook struct{ on *atomic.Bool }

func (panicHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h panicHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.on.Load() && cmd.Name() == "ping" {
			panic("instrumentation bug")
		}
		return next(ctx, cmd)
	}
}
func (panicHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestPipelineJudgedByEveryCommand: against a replica whose master is
// gone and which serves no stale data, pipelines whose first command
// succeeds (ROLE) and whose GET answers MASTERDOWN count as failures, and
// so does a transaction aborted (EXECABORT) by a MASTERDOWN.
func TestPipelineJudgedByEveryCommand(t *testing.T) {
	replica := redistest.Start(t, "--replica-serve-stale-data", "no")
	admin := redis.NewClient(&redis.Options{Addr: replica.Addr})
	t.Cleanup(func() { _ = admin.Close() })
	for _, tt := range []struct {
		name string
		run  func(ctx context.Context, rdb redis.UniversalClient) error
	}{
		{"pipeline", func(ctx context.Context, rdb redis.UniversalClient) error {
			_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.Do(ctx, "ROLE")
				p.Get(ctx, "k")
				return nil
			})
			return err
		}},
		{"transaction", func(ctx context.Context, rdb redis.UniversalClient) error {
			_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Do(ctx, "ROLE")
				p.Get(ctx, "k")
				return nil
			})
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newConnector(t, replica.URL(), func(cfg *connector.Config) {
				cfg.Breaker.Timeout = time.Minute
				cfg.Breaker.BaseTimeout = time.Minute
			})
			rdb, err := c.Client(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := admin.Do(t.Context(), "REPLICAOF", "127.0.0.1", itoa(redistest.FreePort(t))).Err(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = admin.Do(context.Background(), "REPLICAOF", "NO", "ONE").Err() })
			for i := range 20 {
				err := tt.run(t.Context(), rdb)
				if errors.Is(err, connector.ErrUnavailable) {
					break
				}
				if err == nil {
					t.Fatalf("%s %d on a replica succeeded", tt.name, i)
				}
			}
			if s := c.Stats(); s.Circuit != breaker.Open || s.Failures < 5 {
				t.Errorf("after 20 %ss hitting MASTERDOWN: circuit %v, %d failures; want open after 5", tt.name, s.Circuit, s.Failures)
			}
		})
	}
}
