package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/telemetry"
)

// Connector hands out one ready Redis client, connecting on demand. It is
// safe for concurrent use; see the package documentation for its
// guarantees.
type Connector struct {
	cfg  Config
	dep  *deployment // makes the clients
	addr string      // the deployment's first address, for logs
	brk  *breaker.Breaker
	log  *slog.Logger
	tel  *telemetry.Connector

	// ready is the published client: non-nil only while it is usable and
	// the circuit is closed. Client's fast path is one load of it.
	ready atomic.Pointer[handle]

	// ctx ends when Close is called; the shared connect runs under it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the connect goroutine and client retirements

	mu sync.Mutex
	// Guarded by mu.
	closed   bool
	current  *handle               // the published client, as ready
	inflight *call                 // the shared connect, nil when none
	trying   redis.UniversalClient // the client of the attempt under way

	isClosed atomic.Bool // closed, readable without mu

	connects        atomic.Uint64
	attempts        atomic.Uint64
	attemptFailures atomic.Uint64
	lastLatency     atomic.Int64
	lastErr         atomic.Pointer[string]
	retiredTimeouts atomic.Int64 // pool timeouts of retired clients
}

// handle is a client together with the hook that guards it.
type handle struct {
	client redis.UniversalClient
	hook   *breaker.Hook
}

// call is one shared connect. Its result fields are written before done is
// closed and only read after.
type call struct {
	done    chan struct{}
	waiters atomic.Int64
	ctx     context.Context // carries the redis.connect span; ends on Close
	span    trace.Span

	client redis.UniversalClient
	err    error
	panic  *panicError
}

// New validates cfg and returns a Connector. It does no network I/O: the
// first [Connector.Client] call connects. The error for a bad Config names
// the problem and never contains the URL's password.
func New(cfg Config) (*Connector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	dep, err := newDeployment(cfg)
	if err != nil {
		return nil, err
	}
	c := &Connector{cfg: cfg, dep: dep, log: cfg.Logger}
	c.addr, _, _ = dep.first()
	bs := cfg.Breaker
	userChange := bs.OnStateChange
	bs.OnStateChange = func(name string, from, to breaker.State) {
		c.onTransition(from, to)
		if userChange != nil {
			userChange(name, from, to)
		}
	}
	if c.brk, err = breaker.New(bs); err != nil {
		return nil, err
	}
	size, idleMax, idleMin := dep.pool()
	c.tel = telemetry.NewConnector(cfg.TracerProvider, cfg.MeterProvider, dep.server(), c.brk.State, telemetry.Pool{
		Stats:           c.poolStats,
		Max:             size,
		IdleMax:         idleMax,
		IdleMin:         idleMin,
		RetiredTimeouts: c.retiredTimeouts.Load,
	})
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// poolStats returns the pool statistics of the published client, or nil.
func (c *Connector) poolStats() *redis.PoolStats {
	if h := c.ready.Load(); h != nil {
		return h.client.PoolStats()
	}
	return nil
}

// Client returns the ready client, connecting first if there is none.
//
// On a ready connector with a closed circuit it returns the same client
// every time, with one atomic load: no lock, no allocation. Otherwise all
// concurrent callers share one connect, which runs detached from them: a
// caller whose ctx ends returns ctx's error at once and the connect goes on
// for the others. While the circuit is open Client fails at once with an
// [*UnavailableError] (see [ErrUnavailable]); after [Connector.Close] it
// returns [ErrClosed].
//
// Use the client for the work at hand and ask again next time: after an
// outage the connector replaces it. A client closed by its user is replaced
// once a command on it has failed with [redis.ErrClosed].
func (c *Connector) Client(ctx context.Context) (redis.UniversalClient, error) {
	if h := c.ready.Load(); h != nil {
		return h.client, nil
	}
	return c.wait(ctx)
}

// Ready returns the ready client and true, or nil and false when there is
// none: it never connects and never waits. It costs what Client's fast path
// costs; use it where a caller must not wait, and Client otherwise.
func (c *Connector) Ready() (redis.UniversalClient, bool) {
	if h := c.ready.Load(); h != nil {
		return h.client, true
	}
	return nil, false
}

// wait is Client's slow path: join or start the shared connect.
func (c *Connector) wait(ctx context.Context) (redis.UniversalClient, error) {
	if c.isClosed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.brk.Refuse(); err != nil {
		return nil, err
	}
	cl, h, err := c.join(ctx)
	if cl == nil {
		if h != nil {
			return h.client, nil
		}
		return nil, err
	}
	start := time.Now()
	c.tel.Waiting(ctx, 1)
	defer func() {
		c.tel.Waiting(ctx, -1)
		cl.waiters.Add(-1)
	}()
	select {
	case <-cl.done:
		c.tel.Waited(ctx, cl.span.SpanContext(), time.Since(start), outcome(cl.err))
		if cl.panic != nil {
			panic(cl.panic)
		}
		return cl.client, cl.err
	case <-ctx.Done():
		c.tel.Waited(ctx, cl.span.SpanContext(), time.Since(start), "left")
		return nil, ctx.Err()
	}
}

// join returns the shared connect, starting it if none is under way, with
// its span a child of the span in ctx; or the ready client if one was
// published meanwhile; or ErrClosed.
func (c *Connector) join(ctx context.Context) (*call, *handle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, nil, ErrClosed
	case c.current != nil:
		return nil, c.current, nil
	}
	cl := c.inflight
	if cl == nil {
		cl = &call{done: make(chan struct{})}
		cl.ctx, cl.span = c.tel.StartConnect(c.ctx, ctx)
		c.inflight = cl
		c.wg.Add(1)
		go c.run(cl)
	}
	cl.waiters.Add(1)
	return cl, nil, nil
}

// outcome names how a connect ended, for spans, metrics and logs.
func outcome(err error) string {
	var ue *UnavailableError
	var pe *panicError
	switch {
	case err == nil:
		return "success"
	case errors.Is(err, ErrClosed):
		return "closed"
	case errors.As(err, &pe):
		return "panic"
	case errors.As(err, &ue) && ue.CircuitOpen:
		return "refused"
	}
	return "failure"
}

// run performs the shared connect cl and hands its result to the waiters.
// Whatever happens, even a panic, the connect is no longer in flight
// afterwards, so a later Client call can start another; its span ends and
// its outcome is logged.
func (c *Connector) run(cl *call) {
	defer c.wg.Done()
	start := time.Now()
	attempts := 0
	defer func() {
		if v := recover(); v != nil {
			cl.panic = &panicError{value: v, stack: debug.Stack()}
			cl.client, cl.err = nil, cl.panic
			c.setLastErr(cl.panic)
		}
		c.finish(cl, start, attempts)
		c.mu.Lock()
		c.inflight = nil
		c.mu.Unlock()
		close(cl.done)
	}()
	cl.client, attempts, cl.err = c.connect(cl.ctx)
}

// finish records the end of connect cl: its span, metric and log line.
func (c *Connector) finish(cl *call, start time.Time, attempts int) {
	took := time.Since(start)
	out := outcome(cl.err)
	state := c.brk.State()
	c.tel.EndConnect(cl.ctx, cl.span, start, attempts, out, state, cl.err)
	attrs := []any{"server.address", c.addr, "outcome", out, "attempts", attempts, "duration", took, "circuit", state.String()}
	if cl.err == nil {
		c.lastLatency.Store(int64(took))
		c.log.Info("redismw: connected", attrs...)
		return
	}
	attrs = append(attrs, "error.type", telemetry.ErrorType(cl.err), "error", cl.err.Error())
	if cl.panic != nil {
		attrs = append(attrs, "waiters", cl.waiters.Load())
		c.log.Error("redismw: panic during connect", attrs...)
		return
	}
	c.log.Warn("redismw: connect failed", attrs...)
}

// connect makes up to MaxAttempts attempts, with backoff between them, and
// publishes the first client that answers. It returns how many attempts it
// made. ctx carries the connect's span and ends on Close.
func (c *Connector) connect(ctx context.Context) (redis.UniversalClient, int, error) {
	c.connects.Add(1)
	var last error
	failed := 0
	for attempt := 0; attempt < c.cfg.MaxAttempts; attempt++ {
		before := c.brk.State()
		h, err := c.attempt(ctx)
		if after := c.brk.State(); after != before {
			telemetry.TransitionEvent(ctx, before, after)
		}
		switch {
		case err == nil:
			c.tel.Attempt(ctx, "success")
			if err = c.publish(h); err != nil {
				return nil, attempt + 1, err
			}
			return h.client, attempt + 1, nil
		case c.ctx.Err() != nil:
			c.tel.Attempt(ctx, "closed")
			return nil, attempt + 1, ErrClosed
		}
		if errors.Is(err, ErrUnavailable) {
			// The circuit is open: no more attempts until its probe.
			if last == nil {
				return nil, attempt, err // refused before any I/O
			}
			return nil, attempt, c.failure(failed, last, false)
		}
		c.tel.Attempt(ctx, "failure")
		failed++
		last = redactErr(err, c.dep.secrets...)
		c.setLastErr(last)
		if permanent(err) {
			// Retrying cannot fix it, and the circuit has opened: stop.
			c.tel.AttemptFailed(ctx, attempt+1, last, 0)
			return nil, attempt + 1, c.failure(failed, last, true)
		}
		var pause time.Duration
		if attempt+1 < c.cfg.MaxAttempts {
			pause = c.cfg.Backoff(attempt)
		}
		c.tel.AttemptFailed(ctx, attempt+1, last, pause)
		if !c.pause(pause) {
			return nil, attempt + 1, ErrClosed
		}
	}
	return nil, failed, c.failure(failed, last, false)
}

// failure is the error of a connect whose attempts failed: it did network
// I/O, so it is not a refusal of the circuit (CircuitOpen is false), but it
// says when the circuit, if these failures opened it, will probe again.
func (c *Connector) failure(attempts int, last error, permanent bool) error {
	return &UnavailableError{
		RetryAfter: c.brk.RetryAfter(),
		Err:        &connectError{attempts: attempts, err: last, permanent: permanent},
	}
}

// attempt is one connect attempt, admitted by the circuit and bounded by
// AttemptTimeout: a new client, its handshake and a PING. Its outcome is
// reported to the circuit even if it panics; a failed attempt's client is
// closed.
func (c *Connector) attempt(spanCtx context.Context) (_ *handle, err error) {
	t, err := c.brk.Allow()
	if err != nil {
		return nil, err
	}
	c.attempts.Add(1)
	failed := true
	defer func() {
		switch {
		case !failed:
			t.Report(breaker.Success)
		case c.ctx.Err() != nil:
			t.Report(breaker.Ignored) // Close cut it short: that says nothing about Redis
		case err != nil && permanent(err):
			c.attemptFailures.Add(1)
			t.Report(breaker.Fatal)
		default:
			c.attemptFailures.Add(1)
			t.Report(breaker.Failure)
		}
	}()

	fresh, err := c.newClient()
	if err != nil {
		return nil, err
	}
	defer func() {
		c.mu.Lock()
		c.trying = nil
		c.mu.Unlock()
		if failed {
			_ = fresh.client.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(spanCtx, c.cfg.AttemptTimeout)
	defer cancel()
	if err := ping(ctx, fresh.client); err != nil {
		return nil, err
	}
	failed = false
	return fresh, nil
}

// newClient makes a client for one attempt and registers it so that Close
// can cut the attempt short. Its hook lets the attempt's own commands
// through: the attempt was admitted once and reports its own outcome.
func (c *Connector) newClient() (*handle, error) {
	client := c.dep.newClient()
	if c.cfg.OnNewClient != nil {
		// First, so that hooks it adds wrap the circuit's: a command the
		// circuit refuses still shows in their spans.
		if err := c.cfg.OnNewClient(client); err != nil {
			_ = client.Close()
			return nil, fmt.Errorf("redismw: OnNewClient: %w", err)
		}
	}
	h := &handle{client: client}
	h.hook = c.brk.NewHook(func() { c.invalidate(h) }, telemetry.TransitionEvent)
	h.hook.SetBypass(true)
	install(client, h.hook)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = client.Close()
		return nil, ErrClosed
	}
	c.trying = client
	return h, nil
}

// publish makes h the ready client, unless the connector was closed or the
// circuit opened again meanwhile.
func (c *Connector) publish(h *handle) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	switch {
	case c.closed:
		err = ErrClosed
	case c.brk.State() != breaker.Closed:
		err = &UnavailableError{RetryAfter: c.brk.RetryAfter(), Err: errReopened}
	default:
		h.hook.SetBypass(false)
		c.current = h
		c.ready.Store(h)
		return nil
	}
	_ = h.client.Close()
	return err
}

// onTransition follows the circuit. When it opens, the published client is
// retired: commands on it fail fast through its hook, and closing it stops
// go-redis' own background redial, so that an open period costs Redis at
// most one dial (the probe). It runs under gobreaker's lock; the client is
// closed on another goroutine.
func (c *Connector) onTransition(from, to breaker.State) {
	c.tel.Transition(context.Background(), from, to)
	c.log.Info("redismw: circuit "+to.String(), "server.address", c.addr, "from", from.String(), "to", to.String(),
		"retry_after", c.brk.RetryAfter())
	if to != breaker.Open {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.current
	if h == nil || c.closed {
		return
	}
	c.current = nil
	c.ready.Store(nil)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.retire(h)
	}()
}

// retire closes a client that is no longer published, keeping its pool
// timeouts for the metric that counts them.
func (c *Connector) retire(h *handle) {
	if st := h.client.PoolStats(); st != nil {
		c.retiredTimeouts.Add(int64(st.Timeouts))
	}
	_ = h.client.Close()
}

// invalidate forgets h if it is the published client: its user closed it.
func (c *Connector) invalidate(h *handle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current == h {
		c.current = nil
		c.ready.Store(nil)
	}
}

// pause sleeps d, and reports false if Close was called meanwhile.
func (c *Connector) pause(d time.Duration) bool {
	if d <= 0 {
		return c.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func (c *Connector) setLastErr(err error) {
	s := redact(err.Error(), c.dep.secrets...)
	c.lastErr.Store(&s)
}

// Close stops the connector: it ends the connect under way (closing the
// client of an attempt blocked on a hung server), closes the ready client,
// and returns once no goroutine of the connector is left. Waiting callers
// and later calls get [ErrClosed]. Close is idempotent; it returns the
// error of closing the ready client, if any.
func (c *Connector) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.isClosed.Store(true)
	c.cancel()
	trying, cur := c.trying, c.current
	c.current = nil
	c.ready.Store(nil)
	c.mu.Unlock()

	if trying != nil {
		_ = trying.Close() // unblocks a read that honours only deadlines
	}
	c.wg.Wait()
	c.tel.Close()
	if cur != nil {
		return cur.client.Close()
	}
	return nil
}
