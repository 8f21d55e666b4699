package connector

import (
	"sync/atomic"
	"time"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/instrument"
)

// State is what a [Connector] is doing, as [Connector.Stats] reports it.
type State int

const (
	// StateIdle: no client and no connect under way; the next
	// [Connector.Client] call connects.
	StateIdle State = iota
	// StateConnecting: a shared connect is under way.
	StateConnecting
	// StateReady: a client is published; Client returns it at once.
	StateReady
	// StateCircuitOpen: the circuit is open (or its probe is in flight);
	// Client fails at once until a probe succeeds.
	StateCircuitOpen
	// StateClosed: [Connector.Close] was called.
	StateClosed
)

// String returns "idle", "connecting", "ready", "circuit_open" or "closed".
func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateConnecting:
		return "connecting"
	case StateReady:
		return "ready"
	case StateCircuitOpen:
		return "circuit_open"
	case StateClosed:
		return "closed"
	default:
		return "unknown"
	}
}

// Stats is a snapshot of a [Connector]'s state and counters since [New].
type Stats struct {
	// State is what the connector is doing now.
	State State
	// Circuit is the state of the circuit.
	Circuit breaker.State
	// RetryAfter is how long until an open circuit's next probe; zero
	// when the circuit is not open.
	RetryAfter time.Duration

	// Connects counts shared connects started; each serves every caller
	// that waited on it.
	Connects uint64
	// Attempts counts connect attempts made (at most MaxAttempts per
	// connect).
	Attempts uint64
	// AttemptFailures counts connect attempts that failed.
	AttemptFailures uint64
	// Failures counts the failures the circuit counted: failed connect
	// attempts and probes, checks that opened it, and commands that Redis
	// answered with a reply saying it cannot serve (LOADING, BUSY …) while
	// the circuit was closed. What it did not count — a command that
	// failed after the circuit had opened, a suspicion a check dismissed —
	// is not here.
	Failures uint64
	// FastFails counts calls and commands the open circuit refused at
	// once, without network I/O: how much work the circuit spared from
	// waiting on a Redis known to be down (each got [ErrUnavailable]; a
	// request through the middleware, its 503). It grows only while the
	// circuit is open or its probe in flight, with the traffic the outage
	// met.
	FastFails uint64
	// Checks counts the connector's checks: each asked Redis, after a
	// command met something that proves nothing by itself (a timeout, a
	// saturated pool, a network error, a refused new connection), whether
	// it serves; see the package documentation. Checks growing while
	// ChecksFailed does not means Redis kept answering — deadlines too
	// short for it, a busy pool, dropped connections — not an outage.
	Checks uint64
	// ChecksFailed counts the checks that found Redis not answering and
	// opened the circuit: each one an outage or a hang confirmed (a hang,
	// a kill, a partition).
	ChecksFailed uint64
	// Waiting is the number of callers waiting on the shared connect now.
	Waiting int64

	// Shed counts the commands and requests refused because Redis served
	// more slowly than they arrived ([Config.Overload]): each got
	// [ErrOverloaded] at once, without network I/O.
	Shed uint64
	// Limit is how many commands may be in flight to Redis at once now
	// (adaptive: see [OverloadSettings]), and Inflight how many admitted
	// commands are; both 0 when shedding is disabled.
	Limit, Inflight int

	// LastConnectLatency is the wall time of the last successful connect,
	// from its first attempt to the client being ready.
	LastConnectLatency time.Duration
	// LastError is the text of the last connect failure, with any password
	// removed, or "" if none has failed.
	LastError string
}

// counters are the figures behind Stats that nothing decides on.
type counters struct {
	connects        atomic.Uint64
	attempts        atomic.Uint64
	attemptFailures atomic.Uint64
	checksRun       atomic.Uint64
	checksFailed    atomic.Uint64
	lastLatency     atomic.Int64
	// lastErr is Stats.LastError: the text of the last failed attempt or
	// check, whatever failed (Redis, user code, a panic), redacted.
	lastErr atomic.Pointer[string]
}

// Stats returns a snapshot of the connector's state and counters.
func (c *Connector) Stats() Stats {
	s := Stats{
		Circuit:            c.brk.State(),
		RetryAfter:         c.brk.RetryAfter(),
		Connects:           c.connects.Load(),
		Attempts:           c.attempts.Load(),
		AttemptFailures:    c.attemptFailures.Load(),
		Failures:           c.brk.Failures(),
		FastFails:          c.brk.Refusals(),
		Checks:             c.checksRun.Load(),
		ChecksFailed:       c.checksFailed.Load(),
		LastConnectLatency: time.Duration(c.lastLatency.Load()),
	}
	if p := c.lastErr.Load(); p != nil {
		s.LastError = *p
	}
	if c.adm != nil {
		s.Shed, s.Limit, s.Inflight = c.adm.ShedCount(), c.adm.Limit(), c.adm.Inflight()
	}
	// No lock: callers polling Stats in a loop must not queue on mu ahead
	// of the connector's own goroutines (a check, a transition).
	closed, inflight := c.isClosed(), c.inflight.Load()
	if inflight != nil {
		s.Waiting = inflight.waiters.Load()
	}
	switch {
	case closed:
		s.State = StateClosed
	case c.ready.Load() != nil:
		s.State = StateReady
	case s.Circuit != breaker.Closed:
		s.State = StateCircuitOpen // a probe in flight included
	case inflight != nil:
		s.State = StateConnecting
	default:
		s.State = StateIdle
	}
	return s
}

// State returns what the connector is doing now; it is Stats().State.
func (c *Connector) State() State { return c.Stats().State }

// setLastErr records err, already redacted, as Stats.LastError.
func (c *Connector) setLastErr(err error) {
	s := err.Error()
	c.lastErr.Store(&s)
}

// health is what the connector's gauges observe (redismw.unusable and
// the outage's start, the next probe, the circuit's state). Redis is
// unusable when Client would fail without a client to hand out: the
// circuit is open or half-open, or there is no client and the last
// connect attempt failed (a cold start against a Redis that does not
// answer, while the circuit is still closed). The outage began at the
// earlier of that first failed attempt and the circuit's leaving Closed.
// Not unusable: before the first connect, while the first attempt is
// under way, and after Close.
func (c *Connector) health() instrument.Health {
	h := instrument.Health{Circuit: c.brk.State()}
	if c.adm != nil {
		h.Overload = &instrument.Overload{Limit: c.adm.Limit(), Inflight: c.adm.Inflight(), Shed: c.adm.ShedCount()}
	}
	if c.isClosed() || c.ready.Load() != nil {
		return h
	}
	failing := c.brk.FailingSince()
	if h.Circuit == breaker.Closed && failing.IsZero() {
		return h
	}
	h.Unusable, h.Since = true, failing
	if h.Circuit != breaker.Closed {
		if opened := c.brk.OpenedAt(); h.Since.IsZero() || (!opened.IsZero() && opened.Before(h.Since)) {
			h.Since = opened
		}
	}
	if h.Circuit == breaker.Open {
		h.NextProbe = time.Now().Add(c.brk.RetryAfter())
	}
	return h
}
