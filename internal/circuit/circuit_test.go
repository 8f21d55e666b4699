package circuit_test

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/circuit"
)

func mustNew(t *testing.T, s breaker.Settings) *circuit.Breaker {
	t.Helper()
	b, err := circuit.New(s)
	if err != nil {
		t.Fatalf("circuit.New: %v", err)
	}
	return b
}

// run admits one request and reports o; it fails the test if refused.
func run(t *testing.T, b *circuit.Breaker, o breaker.Outcome) {
	t.Helper()
	tk, err := b.Allow()
	if err != nil {
		t.Fatalf("Allow refused in state %v: %v", b.State(), err)
	}
	tk.Report(o)
}

func TestTripsAfterConsecutiveFailures(t *testing.T) {
	b := mustNew(t, breaker.Settings{})
	for i := range 4 {
		run(t, b, breaker.Failure)
		if b.State() != breaker.Closed {
			t.Fatalf("open after %d failures, want closed until 5", i+1)
		}
	}
	run(t, b, breaker.Success) // resets the count
	for range 4 {
		run(t, b, breaker.Failure)
	}
	for range 10 {
		run(t, b, breaker.Ignored) // neither resets nor counts
	}
	if b.State() != breaker.Closed {
		t.Fatalf("state %v after success then 4 failures and 10 ignored, want closed", b.State())
	}
	run(t, b, breaker.Failure)
	if b.State() != breaker.Open {
		t.Fatalf("state %v after 5 consecutive failures, want open", b.State())
	}
	if got := b.Failures(); got != 9 {
		t.Errorf("Failures() = %d, want 9", got)
	}

	_, err := b.Allow()
	var ue *breaker.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, breaker.ErrUnavailable) {
		t.Fatalf("Allow on open circuit = %v, want *UnavailableError matching ErrUnavailable", err)
	}
	if !ue.CircuitOpen || ue.RetryAfter < 60*time.Millisecond || ue.RetryAfter > 120*time.Millisecond {
		t.Errorf("refusal = %+v, want CircuitOpen and RetryAfter the first open period (100ms ± 20%%)", ue)
	}
	if err := b.Refuse(); err == nil {
		t.Error("Refuse() = nil on an open circuit")
	}
	if got := b.Refusals(); got != 2 {
		t.Errorf("Refusals() = %d, want 2", got)
	}
}

func TestProbeAfterOpenPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var seen []string
		b := mustNew(t, breaker.Settings{
			Name:             "cache",
			FailureThreshold: 1,
			OnStateChange: func(name string, from, to breaker.State) {
				mu.Lock()
				seen = append(seen, name+":"+from.String()+">"+to.String())
				mu.Unlock()
			},
		})
		run(t, b, breaker.Failure)
		wait := b.RetryAfter()
		time.Sleep(wait - time.Millisecond)
		if _, err := b.Allow(); err == nil {
			t.Fatal("admitted before the open period ended")
		}
		time.Sleep(time.Millisecond)
		if err := b.Refuse(); !errors.Is(err, breaker.ErrUnavailable) {
			t.Fatalf("a command after the open period = %v, want refused: only the connector probes", err)
		}

		probe, err := b.Allow()
		if err != nil {
			t.Fatalf("probe refused after the open period: %v", err)
		}
		if b.State() != breaker.HalfOpen {
			t.Fatalf("state %v with the probe in flight, want half-open", b.State())
		}
		if _, err := b.Allow(); !errors.Is(err, breaker.ErrUnavailable) {
			t.Fatalf("second request during the probe = %v, want ErrUnavailable", err)
		}
		failures := b.Failures()
		probe.Report(breaker.Ignored) // says nothing: reopens, uncounted, so that a probe is scheduled again
		if b.State() != breaker.Open || b.Failures() != failures {
			t.Fatalf("after an ignored probe: state %v, %d failures; want open, %d", b.State(), b.Failures(), failures)
		}
		time.Sleep(b.RetryAfter())
		probe = run2(t, b)
		probe.Report(breaker.Failure)
		if b.State() != breaker.Open || b.RetryAfter() <= 0 {
			t.Fatalf("after a failed probe: state %v, RetryAfter %v; want open with a new period", b.State(), b.RetryAfter())
		}
		time.Sleep(b.RetryAfter())
		run(t, b, breaker.Success)
		if b.State() != breaker.Closed {
			t.Fatalf("state %v after a successful probe, want closed", b.State())
		}
		want := "cache:closed>open cache:open>half-open cache:half-open>open cache:open>half-open cache:half-open>open cache:open>half-open cache:half-open>closed"
		if got := strings.Join(seen, " "); got != want {
			t.Errorf("transitions:\n got %s\nwant %s", got, want)
		}
		var zero circuit.Ticket
		zero.Report(breaker.Failure) // the zero Ticket admits nothing and reports nothing
		if b.State() != breaker.Closed {
			t.Errorf("a zero Ticket's report changed the state to %v", b.State())
		}
	})
}

// run2 admits one request and returns its ticket; it fails the test if
// refused.
func run2(t *testing.T, b *circuit.Breaker) circuit.Ticket {
	t.Helper()
	tk, err := b.Allow()
	if err != nil {
		t.Fatalf("Allow refused in state %v: %v", b.State(), err)
	}
	return tk
}

// TestOpenPeriodGrows: each failed probe of an outage doubles the open
// period, from BaseTimeout up to Timeout; a success starts over.
func TestOpenPeriodGrows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.Settings{FailureThreshold: 1, DisableJitter: true})
		var got []time.Duration
		run(t, b, breaker.Failure)
		for range 8 {
			d := b.RetryAfter()
			got = append(got, d)
			time.Sleep(d)
			run(t, b, breaker.Failure)
		}
		want := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000}
		for i := range want {
			want[i] *= time.Millisecond
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("open periods %v, want %v", got, want)
		}
		time.Sleep(b.RetryAfter())
		run(t, b, breaker.Success)
		run(t, b, breaker.Failure)
		if d := b.RetryAfter(); d != 100*time.Millisecond {
			t.Errorf("first open period of the next outage %v, want 100ms again", d)
		}
	})
}

func TestOpenPeriodJitter(t *testing.T) {
	periods := func(s breaker.Settings) (lo, hi time.Duration) {
		lo = time.Duration(math.MaxInt64)
		synctest.Test(t, func(t *testing.T) {
			s.FailureThreshold = 1
			b := mustNew(t, s)
			for range 200 {
				run(t, b, breaker.Failure)
				d := b.RetryAfter() // the bubble's clock stands still
				lo, hi = min(lo, d), max(hi, d)
				time.Sleep(d)
				run(t, b, breaker.Success)
			}
		})
		return lo, hi
	}
	lo, hi := periods(breaker.Settings{Timeout: 10 * time.Second, BaseTimeout: 10 * time.Second})
	if lo < 8*time.Second || hi > 12*time.Second || hi-lo < 2*time.Second {
		t.Errorf("default jitter: open periods in [%v, %v], want spread over most of [8s, 12s]", lo, hi)
	}
	lo, hi = periods(breaker.Settings{Timeout: 10 * time.Second, BaseTimeout: 10 * time.Second, DisableJitter: true})
	if lo != 10*time.Second || hi != 10*time.Second {
		t.Errorf("DisableJitter: open periods in [%v, %v], want exactly 10s", lo, hi)
	}
}

func TestSettingsErrors(t *testing.T) {
	tests := []struct {
		s    breaker.Settings
		want string
	}{
		{breaker.Settings{Timeout: -time.Second}, "Timeout"},
		{breaker.Settings{Jitter: 1}, "Jitter"},
		{breaker.Settings{Jitter: -0.1}, "Jitter"},
		{breaker.Settings{Jitter: math.NaN()}, "Jitter"},
		{breaker.Settings{BaseTimeout: -time.Second}, "BaseTimeout"},
		{breaker.Settings{Timeout: time.Second, BaseTimeout: 2 * time.Second}, "BaseTimeout"},
	}
	for _, tt := range tests {
		_, err := circuit.New(tt.s)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "redismw: ") {
			t.Errorf("New(%+v) = %v, want an error naming %s", tt.s, err, tt.want)
		}
	}
}

func TestUnavailableErrorText(t *testing.T) {
	cause := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	tests := []struct {
		err  *breaker.UnavailableError
		text string
	}{
		{&breaker.UnavailableError{CircuitOpen: true, RetryAfter: 2100 * time.Millisecond},
			"redismw: redis unavailable: circuit open, next probe in 2.1s"},
		{&breaker.UnavailableError{Err: cause},
			"redismw: redis unavailable: " + cause.Error()},
		{&breaker.UnavailableError{CircuitOpen: true, RetryAfter: time.Millisecond, Err: cause},
			"redismw: redis unavailable: circuit open, next probe in 100ms: " + cause.Error()},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.text {
			t.Errorf("Error() = %q, want %q", got, tt.text)
		}
	}
	if !errors.Is(tests[1].err, cause) {
		t.Error("UnavailableError does not unwrap to its cause")
	}
}

// TestObserve: commands on a closed circuit count failures without a
// lock; suspicions (timeouts) are returned, not counted; a success resets
// the count; a fatal outcome trips at once.
func TestObserve(t *testing.T) {
	t.Run("failures in a row", func(t *testing.T) {
		b := mustNew(t, breaker.Settings{FailureThreshold: 3})
		observe := func(o breaker.Outcome) breaker.Outcome { return b.Observe(b.Epoch(), o) }
		refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		for range 2 {
			observe(breaker.Failure)
		}
		observe(breaker.Success) // resets the count
		for _, err := range []error{&timeoutErr{}, refused} {
			for range 10 {
				if o := observe(breaker.Classify(err)); o != breaker.Suspect {
					t.Fatalf("%v observed as %v, want suspect", err, o)
				}
			}
		}
		for range 2 {
			observe(breaker.Failure)
		}
		if b.State() != breaker.Closed {
			t.Fatalf("state %v after a success, 20 suspicions and 2 failures, want closed", b.State())
		}
		observe(breaker.Failure)
		if b.State() != breaker.Open {
			t.Fatalf("state %v after 3 consecutive failures, want open", b.State())
		}
		if err := b.Refuse(); !errors.Is(err, breaker.ErrUnavailable) {
			t.Fatalf("Refuse on an open circuit = %v", err)
		}
		if got := b.Failures(); got != 5 {
			t.Errorf("Failures() = %d, want 5", got)
		}
		if o := observe(breaker.Failure); o != breaker.Ignored || b.Failures() != 5 {
			t.Errorf("a failure observed on the open circuit: %v, Failures() = %d; want ignored, 5", o, b.Failures())
		}
	})

	t.Run("fatal trips at once", func(t *testing.T) {
		b := mustNew(t, breaker.Settings{})
		b.Observe(b.Epoch(), breaker.Fatal)
		if b.State() != breaker.Open {
			t.Fatalf("state %v after a fatal outcome, want open at once", b.State())
		}
	})

	t.Run("a failure of the period before a trip", func(t *testing.T) {
		b := mustNew(t, breaker.Settings{})
		stale := b.Epoch()
		b.Trip(stale)
		if b.State() != breaker.Open {
			t.Fatalf("state %v after Trip, want open", b.State())
		}
		// It belongs to the period before the trip: the circuit does not
		// count it, and neither does Failures.
		if o := b.Observe(stale, breaker.Failure); o != breaker.Ignored {
			t.Errorf("a late failure observed as %v, want ignored", o)
		}
		if f := b.Failures(); f != 1 {
			t.Errorf("Failures() = %d, want 1 (the trip; not the late failure)", f)
		}
		if b.Trip(stale) {
			t.Error("a second Trip of the same period reported that it opened the circuit")
		}
	})
}

func TestObserveConcurrent(t *testing.T) {
	b := mustNew(t, breaker.Settings{FailureThreshold: 1000})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 500 {
				if (i+j)%2 == 0 {
					b.Observe(b.Epoch(), breaker.Failure)
				} else {
					b.Observe(b.Epoch(), breaker.Success)
				}
			}
		})
	}
	wg.Wait()
	if b.State() != breaker.Closed || b.Failures() != 2000 {
		t.Errorf("state %v, %d failures; want closed (never 1000 in a row), 2000", b.State(), b.Failures())
	}
}

type timeoutErr struct{}

func (*timeoutErr) Error() string   { return "i/o timeout" }
func (*timeoutErr) Timeout() bool   { return true }
func (*timeoutErr) Temporary() bool { return true }

// TestOutageStart: FailingSince is the first failed connect attempt since
// the last success, and survives the trip it leads to; OpenedAt is when
// the circuit left Closed, kept across half-open and reopening; both are
// what the telemetry's outage start is made from.
func TestOutageStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.Settings{FailureThreshold: 2, DisableJitter: true})
		if !b.OpenedAt().IsZero() || !b.FailingSince().IsZero() {
			t.Fatalf("new breaker: OpenedAt %v, FailingSince %v; want zero", b.OpenedAt(), b.FailingSince())
		}
		start := time.Now()
		run(t, b, breaker.Failure) // a cold start's first attempt
		time.Sleep(time.Second)
		run(t, b, breaker.Ignored)
		if got := b.FailingSince(); !got.Equal(start) {
			t.Fatalf("FailingSince %v, want the first failure's %v", got, start)
		}
		run(t, b, breaker.Failure) // trips
		opened := time.Now()
		if b.State() != breaker.Open || !b.OpenedAt().Equal(opened) || !b.FailingSince().Equal(start) {
			t.Fatalf("after the trip: %v, OpenedAt %v (want %v), FailingSince %v (want %v)", b.State(), b.OpenedAt(), opened, b.FailingSince(), start)
		}
		time.Sleep(b.RetryAfter())
		run(t, b, breaker.Failure) // the probe fails: open again
		if !b.OpenedAt().Equal(opened) {
			t.Fatalf("reopening moved OpenedAt to %v, want %v", b.OpenedAt(), opened)
		}
		time.Sleep(b.RetryAfter())
		run(t, b, breaker.Success) // the probe closes it
		if b.State() != breaker.Closed || !b.FailingSince().IsZero() {
			t.Fatalf("after recovery: %v, FailingSince %v; want closed and zero", b.State(), b.FailingSince())
		}
		run(t, b, breaker.Failure)
		run(t, b, breaker.Success)
		if !b.FailingSince().IsZero() {
			t.Fatalf("a success left FailingSince %v", b.FailingSince())
		}
	})
}
