package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/circuit"
	"github.com/ankitoon/redismw/internal/instrument"
	"github.com/ankitoon/redismw/telemetry"
)

// Connector hands out one ready Redis client, connecting on demand. It is
// safe for concurrent use; see the package documentation for its
// guarantees.
type Connector struct {
	cfg      Config
	dep      *deployment // makes the clients
	name     string      // unique in the process: db.client.connection.pool.name
	poolSize int         // the pool's size (a cluster's, per node)
	brk      *circuit.Breaker
	log      *slog.Logger
	tel      *instrument.Connector

	// logs writes the log lines, and callbacks runs the user's
	// OnStateChange, each in order on a goroutine of its own that holds no
	// lock: a slow callback does not hold the log lines back.
	logs, callbacks notifier

	// ready is the client Client returns at once: the connector's client
	// while the circuit is closed, nil otherwise. Only refreshLocked
	// writes it.
	ready atomic.Pointer[handle]

	// ctx ends when Close is called, under mu: it is the one record that
	// the connector is closed (isClosed). Connects and checks run under it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // connect and check goroutines

	// mu guards the fields below. Lock order: gobreaker's lock (held
	// while the circuit changes state, see onTransition), then mu: never
	// call into the breaker's Allow, Report or Trip with mu held.
	mu sync.Mutex
	// client is the connector's client, kept across outages (its hook
	// refuses commands while the circuit is open); nil before the first
	// connect, after Close, and once its user closed it. Only
	// setClientLocked writes it.
	client *handle
	// inflight is the shared connect, nil when none; written under mu,
	// read without it by callers joining a connect under way.
	inflight atomic.Pointer[call]
	trying   redis.UniversalClient // the client of the attempt under way
	checking redis.UniversalClient // the client of the check under way
	probe    *time.Timer           // the next probe, armed while the circuit is open; nil when none is

	// checks is 0 when no check runs, 1 while one runs, 2 while one runs
	// and another was asked for.
	checks    atomic.Int32
	lastCheck time.Time // when the last check started; only the check goroutine uses it

	openedAt        atomic.Int64 // when the circuit last left Closed (unix ns)
	checksRun       atomic.Uint64
	checksFailed    atomic.Uint64
	connects        atomic.Uint64
	attempts        atomic.Uint64
	attemptFailures atomic.Uint64
	lastLatency     atomic.Int64
	// lastErr is Stats.LastError: the text of the last failed attempt or
	// check, whatever failed (Redis, user code, a panic). lastFailure is
	// the last failure of Redis itself, what a caller gets while an outage
	// is under way (see wait): an error of user code does not replace it.
	// Both are redacted before they are stored.
	lastErr     atomic.Pointer[string]
	lastFailure atomic.Pointer[error]
}

// handle is a client together with the hook that guards it.
type handle struct {
	client redis.UniversalClient
	hook   *circuit.Hook
}

// call is one shared connect. Its result fields are written before done is
// closed and only read after.
type call struct {
	done    chan struct{}
	waiters atomic.Int64

	// released is closed when its callers stop waiting: when done is,
	// or before, when an attempt has failed (after failure is set): from
	// then on nobody waits on the connect, which goes on with its
	// attempts in the background. Waiters select on it alone (and their
	// context), so that a herd wakes from one channel.
	released chan struct{}
	failure  error
	freed    bool // released is closed; only the connect's goroutine uses it

	ctx  context.Context // carries the redis.connect span; ends on Close
	span trace.Span

	client redis.UniversalClient
	err    error
	panic  *panicError

	warm warmup // the first connect's warm-up (see Connector.warm)
}

// warmup dials, beside the attempt of a first connect, the pooled
// connections its waiting callers will need, so that they find them ready
// when the attempt succeeds instead of dialing only then.
type warmup struct {
	started atomic.Int32 // warming PINGs started
	mu      sync.Mutex
	client  redis.UniversalClient // the attempt's client while it may warm up, nil otherwise; mu guards it
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
	c := &Connector{cfg: cfg, dep: dep}
	bs := cfg.Breaker
	base := bs.Name
	if base == "" {
		base = dep.poolName()
	}
	c.name = claimName(base)
	bs.Name = c.name
	server := dep.server()
	server.PoolName = c.name
	c.log = cfg.Logger.With(logAttrs(server)...)
	userChange := bs.OnStateChange
	bs.OnStateChange = func(name string, from, to breaker.State) {
		c.onTransition(from, to)
		if userChange != nil {
			c.callbacks.post(func() { userChange(name, from, to) })
		}
	}
	if c.brk, err = circuit.New(bs); err != nil {
		return nil, err
	}
	size, idleMax, idleMin := dep.pool()
	c.poolSize = size
	if dep.kind == cluster {
		size = 0 // per node, while a cluster's statistics sum every node: not observed
	}
	c.tel = instrument.NewConnector(cfg.TracerProvider, cfg.MeterProvider, server, c.brk.State, instrument.Pool{
		Stats:   c.poolStats,
		Max:     size,
		IdleMax: idleMax,
		IdleMin: idleMin,
	})
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// poolStats returns the pool statistics of the connector's client, or nil.
func (c *Connector) poolStats() *redis.PoolStats {
	c.mu.Lock()
	h := c.client
	c.mu.Unlock()
	if h != nil {
		return h.client.PoolStats()
	}
	return nil
}

// Client returns the ready client, connecting first if there is none.
//
// On a ready connector with a closed circuit it returns the same client
// every time, with one atomic load: no lock, no allocation. Before the
// first connect, all concurrent callers share one connect, which runs
// detached from them: a caller whose ctx ends returns ctx's error at once
// and the connect goes on for the others. Callers wait for its first
// attempt only: once an attempt has failed, the callers waiting get its
// failure and later ones get it at once, while the connect goes on with
// its attempts in the background. Likewise nobody waits on a new connect
// while Redis has failed since its last success. While the circuit is open, or
// its probe is in flight, Client fails at once with an [*UnavailableError]
// (see [ErrUnavailable]): the connector probes Redis on its own when the
// open period ends. After [Connector.Close] it returns [ErrClosed].
//
// The client lives across outages: while the circuit is open its commands
// fail at once with an error matching ErrUnavailable, and once the circuit
// closes they work again, so a long-lived holder (a worker, a PubSub
// subscriber) may keep it. A client closed by its user is replaced once a
// command on it has failed with [redis.ErrClosed].
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
	if c.isClosed() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.brk.Refuse(); err != nil {
		return nil, err
	}
	failing := c.brk.Failing()
	cl, h, err := c.join(ctx)
	if cl == nil {
		if h != nil {
			return h.client, nil
		}
		return nil, err
	}
	if last := c.lastFailure.Load(); failing && last != nil {
		// Redis failed the last attempt or command, and nothing has
		// succeeded since: an outage is under way. The connect goes on
		// in the background; nobody waits on it.
		cl.waiters.Add(-1)
		return nil, &UnavailableError{Err: *last}
	}
	c.warm(cl) // only for a caller that waits
	start := time.Now()
	c.tel.Waiting(ctx, 1)
	defer func() {
		c.tel.Waiting(ctx, -1)
		cl.waiters.Add(-1)
	}()
	select {
	case <-cl.released:
	case <-ctx.Done():
		c.tel.Waited(ctx, cl.span.SpanContext(), time.Since(start), telemetry.OutcomeLeft)
		return nil, ctx.Err()
	}
	select {
	case <-cl.done: // ended, maybe after a failed attempt: its result is the better answer
		c.tel.Waited(ctx, cl.span.SpanContext(), time.Since(start), instrument.Outcome(cl.err))
		if cl.panic != nil {
			panic(cl.panic)
		}
		return cl.client, cl.err
	default:
		c.tel.Waited(ctx, cl.span.SpanContext(), time.Since(start), instrument.Outcome(cl.failure))
		return nil, cl.failure
	}
}

// release ends the wait of connect cl's callers, once.
func (cl *call) release() {
	if !cl.freed {
		cl.freed = true
		close(cl.released)
	}
}

// join returns the shared connect, starting it if none is under way, with
// its span a child of the span in ctx; or the ready client if one was
// published meanwhile; or ErrClosed. Joining a connect under way takes no
// lock: a herd of callers does not queue on mu ahead of the connect's own
// goroutine.
func (c *Connector) join(ctx context.Context) (*call, *handle, error) {
	cl := c.inflight.Load()
	if cl == nil {
		c.mu.Lock()
		if c.isClosed() {
			c.mu.Unlock()
			return nil, nil, ErrClosed
		}
		if h := c.ready.Load(); h != nil {
			c.mu.Unlock()
			return nil, h, nil
		}
		cl = c.startLocked(ctx)
		c.mu.Unlock()
	}
	cl.waiters.Add(1)
	return cl, nil, nil
}

// startLocked returns the shared connect, starting it if none is under
// way. c.mu must be held and the connector open.
func (c *Connector) startLocked(ctx context.Context) *call {
	if cl := c.inflight.Load(); cl != nil {
		return cl
	}
	cl := &call{done: make(chan struct{}), released: make(chan struct{})}
	cl.ctx, cl.span = c.tel.StartConnect(c.ctx, ctx)
	c.inflight.Store(cl)
	c.wg.Add(1)
	go c.run(cl)
	return cl
}

// run performs the shared connect cl and hands its result to the waiters.
// Whatever happens — an error, a panic, runtime.Goexit in user code — the
// connect is no longer in flight afterwards, so a later call can start
// another, and no waiter gets a nil client with a nil error.
func (c *Connector) run(cl *call) {
	defer c.wg.Done()
	start := time.Now()
	attempts := 0
	returned := false
	defer func() {
		if !returned {
			if v := recover(); v != nil {
				cl.panic = newPanicError(v, debug.Stack(), c.dep.secrets)
				cl.client, cl.err = nil, cl.panic
			} else {
				cl.client, cl.err = nil, errGoexit
			}
			c.setLastErr(cl.err)
		}
		c.finish(cl, start, attempts)
		c.mu.Lock()
		c.inflight.Store(nil)
		c.mu.Unlock()
		close(cl.done)
		cl.release()
		c.scheduleProbe()
	}()
	cl.client, attempts, cl.err = c.connect(cl)
	returned = true
}

// finish records the end of connect cl: its span, metric and log line.
func (c *Connector) finish(cl *call, start time.Time, attempts int) {
	took := time.Since(start)
	out := instrument.Outcome(cl.err)
	state := c.brk.State()
	// A panic's value or user code's error may quote the URL: what is
	// logged or put on the span never contains the password. They
	// describe the connect itself: not the caller's UnavailableError
	// around it, whose probe time was that of the moment it failed.
	shown := cl.err
	var ue *UnavailableError
	if errors.As(shown, &ue) && ue.Err != nil {
		shown = ue.Err
	}
	shown = redactErr(shown, c.dep.secrets...)
	c.tel.EndConnect(cl.ctx, cl.span, took, attempts, out, state, shown)
	attrs := []any{"outcome", out, "attempts", attempts, "duration", took, "circuit", state.String()}
	switch {
	case cl.err == nil:
		c.lastLatency.Store(int64(took))
		c.logs.post(func() { c.log.Info("redismw: connected", attrs...) })
	case out == telemetry.OutcomeClosed, out == telemetry.OutcomeCircuitOpen:
		// Close cut it short, or the circuit was open: not a failure.
		c.logs.post(func() { c.log.Debug("redismw: connect ended", attrs...) })
	case cl.panic != nil:
		attrs = append(attrs, "error.type", telemetry.ErrorType(cl.err), "error", shown.Error(), "waiters", cl.waiters.Load())
		c.logs.post(func() { c.log.Error("redismw: panic during connect", attrs...) })
	default:
		attrs = append(attrs, "error.type", telemetry.ErrorType(cl.err), "error", shown.Error())
		c.logs.post(func() { c.log.Warn("redismw: connect failed", attrs...) })
	}
}

// connect makes up to MaxAttempts attempts, with backoff between them, and
// returns the connector's client once one answers. It returns how many
// attempts it made. ctx carries the connect's span and ends on Close.
func (c *Connector) connect(cl *call) (redis.UniversalClient, int, error) {
	ctx := cl.ctx
	c.connects.Add(1)
	var last error
	failed := 0
	for attempt := 0; attempt < c.cfg.MaxAttempts; attempt++ {
		before := c.brk.State()
		h, o, err := c.attempt(cl)
		if after := c.brk.State(); after != before {
			instrument.TransitionEvent(ctx, before, after)
		}
		switch {
		case err == nil:
			c.tel.Attempt(ctx, nil)
			client, err := c.adopt(h)
			return client, attempt + 1, err
		case c.isClosed():
			c.tel.Attempt(ctx, ErrClosed)
			return nil, attempt + 1, ErrClosed
		case errors.Is(err, ErrUnavailable):
			// The circuit is open: no more attempts until its probe.
			if last == nil {
				return nil, attempt, err // refused before any I/O
			}
			return nil, attempt, c.failure(failed, last, false)
		}
		c.tel.Attempt(ctx, err)
		failed++
		last = redactErr(err, c.dep.secrets...)
		c.setLastErr(last)
		if o != breaker.Ignored {
			failure := last
			c.lastFailure.Store(&failure)
		}
		switch o {
		case breaker.Fatal:
			// Retrying cannot fix it, and the circuit has opened: stop.
			c.tel.AttemptFailed(ctx, attempt+1, last, 0)
			return nil, attempt + 1, c.failure(failed, last, true)
		case breaker.Ignored:
			// User code failed (OnNewClient, a hook): not Redis' doing,
			// and trying again would fail the same way.
			c.tel.AttemptFailed(ctx, attempt+1, last, 0)
			return nil, attempt + 1, &UnavailableError{Err: last}
		}
		var pause time.Duration
		if attempt+1 < c.cfg.MaxAttempts {
			pause = c.cfg.Backoff(attempt)
		}
		c.tel.AttemptFailed(ctx, attempt+1, last, pause)
		if attempt == 0 && attempt+1 < c.cfg.MaxAttempts {
			// Redis failed this connect once: release the callers
			// waiting on it, and let no new one wait, while it goes on.
			cl.failure = c.failure(failed, last, false)
			cl.release()
		}
		if !c.pause(pause) {
			return nil, attempt + 1, ErrClosed
		}
	}
	return nil, failed, c.failure(failed, last, false)
}

// failure is the error of a connect whose attempts failed: it did network
// I/O, so it is not a refusal of the circuit (CircuitOpen is false), but it
// says when the circuit, if these failures opened it, will probe again.
func (c *Connector) failure(attempts int, last error, fatal bool) error {
	return &UnavailableError{
		RetryAfter: c.brk.RetryAfter(),
		Err:        &connectError{attempts: attempts, err: last, fatal: fatal},
	}
}

// attempt is one connect attempt, admitted by the circuit and bounded by
// AttemptTimeout: a new client, its handshake and a PING. It returns the
// client, the outcome it reported to the circuit, and the error. A failed
// attempt's client is closed. If user code panics or exits the goroutine,
// the attempt is reported as Ignored and the panic goes on.
func (c *Connector) attempt(cl *call) (_ *handle, o breaker.Outcome, err error) {
	spanCtx := cl.ctx
	t, err := c.brk.Allow()
	if err != nil {
		return nil, breaker.Ignored, err
	}
	c.attempts.Add(1)
	o = breaker.Ignored
	reported := false
	defer func() {
		if !reported { // a panic or runtime.Goexit in user code
			t.Report(breaker.Ignored)
		}
	}()
	report := func(outcome breaker.Outcome) {
		o, reported = outcome, true
		if outcome != breaker.Success && outcome != breaker.Ignored {
			c.attemptFailures.Add(1)
			c.tel.Failure(spanCtx, err)
		}
		t.Report(outcome)
	}

	fresh, first, err := c.newClient()
	if err != nil {
		report(breaker.Ignored)
		return nil, o, err
	}
	c.mu.Lock()
	c.trying = fresh.client
	c.mu.Unlock()
	if first && c.dep.kind != cluster {
		cl.warm.mu.Lock()
		cl.warm.client = fresh.client
		cl.warm.mu.Unlock()
		c.warm(cl)
	}
	defer func() {
		cl.warm.mu.Lock()
		cl.warm.client = nil
		cl.warm.mu.Unlock()
		c.mu.Lock()
		c.trying = nil
		c.mu.Unlock()
		if o != breaker.Success {
			_ = fresh.client.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(spanCtx, c.cfg.AttemptTimeout)
	defer cancel()
	// The context bounds the attempt unless the options disable deadlines
	// (ReadTimeout -2): then closing the client at AttemptTimeout does.
	var expired atomic.Bool
	stop := time.AfterFunc(c.cfg.AttemptTimeout, func() {
		expired.Store(true)
		_ = fresh.client.Close()
	})
	plain := c.dep.checkPlain(c.ctx, c.cfg.AttemptTimeout)
	err = ping(ctx, fresh.client)
	stop.Stop()
	var late time.Duration
	if expired.Load() {
		late = c.cfg.AttemptTimeout
	}
	outcome, err := judge(err, late, c.isClosed(), plain)
	report(outcome)
	if outcome == breaker.Success {
		return fresh, o, nil
	}
	return nil, o, err
}

// newClient makes a connect attempt's client: the user's OnNewClient runs
// on it, and it gets the circuit's hook in bypass mode — the attempt was
// admitted once and reports its own outcome. A probe's client, when the
// connector has its client already, is lean: it is closed after its PING.
// first reports that the client is not lean: it becomes the connector's
// client if the attempt succeeds.
func (c *Connector) newClient() (_ *handle, first bool, _ error) {
	c.mu.Lock()
	lean := c.client != nil
	c.mu.Unlock()
	client := c.dep.newClient(lean, 0)
	if c.cfg.OnNewClient != nil {
		// First, so that hooks it adds wrap the circuit's: a command the
		// circuit refuses still shows in their spans.
		returned := false
		defer func() {
			if !returned { // a panic or runtime.Goexit in OnNewClient
				_ = client.Close()
			}
		}()
		err := c.cfg.OnNewClient(client)
		returned = true
		if err != nil {
			_ = client.Close()
			return nil, false, fmt.Errorf("redismw: OnNewClient: %w", err)
		}
	}
	h := &handle{client: client}
	h.hook = c.brk.NewHook(circuit.HookEvents{
		ClientClosed: func() { c.invalidate(h) },
		Transition:   instrument.TransitionEvent,
		Suspect:      c.suspect,
		Failure:      c.tel.Failure,
	})
	h.hook.SetBypass(true)
	install(client, h.hook, c.dep.retries())
	return h, !lean, nil
}

// warm starts warming PINGs on the first attempt of connect cl, so that
// one is under way for each caller waiting beyond the first (callers that
// do not wait — an outage under way, an attempt failed — start none), up
// to the pool's size: each dials a pooled connection in parallel with the
// attempt's own, which the callers then find idle. Without the warm-up a herd's commands
// would dial them only once the attempt has succeeded, a second dial
// latency (BenchmarkThunderingHerd). The PINGs run in the attempt's bypass
// mode (not judged, as the attempt is), bounded by AttemptTimeout, and end
// when the attempt's client is closed; a cluster's pools are per node and
// are not warmed. Callers beyond the pool's size take no lock.
func (c *Connector) warm(cl *call) {
	if int(cl.warm.started.Load()) >= c.poolSize-1 {
		return
	}
	select {
	case <-cl.released:
		return // an attempt failed: nobody waits, and Redis gets no more dials
	default:
	}
	cl.warm.mu.Lock()
	defer cl.warm.mu.Unlock()
	client := cl.warm.client
	if client == nil {
		return // no attempt under way: its goroutine could not wait for ours
	}
	want := min(int(cl.waiters.Load()), c.poolSize) - 1
	for ; int(cl.warm.started.Load()) < want; cl.warm.started.Add(1) {
		c.wg.Go(func() {
			// A panic in user code (a hook of OnNewClient's) is the
			// attempt's to report, in its own PING: here it is dropped,
			// not let loose on a goroutine nobody waits for.
			defer func() { _ = recover() }()
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.AttemptTimeout)
			defer cancel()
			_ = client.Ping(ctx).Err()
		})
	}
}

// adopt takes the client of a successful attempt: it becomes the
// connector's client if there is none; otherwise (a probe after an outage)
// it is closed and the connector's client, whose hook lets commands through
// again now that the circuit has closed, is handed out.
func (c *Connector) adopt(h *handle) (redis.UniversalClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.isClosed():
		_ = h.client.Close()
		return nil, ErrClosed
	case c.client == nil:
		h.hook.SetBypass(false)
		c.setClientLocked(h)
	default:
		_ = h.client.Close()
		c.refreshLocked() // the circuit may have opened again meanwhile
	}
	if r := c.ready.Load(); r != nil {
		return r.client, nil
	}
	return nil, &UnavailableError{RetryAfter: c.brk.RetryAfter(), Err: errReopened}
}

// setClientLocked makes h (nil for none) the connector's client, and
// ready follow. c.mu must be held.
func (c *Connector) setClientLocked(h *handle) {
	c.client = h
	c.refreshLocked()
}

// isClosed reports whether Close was called; it takes no lock.
func (c *Connector) isClosed() bool { return c.ctx.Err() != nil }

// refreshLocked sets ready from the facts it derives from: the connector's
// client, the circuit's state and Close. c.mu must be held.
func (c *Connector) refreshLocked() {
	if c.client != nil && !c.isClosed() && c.brk.State() == breaker.Closed {
		c.ready.Store(c.client)
		return
	}
	c.ready.Store(nil)
}

// onTransition follows the circuit: ready follows its state, an open
// circuit schedules its probe, and the transition is counted and logged.
// It runs under gobreaker's lock.
func (c *Connector) onTransition(from, to breaker.State) {
	c.mu.Lock()
	c.refreshLocked()
	c.mu.Unlock()
	if to == breaker.Open {
		c.scheduleProbe()
	}
	retry := c.brk.RetryAfter()
	cause := c.lastErr.Load()
	now := time.Now()
	var openFor time.Duration
	switch {
	case from == breaker.Closed:
		c.openedAt.Store(now.UnixNano())
	case to == breaker.Closed:
		openFor = now.Sub(time.Unix(0, c.openedAt.Load()))
	}
	c.tel.Transition(context.Background(), from, to)
	c.logs.post(func() {
		attrs := []any{"from", from.String(), "to", to.String()}
		switch to {
		case breaker.Open:
			attrs = append(attrs, "retry_after", retry)
			if cause != nil {
				attrs = append(attrs, "error", *cause)
			}
			c.log.Warn("redismw: circuit open", attrs...)
		case breaker.Closed:
			c.log.Info("redismw: circuit closed", append(attrs, "open_for", openFor)...)
		default:
			c.log.Debug("redismw: circuit "+to.String(), attrs...)
		}
	})
}

// scheduleProbe arms the probe for the end of the open period, unless the
// circuit is closed or a probe is armed already.
func (c *Connector) scheduleProbe() {
	if c.brk.State() == breaker.Closed {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed() || c.probe != nil {
		return
	}
	c.probe = time.AfterFunc(c.brk.RetryAfter(), c.probeDue)
}

// probeDue starts the probe: a connect of its own, with no caller waiting.
// A connect already under way serves as the probe.
func (c *Connector) probeDue() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.probe = nil
	if c.isClosed() || c.brk.State() == breaker.Closed {
		return
	}
	c.startLocked(context.Background())
}

// invalidate forgets h if it is the connector's client: its user closed it.
func (c *Connector) invalidate(h *handle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == h {
		c.setClientLocked(nil)
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

// setLastErr records err, already redacted, as Stats.LastError.
func (c *Connector) setLastErr(err error) {
	s := err.Error()
	c.lastErr.Store(&s)
}

// Close stops the connector: it ends the connect or check under way
// (closing the client of an attempt blocked on a hung server), closes the
// connector's client, and returns once no goroutine of the connector is
// left. Waiting callers and later calls get [ErrClosed]. Close is
// idempotent, and may be called from a Breaker.OnStateChange callback; it
// returns the error of closing the client, if any.
func (c *Connector) Close() error {
	c.mu.Lock()
	if c.isClosed() {
		c.mu.Unlock()
		return nil
	}
	c.cancel()
	if c.probe != nil {
		c.probe.Stop()
	}
	trying, checking, h := c.trying, c.checking, c.client
	c.setClientLocked(nil)
	c.mu.Unlock()

	for _, client := range []redis.UniversalClient{trying, checking} {
		if client != nil {
			_ = client.Close() // unblocks a read that honours only deadlines
		}
	}
	c.wg.Wait()
	releaseName(c.name)
	c.logs.stop()
	c.callbacks.stop()
	c.tel.Close()
	if h != nil {
		return h.client.Close()
	}
	return nil
}

// Name returns the connector's name: [breaker.Settings.Name], or by
// default the deployment's first address and database ("host:port/db").
// It is unique among the connectors of the process — a second connector
// of the same name gets "#2" appended — and tells the connector apart in
// every metric series and span (db.client.connection.pool.name) and log
// line.
func (c *Connector) Name() string { return c.name }

// names are the names of the connectors of the process that are not
// closed.
var names = struct {
	sync.Mutex
	used map[string]bool
}{used: map[string]bool{}}

// claimName returns base, or base with "#2", "#3"… appended if a connector
// of the process uses it.
func claimName(base string) string {
	names.Lock()
	defer names.Unlock()
	name := base
	for i := 2; names.used[name]; i++ {
		name = base + "#" + strconv.Itoa(i)
	}
	names.used[name] = true
	return name
}

// releaseName frees name for a later connector.
func releaseName(name string) {
	names.Lock()
	defer names.Unlock()
	delete(names.used, name)
}

// logAttrs are the attributes of every log line of a connector.
func logAttrs(s instrument.Server) []any {
	attrs := []any{"db.client.connection.pool.name", s.PoolName, "server.address", s.Address}
	if s.Port > 0 {
		attrs = append(attrs, "server.port", s.Port)
	}
	return attrs
}
