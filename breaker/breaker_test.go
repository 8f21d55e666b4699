package breaker_test

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ankitoon/redismw/breaker"
)

func mustNew(t *testing.T, s breaker.Settings) *breaker.Breaker {
	t.Helper()
	b, err := breaker.New(s)
	if err != nil {
		t.Fatalf("breaker.New: %v", err)
	}
	return b
}

// run admits one request and reports o; it fails the test if refused.
func run(t *testing.T, b *breaker.Breaker, o breaker.Outcome) {
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
	if !ue.CircuitOpen || ue.RetryAfter < 3*time.Second || ue.RetryAfter > 6*time.Second {
		t.Errorf("refusal = %+v, want CircuitOpen and RetryAfter in (3s, 6s]", ue)
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
		probe.Report(breaker.Ignored) // says nothing: frees the place
		probe, err = b.Allow()
		if err != nil {
			t.Fatalf("no probe admitted after an ignored one: %v", err)
		}
		probe.Report(breaker.Failure)
		if b.State() != breaker.Open || b.RetryAfter() <= 0 {
			t.Fatalf("after a failed probe: state %v, RetryAfter %v; want open with a new period", b.State(), b.RetryAfter())
		}
		time.Sleep(b.RetryAfter())
		run(t, b, breaker.Success)
		if b.State() != breaker.Closed {
			t.Fatalf("state %v after a successful probe, want closed", b.State())
		}
		want := "redis:closed>open redis:open>half-open redis:half-open>open redis:open>half-open redis:half-open>closed"
		if got := strings.Join(seen, " "); got != want {
			t.Errorf("transitions:\n got %s\nwant %s", got, want)
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
	lo, hi := periods(breaker.Settings{Timeout: 10 * time.Second})
	if lo < 8*time.Second || hi > 12*time.Second || hi-lo < 2*time.Second {
		t.Errorf("default jitter: open periods in [%v, %v], want spread over most of [8s, 12s]", lo, hi)
	}
	lo, hi = periods(breaker.Settings{Timeout: 10 * time.Second, DisableJitter: true})
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
	}
	for _, tt := range tests {
		_, err := breaker.New(tt.s)
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
		secs int
	}{
		{&breaker.UnavailableError{CircuitOpen: true, RetryAfter: 2100 * time.Millisecond},
			"redismw: redis unavailable: circuit open, next probe in 2.1s", 3},
		{&breaker.UnavailableError{Err: cause},
			"redismw: redis unavailable: " + cause.Error(), 0},
		{&breaker.UnavailableError{CircuitOpen: true, RetryAfter: time.Millisecond, Err: cause},
			"redismw: redis unavailable: circuit open, next probe in 100ms: " + cause.Error(), 1},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.text {
			t.Errorf("Error() = %q, want %q", got, tt.text)
		}
		if got := tt.err.RetryAfterSeconds(); got != tt.secs {
			t.Errorf("RetryAfterSeconds() of %v = %d, want %d", tt.err.RetryAfter, got, tt.secs)
		}
	}
	if !errors.Is(tests[1].err, cause) {
		t.Error("UnavailableError does not unwrap to its cause")
	}
}

func TestDo(t *testing.T) {
	b := mustNew(t, breaker.Settings{FailureThreshold: 3})
	fail := errors.New("read tcp: i/o timeout")
	timeout := func() error { return &timeoutErr{} }
	for range 2 {
		if err := b.Do(timeout); !errors.As(err, new(*timeoutErr)) {
			t.Fatalf("Do returned %v, want the request's error", err)
		}
	}
	_ = b.Do(func() error { return nil })  // resets the count
	_ = b.Do(func() error { return fail }) // not a classified failure: ignored
	for range 2 {
		_ = b.Do(timeout)
	}
	if b.State() != breaker.Closed {
		t.Fatalf("state %v after a success and 2 failures, want closed", b.State())
	}
	_ = b.Do(timeout)
	if b.State() != breaker.Open {
		t.Fatalf("state %v after 3 consecutive failures, want open", b.State())
	}
	ran := false
	err := b.Do(func() error { ran = true; return nil })
	if ran || !errors.Is(err, breaker.ErrUnavailable) {
		t.Fatalf("Do on an open circuit: ran %v, err %v; want refused without running", ran, err)
	}
	if got := b.Failures(); got != 5 {
		t.Errorf("Failures() = %d, want 5", got)
	}
}

func TestDoConcurrent(t *testing.T) {
	b := mustNew(t, breaker.Settings{FailureThreshold: 1000})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 500 {
				if (i+j)%2 == 0 {
					_ = b.Do(func() error { return &timeoutErr{} })
				} else {
					_ = b.Do(func() error { return nil })
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
