// Package circuit is the machinery behind package breaker's circuit: the
// breaker on sony/gobreaker that the connector drives, and the go-redis
// hook that guards its clients. Package breaker holds what users configure
// and read: Settings, State, Outcome and Classify, UnavailableError.
package circuit

import (
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/ankitoon/redismw/breaker"
)

// Breaker is a circuit breaker for one Redis deployment. It is safe for
// concurrent use. Commands go through [Breaker.Refuse] and
// [Breaker.Observe], which take no lock on a closed circuit; only the
// connector's connect attempts go through [Breaker.Allow], which takes
// gobreaker's lock and the single half-open slot: commands never probe.
type Breaker struct {
	name     string
	jitter   float64
	timeout  time.Duration // the longest open period
	base     time.Duration // the first open period of an outage
	onChange func(name string, from, to breaker.State)
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]

	// state mirrors gobreaker's state, for readers that must take no lock
	// (every command's hook; gobreaker's State takes its mutex and may
	// move the state); probeAt is when an open circuit will
	// let its next probe through (unix nanoseconds); epoch counts
	// transitions; opens counts the open periods of the current outage
	// (reset when the circuit closes). They are written only in
	// transition, under gobreaker's lock.
	state   atomic.Int32
	probeAt atomic.Int64
	epoch   atomic.Uint64
	opens   atomic.Int32

	// dirty is set when a failure has been reported since the last success
	// reached gobreaker: only then must a success be reported to reset
	// gobreaker's consecutive-failure count. See Breaker.Observe.
	dirty atomic.Bool

	// fatal is set by a breaker.Fatal report just before gobreaker counts it, so
	// that ReadyToTrip trips at once.
	fatal atomic.Bool

	failures atomic.Uint64 // requests reported as breaker.Failure or breaker.Fatal
	refusals atomic.Uint64 // requests refused without I/O

	// openedAt is when the circuit last left Closed, and failingSince when
	// the first connect attempt failed since one last succeeded or the
	// circuit last closed (unix nanoseconds, 0 for none): the start of an
	// outage, for the telemetry. openedAt is written in transition, before
	// the state; failingSince by Report and transition.
	openedAt     atomic.Int64
	failingSince atomic.Int64

	listen listener // see Listen
	hold   dialHold // see dialHold
}

// New returns a closed Breaker configured by s, or an error naming the
// invalid setting.
func New(s breaker.Settings) (*Breaker, error) {
	s, err := settle(s)
	if err != nil {
		return nil, err
	}
	b := &Breaker{
		name:     s.Name,
		jitter:   s.Jitter,
		timeout:  s.Timeout,
		base:     s.BaseTimeout,
		onChange: s.OnStateChange,
		listen:   listener{heard: make(chan struct{}, 1), gone: make(chan struct{}, 1)},
	}
	threshold := s.FailureThreshold
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        s.Name,
		MaxRequests: 1,
		// The open period is kept here, in probeAt: by then gobreaker
		// must be ready to go half-open.
		Timeout: time.Nanosecond,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= threshold || b.fatal.Load()
		},
		OnStateChange: b.transition,
		IsExcluded:    func(err error) bool { return err == errIgnored },
	})
	return b, nil
}

// Name returns the circuit's name ([breaker.Settings.Name]).
func (b *Breaker) Name() string { return b.name }

// State returns the circuit's state without taking any lock. An open
// circuit whose open period is over reports breaker.Open until the connector's
// probe moves it to breaker.HalfOpen.
func (b *Breaker) State() breaker.State { return breaker.State(b.state.Load()) }

// RetryAfter returns how long until an open circuit lets its next probe
// through, and zero when the circuit is not open or the probe is due.
func (b *Breaker) RetryAfter() time.Duration {
	if b.State() != breaker.Open {
		return 0
	}
	return max(time.Duration(b.probeAt.Load()-time.Now().UnixNano()), 0)
}

// Failures returns how many requests have been reported as failures.
func (b *Breaker) Failures() uint64 { return b.failures.Load() }

// Refusals returns how many requests the circuit has refused without I/O.
func (b *Breaker) Refusals() uint64 { return b.refusals.Load() }

// Ticket is a request admitted by [Breaker.Allow]. Its outcome must be
// reported exactly once with [Ticket.Report].
type Ticket struct {
	b    *Breaker
	done func(error)
}

var (
	errFailure = errors.New("failure")
	errIgnored = errors.New("ignored")
)

// Report records the outcome of an admitted request. A breaker.Suspect outcome is
// a breaker.Failure here: an admitted request is a connect attempt, bounded by the
// connector's own deadline. A breaker.Ignored probe (Close, or user code that
// failed or panicked) reopens a half-open circuit without counting a
// failure, so that the next probe is scheduled rather than never taken.
func (t Ticket) Report(o breaker.Outcome) {
	if t.done == nil { // the zero Ticket admits nothing
		return
	}
	switch o {
	case breaker.Success:
		t.b.dirty.Store(false)
		t.b.failingSince.Store(0)
		t.done(nil)
	case breaker.Failure, breaker.Fatal, breaker.Suspect:
		t.b.failingSince.CompareAndSwap(0, time.Now().UnixNano())
		t.b.failures.Add(1)
		t.b.dirty.Store(true)
		t.b.fatal.Store(o == breaker.Fatal)
		t.done(errFailure)
	default:
		if t.b.State() == breaker.HalfOpen {
			t.done(errFailure)
			return
		}
		t.done(errIgnored)
	}
}

// Observe records the outcome of a command that ran while the circuit was
// closed in epoch ([Breaker.Epoch]), as [breaker.Classify] says, and returns
// what the circuit made of it: a Failure only if the circuit counted it —
// a command that began in an earlier period, or ended after the circuit
// had left Closed, is evidence of a past period and returns Ignored (so
// Stats.Failures and the failure metric count what the circuit counted).
// Suspect outcomes are returned, not counted: the caller decides how to
// confirm them. It takes no lock and allocates nothing unless the outcome
// is a failure, or a success that must reset a count of failures.
func (b *Breaker) Observe(epoch uint64, o breaker.Outcome) breaker.Outcome {
	switch o {
	case breaker.Success:
		if b.dirty.Load() && b.dirty.CompareAndSwap(true, false) {
			b.record(epoch, nil)
		}
	case breaker.Fatal:
		if !b.Trip(epoch) {
			return breaker.Ignored
		}
	case breaker.Failure:
		if !b.current(epoch) {
			return breaker.Ignored
		}
		b.dirty.Store(true)
		if !b.record(epoch, errFailure) {
			return breaker.Ignored
		}
		b.failures.Add(1)
	}
	return o
}

// OpenedAt returns when the circuit last left Closed; zero if it never
// has.
func (b *Breaker) OpenedAt() time.Time { return unixTime(b.openedAt.Load()) }

// FailingSince returns when the first connect attempt failed since one
// last succeeded or the circuit last closed; zero when none has.
func (b *Breaker) FailingSince() time.Time { return unixTime(b.failingSince.Load()) }

// unixTime is the time of ns unix nanoseconds, zero for 0.
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Failing reports whether a failure has been reported since the last
// success: an outage may be under way, though the circuit is still closed.
func (b *Breaker) Failing() bool { return b.dirty.Load() }

// Epoch returns the number of transitions so far: the period a command
// that starts now belongs to.
func (b *Breaker) Epoch() uint64 { return b.epoch.Load() }

// current reports whether the circuit is closed and still in epoch.
func (b *Breaker) current(epoch uint64) bool {
	return b.epoch.Load() == epoch && b.State() == breaker.Closed
}

// record reports the outcome of a request that ran while the circuit was
// closed in epoch, unless the circuit has changed since: then the outcome
// belongs to a past period, as gobreaker's generations would decide. It
// reports whether gobreaker counted it.
func (b *Breaker) record(epoch uint64, err error) bool {
	if !b.current(epoch) {
		return false
	}
	done, aerr := b.cb.Allow()
	if aerr != nil {
		return false
	}
	done(err)
	return true
}

// Trip opens a circuit that is still closed in epoch at once: the
// connector has confirmed that Redis does not serve (a hang), or a
// connect met a failure that retrying cannot fix. It reports whether it
// opened the circuit (false when the circuit had moved already).
func (b *Breaker) Trip(epoch uint64) bool {
	if !b.current(epoch) {
		return false
	}
	done, err := b.cb.Allow()
	if err != nil {
		return false
	}
	b.failures.Add(1)
	b.fatal.Store(true)
	done(errFailure)
	return true
}

// Allow admits a connect attempt, or refuses it with an [*breaker.UnavailableError]
// when the circuit is open and its probe is not due, or a half-open probe
// is already in flight. Only the connector calls it: the attempt admitted
// after the open period is the probe. Admitting takes gobreaker's lock.
func (b *Breaker) Allow() (Ticket, error) {
	if b.State() == breaker.Open {
		if wait := b.RetryAfter(); wait > 0 {
			return Ticket{}, b.refuse(wait)
		}
	}
	done, err := b.cb.Allow()
	if err != nil {
		return Ticket{}, b.refuse(b.RetryAfter())
	}
	return Ticket{b: b, done: done}, nil
}

// Refuse returns an [*breaker.UnavailableError] unless the circuit is closed; it
// admits nothing and takes no lock. Commands call it first: while the
// circuit is open or a probe is in flight they fail at once, without
// network I/O.
func (b *Breaker) Refuse() error {
	if b.State() == breaker.Closed {
		return nil
	}
	return b.refuse(b.RetryAfter())
}

func (b *Breaker) refuse(wait time.Duration) error {
	b.refusals.Add(1)
	return &breaker.UnavailableError{RetryAfter: wait, CircuitOpen: true}
}

// period returns the n-th open period of an outage (from 0): BaseTimeout
// doubled n times, at most Timeout, with jitter.
func (b *Breaker) period(n int32) time.Duration {
	p := b.timeout
	if n < 62 && b.base<<n > 0 && b.base<<n < b.timeout {
		p = b.base << n
	}
	if b.jitter > 0 {
		p = time.Duration(float64(p) * (1 + b.jitter*(2*rand.Float64()-1)))
	}
	return p
}

// transition is gobreaker's OnStateChange; it runs under gobreaker's lock.
func (b *Breaker) transition(_ string, from, to gobreaker.State) {
	now := time.Now()
	switch to {
	case gobreaker.StateOpen:
		b.probeAt.Store(now.Add(b.period(b.opens.Add(1) - 1)).UnixNano())
	case gobreaker.StateClosed:
		b.opens.Store(0)
		b.failingSince.Store(0)
	}
	if from == gobreaker.StateClosed {
		b.openedAt.Store(now.UnixNano())
	}
	b.dirty.Store(false) // gobreaker starts a new generation with clear counts
	b.fatal.Store(false)
	b.epoch.Add(1)
	b.state.Store(int32(to))
	if b.onChange != nil {
		b.onChange(b.name, breaker.State(from), breaker.State(to))
	}
}
