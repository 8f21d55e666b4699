package connector

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/circuit"
	"github.com/ankitoon/redismw/internal/errkind"
	"github.com/ankitoon/redismw/internal/instrument"
)

// One connect attempt: admitted by the circuit, a client of its own
// (newClient), its readiness PING bounded by AttemptTimeout and judged
// (judge), the warm-up of a first connect's pool beside it (warm), and
// on success the adoption of its client (adopt).

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
	// A probe asks on an established connection too, past the circuit's
	// refusal: the connections the service has may be served while a new
	// one is not (maxclients, a rotated password).
	var established <-chan error
	if !first {
		established = c.askIdle(circuit.Own(ctx), 0)
	}
	err = ping(ctx, fresh.client)
	if established != nil && !errkind.PingAnswered(err) && errkind.PingAnswered(<-established) {
		err = nil
	}
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

// judge says what the reply err to a connect attempt's readiness PING
// tells about Redis, and returns the error to report (never nil unless
// the outcome is Success). It is [breaker.Classify]'s verdict, and what
// only the attempt knows of its own PING:
//
//   - Success: Redis answered (errkind.PingAnswered: NOPERM for PING
//     itself included) before the attempt's deadline.
//   - Ignored: Close cut the attempt short (closing), or the error is not
//     about Redis (a user's hook's, say).
//   - Fatal: Classify's Fatal (credentials, certificates); NOPERM on what
//     the configuration itself needs (SELECT of the URL's database); a TLS
//     handshake that a plain-RESP server did not answer (plain, see
//     deployment.checkPlain), or answered in plain text: the
//     configuration is wrong, retrying cannot fix it.
//   - Failure: anything else, a timeout included: the deadline is the
//     attempt's own, not a caller's, so there is nothing to suspect. When
//     the attempt's AttemptTimeout passed (expired, its length; 0 when
//     not), whatever came back came too late, an answer included.
func judge(err error, expired time.Duration, closing bool, plain *plainCheck) (breaker.Outcome, error) {
	if expired > 0 {
		err = fmt.Errorf("%w (the attempt's %v passed)", context.DeadlineExceeded, expired)
	}
	class := breaker.Classify(err)
	kind := errkind.Of(err)
	plainServer := plain.result(kind == errkind.Timeout || kind == errkind.PoolTimeout) // no answer to the handshake
	var record tls.RecordHeaderError
	switch {
	case errkind.PingAnswered(err):
		return breaker.Success, nil
	case closing:
		return breaker.Ignored, err
	case errors.As(err, &record):
		return breaker.Fatal, fmt.Errorf("%w (%w)", errPlainServer, err) // it answered, but not in TLS
	case class == breaker.Fatal || redis.IsPermissionError(err):
		return breaker.Fatal, err // NOPERM for PING itself was answered above
	case class == breaker.Ignored:
		return breaker.Ignored, err
	case plainServer:
		return breaker.Fatal, fmt.Errorf("%w (%w)", errPlainServer, err)
	}
	return breaker.Failure, err
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
		Admit:        c.adm,
		Idle:         func() bool { return client.PoolStats().IdleConns > 0 },
	})
	h.hook.SetBypass(true)
	install(client, h.hook, c.dep.retries())
	return h, !lean, nil
}

// warmup dials, beside the attempt of a first connect, the pooled
// connections its waiting callers will need, so that they find them ready
// when the attempt succeeds instead of dialing only then.
type warmup struct {
	started atomic.Int32 // warming PINGs started
	mu      sync.Mutex
	client  redis.UniversalClient // the attempt's client while it may warm up, nil otherwise; mu guards it
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
		c.spawn(func() {
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
