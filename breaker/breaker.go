package breaker

import (
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// State is the state of a circuit.
type State int32

// The states of a circuit, in gobreaker's order.
const (
	// Closed: requests flow; failures are counted.
	Closed State = iota
	// HalfOpen: the open period is over and one probe is in flight; other
	// requests are refused until it ends.
	HalfOpen
	// Open: every request is refused at once until the open period ends.
	Open
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	default:
		return "unknown"
	}
}

// Breaker is a circuit breaker for one Redis deployment. It is safe for
// concurrent use. [Breaker.State], the refusals of an open circuit and
// [Breaker.Do] on a closed circuit are lock-free; [Breaker.Allow] goes
// through gobreaker.
type Breaker struct {
	name     string
	jitter   float64
	timeout  time.Duration
	onChange func(name string, from, to State)
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]

	// state mirrors gobreaker's state; probeAt is when an open circuit will
	// let its next probe through (unix nanoseconds); epoch counts
	// transitions. They are written only in gobreaker's OnStateChange,
	// under its lock.
	state   atomic.Int32
	probeAt atomic.Int64
	epoch   atomic.Uint64

	// dirty is set when a failure has been reported since the last success
	// reached gobreaker: only then must a success be reported to reset
	// gobreaker's consecutive-failure count. See Breaker.Do.
	dirty atomic.Bool

	// fatal is set by a Fatal report just before gobreaker counts it, so
	// that ReadyToTrip trips at once.
	fatal atomic.Bool

	failures atomic.Uint64 // requests reported as Failure
	refusals atomic.Uint64 // requests refused without I/O
}

// New returns a closed Breaker configured by s, or an error naming the
// invalid setting.
func New(s Settings) (*Breaker, error) {
	s, err := s.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Breaker{
		name:     s.Name,
		jitter:   s.Jitter,
		timeout:  s.Timeout,
		onChange: s.OnStateChange,
	}
	threshold := s.FailureThreshold
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        s.Name,
		MaxRequests: 1,
		// gobreaker's own open period is a little shorter than the
		// shortest jittered one, so that by b.probeAt it is always ready
		// to go half-open.
		Timeout: max(time.Duration(float64(s.Timeout)*(1-s.Jitter))-time.Millisecond, 1),
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= threshold || b.fatal.Load()
		},
		OnStateChange: b.transition,
		IsExcluded:    func(err error) bool { return err == errIgnored },
	})
	return b, nil
}

// Name returns the circuit's name ([Settings.Name]).
func (b *Breaker) Name() string { return b.name }

// State returns the circuit's state without taking any lock. An open
// circuit whose open period is over reports Open until the next request
// moves it to HalfOpen.
func (b *Breaker) State() State { return State(b.state.Load()) }

// RetryAfter returns how long until an open circuit lets its next probe
// through, and zero when the circuit is not open or the probe is due.
func (b *Breaker) RetryAfter() time.Duration {
	if b.State() != Open {
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

// Outcome is what a finished request says about the health of Redis.
type Outcome int8

const (
	// Success: Redis answered. Resets the consecutive-failure count, and
	// closes a half-open circuit.
	Success Outcome = iota
	// Failure: Redis did not answer, or answered that it cannot serve.
	Failure
	// Ignored: the request says nothing about Redis (for example, the caller
	// gave up). It is not counted.
	Ignored
	// Fatal: a failure that retrying cannot fix (refused credentials, an
	// untrusted certificate). It is counted, and opens the circuit at once,
	// so that the next attempt waits for the open period.
	Fatal
)

// String returns "success", "failure" or "ignored".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Ignored:
		return "ignored"
	case Fatal:
		return "fatal"
	default:
		return "unknown"
	}
}

var (
	errFailure = errors.New("failure")
	errIgnored = errors.New("ignored")
)

// Report records the outcome of an admitted request.
func (t Ticket) Report(o Outcome) {
	if t.done == nil { // the zero Ticket admits nothing
		return
	}
	switch o {
	case Success:
		t.b.dirty.Store(false)
		t.done(nil)
	case Failure, Fatal:
		t.b.failures.Add(1)
		t.b.dirty.Store(true)
		t.b.fatal.Store(o == Fatal)
		t.done(errFailure)
	default:
		t.done(errIgnored)
	}
}

// Do runs req under the circuit and returns its error, or an
// [*UnavailableError] without running it when the circuit refuses. The
// outcome of req's error is [Classify]'s.
//
// While the circuit is closed Do takes no lock and allocates nothing
// unless req fails: a success reaches gobreaker only when it must reset a
// count of consecutive failures, and a failure is reported after the fact.
// Otherwise Do goes through [Breaker.Allow].
func (b *Breaker) Do(req func() error) error {
	if b.State() != Closed {
		t, err := b.Allow()
		if err != nil {
			return err
		}
		err = req()
		t.Report(Classify(err))
		return err
	}
	epoch := b.epoch.Load()
	err := req()
	switch Classify(err) {
	case Success:
		if b.dirty.Load() && b.dirty.CompareAndSwap(true, false) {
			b.record(epoch, nil)
		}
	case Failure:
		b.failures.Add(1)
		b.dirty.Store(true)
		b.record(epoch, errFailure)
	}
	return err
}

// record reports the outcome of a request that ran while the circuit was
// closed in epoch, unless the circuit has changed since: then the outcome
// belongs to a past period, as gobreaker's generations would decide.
func (b *Breaker) record(epoch uint64, err error) {
	if b.epoch.Load() != epoch || b.State() != Closed {
		return
	}
	if done, aerr := b.cb.Allow(); aerr == nil {
		done(err)
	}
}

// Allow admits a request, or refuses it with an [*UnavailableError] when the
// circuit is open or a half-open probe is already in flight. A refusal of an
// open circuit takes no lock; the first request after the open period
// becomes the probe. Admitting a request takes gobreaker's lock.
func (b *Breaker) Allow() (Ticket, error) {
	if err := b.Refuse(); err != nil {
		return Ticket{}, err
	}
	done, err := b.cb.Allow()
	if err != nil {
		return Ticket{}, b.refuse(b.RetryAfter())
	}
	return Ticket{b: b, done: done}, nil
}

// Refuse returns an [*UnavailableError] if the circuit is open and its
// probe is not yet due, and nil otherwise; it admits nothing and takes no
// lock. A half-open circuit is left to gobreaker, which admits one probe at
// a time: a probe that ends Ignored frees its place for the next.
func (b *Breaker) Refuse() error {
	if b.State() == Open {
		if wait := b.RetryAfter(); wait > 0 {
			return b.refuse(wait)
		}
	}
	return nil
}

func (b *Breaker) refuse(wait time.Duration) error {
	b.refusals.Add(1)
	return &UnavailableError{RetryAfter: wait, CircuitOpen: true}
}

// transition is gobreaker's OnStateChange; it runs under gobreaker's lock.
func (b *Breaker) transition(_ string, from, to gobreaker.State) {
	if to == gobreaker.StateOpen {
		period := b.timeout
		if b.jitter > 0 {
			period = time.Duration(float64(period) * (1 + b.jitter*(2*rand.Float64()-1)))
		}
		b.probeAt.Store(time.Now().Add(period).UnixNano())
	}
	b.dirty.Store(false) // gobreaker starts a new generation with clear counts
	b.fatal.Store(false)
	b.epoch.Add(1)
	b.state.Store(int32(to))
	if b.onChange != nil {
		b.onChange(b.name, State(from), State(to))
	}
}
