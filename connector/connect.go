package connector

import (
	"context"
	"errors"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/instrument"
	"github.com/ankitoon/redismw/telemetry"
)

// The shared connect, as golang.org/x/sync/singleflight shares a call:
// the first caller without a ready client starts it (join, startLocked),
// every later one joins it, and it runs on a goroutine of its own (run),
// detached from all of them: a caller whose context ends leaves at once.
// Callers wait for its first attempt only (wait, release); the attempts
// and the backoff between them are connect's, one attempt is attempt.go's.

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
	c.spawn(func() { c.run(cl) })
	return cl
}

// run performs the shared connect cl and hands its result to the waiters.
// Whatever happens — an error, a panic, runtime.Goexit in user code — the
// connect is no longer in flight afterwards, so a later call can start
// another, and no waiter gets a nil client with a nil error.
func (c *Connector) run(cl *call) {
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
		if !c.pause(pause, nil) {
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

// pause sleeps d, or less if wake (nil for none) receives, and reports
// false if Close was called meanwhile.
func (c *Connector) pause(d time.Duration, wake <-chan struct{}) bool {
	if d <= 0 {
		return c.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	case <-c.ctx.Done():
		return false
	}
	return true
}
