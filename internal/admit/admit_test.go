package admit_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/admit"
)

// episodes counts a limiter's shedding episodes.
type episodes struct {
	started, stopped atomic.Int32
	shed             atomic.Uint64
}

// newLimiter returns a warm limiter of 2 permits (the least limit) whose
// episodes ep counts.
func newLimiter(t *testing.T, ep *episodes) *admit.Limiter {
	l := admit.New(admit.Settings{MaxWait: 50 * time.Millisecond, MaxLimit: 2, Warmup: time.Nanosecond,
		Started: func(int, int) { ep.started.Add(1) },
		Stopped: func(shed uint64, _ time.Duration) { ep.stopped.Add(1); ep.shed.Store(shed) }})
	t.Cleanup(l.Close)
	time.Sleep(time.Millisecond) // past the warm-up
	return l
}

func acquire(t *testing.T, l *admit.Limiter) admit.Permit {
	t.Helper()
	p, err := l.Acquire(t.Context(), nil)
	if err != nil || !p.Held() {
		t.Fatalf("Acquire below the limit: %v, %v; want a permit", p, err)
	}
	return p
}

func TestBelowTheLimitNothingWaits(t *testing.T) {
	ep := &episodes{}
	l := newLimiter(t, ep)
	for range 1000 {
		p := acquire(t, l)
		q := acquire(t, l)
		l.Release(p, true, true)
		l.Release(q, true, true)
	}
	if l.ShedCount() != 0 || l.Shedding() || ep.started.Load() != 0 {
		t.Fatalf("shed %d, shedding %v, episodes %d: want none below the limit", l.ShedCount(), l.Shedding(), ep.started.Load())
	}
}

// A burst beyond the limit waits for a permit that comes back within
// MaxWait: it is served, not shed.
func TestBurstWaits(t *testing.T) {
	l := newLimiter(t, &episodes{})
	held := []admit.Permit{acquire(t, l), acquire(t, l)}
	var wg sync.WaitGroup
	var admitted atomic.Int32
	for range 2 {
		wg.Go(func() {
			p, err := l.Acquire(context.Background(), nil)
			if err == nil && p.Held() {
				admitted.Add(1)
				l.Release(p, true, true)
			}
		})
	}
	time.Sleep(2 * time.Millisecond)
	for _, p := range held {
		l.Release(p, true, true) // each hands its permit to a waiter
	}
	wg.Wait()
	if admitted.Load() != 2 || l.ShedCount() != 0 {
		t.Fatalf("admitted %d of 2 waiting, shed %d: a burst that drains within MaxWait must wait, not be shed", admitted.Load(), l.ShedCount())
	}
}

// Nothing comes back (a hang): the waiters are refused — with Shed, at
// once once the stall is told — and so is every later command, until a
// permit is released; the episode starts and stops once.
func TestStallRefusesAtOnce(t *testing.T) {
	ep := &episodes{}
	l := newLimiter(t, ep)
	held := []admit.Permit{acquire(t, l), acquire(t, l)}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Go(func() { _, errs[i] = l.Acquire(context.Background(), nil) })
	}
	wg.Wait()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("50 waiters took %v to be refused: a stall must refuse them within MaxWait (50ms)", d)
	}
	for i, err := range errs {
		var ue *breaker.UnavailableError
		if !errors.Is(err, admit.ErrOverloaded) || !errors.Is(err, breaker.ErrUnavailable) || !errors.As(err, &ue) || ue.RetryAfter != time.Second || ue.CircuitOpen {
			t.Fatalf("waiter %d: %v; want Shed (unavailable, ErrOverloaded, RetryAfter 1s)", i, err)
		}
	}
	if !l.Shedding() {
		t.Fatal("Shedding false during a stall")
	}
	// Arrivals during the stall are refused without waiting.
	for range 100 {
		t0 := time.Now()
		if _, err := l.Acquire(context.Background(), nil); !errors.Is(err, admit.ErrOverloaded) {
			t.Fatalf("an arrival during the stall: %v; want it shed", err)
		}
		if d := time.Since(t0); d > time.Second {
			t.Fatalf("an arrival during the stall waited %v", d)
		}
	}
	if n := ep.started.Load(); n != 1 {
		t.Fatalf("%d episodes started; want 1", n)
	}
	l.Release(held[0], true, true) // Redis answers again
	p := acquire(t, l)
	l.Release(p, true, true)
	l.Release(held[1], true, true)
	deadline := time.Now().Add(10 * time.Second)
	for ep.stopped.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if ep.stopped.Load() != 1 || ep.shed.Load() != l.ShedCount() || l.ShedCount() != 150 {
		t.Fatalf("episodes stopped %d (shed %d), ShedCount %d: want 1 episode of 150", ep.stopped.Load(), ep.shed.Load(), l.ShedCount())
	}
	if l.Shedding() {
		t.Fatal("still shedding after the episode ended")
	}
}

func TestExemptIsNeverRefused(t *testing.T) {
	l := newLimiter(t, &episodes{})
	held := []admit.Permit{acquire(t, l), acquire(t, l)}
	defer func() {
		for _, p := range held {
			l.Release(p, true, true)
		}
	}()
	ctx := admit.Exempt(t.Context())
	for range 10 {
		p, err := l.Acquire(ctx, admit.IsExempt)
		if err != nil || p.Held() {
			t.Fatalf("exempt command beyond the limit: %v, %v; want to run without a permit", p, err)
		}
	}
	if _, err := l.Acquire(t.Context(), admit.IsExempt); !errors.Is(err, admit.ErrOverloaded) {
		t.Fatalf("an unmarked command beyond a stalled limit: %v; want it shed", err)
	}
}

// During the warm-up a command beyond the limit runs at once (a herd at
// start), as long as fewer than MaxLimit (the pool's size) are in flight;
// beyond that it waits its turn, as it would for a pooled connection, and
// nothing is refused. (Running them all at once let a service started into
// a 10× overload queue a second of arrivals in go-redis' pool: served p99
// 5.2 s.)
func TestWarmupRefusesNothing(t *testing.T) {
	l := admit.New(admit.Settings{MaxLimit: 20, Warmup: time.Hour})
	t.Cleanup(l.Close)
	var held []admit.Permit
	for i := range 20 {
		p, err := l.Acquire(t.Context(), nil)
		if err != nil {
			t.Fatalf("command %d during the warm-up: %v", i, err)
		}
		held = append(held, p)
	}
	if l.Inflight() != 10 {
		t.Fatalf("inflight %d; want the initial limit's 10 (the rest ran without a permit)", l.Inflight())
	}
	done := make(chan error, 1)
	go func() {
		p, err := l.Acquire(t.Context(), nil)
		if err == nil {
			l.Release(p, true, true)
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the 21st command, MaxLimit in flight: %v at once; want it to wait its turn", err)
	case <-time.After(100 * time.Millisecond):
	}
	for _, p := range held {
		l.Release(p, true, true)
	}
	if err := <-done; err != nil {
		t.Fatalf("the 21st command: %v; want it admitted once a permit came back", err)
	}
}

// A caller whose context has ended gets its context's error when it
// would wait: not shed, not counted.
func TestCallerGivesUp(t *testing.T) {
	l := newLimiter(t, &episodes{})
	p, q := acquire(t, l), acquire(t, l)
	defer l.Release(p, true, true)
	defer l.Release(q, true, true)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Acquire(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled waiter: %v; want context.Canceled", err)
	}
	if n := l.ShedCount(); n != 0 {
		t.Fatalf("a cancelled waiter counted as shed (%d)", n)
	}
}

// What the limit admitted has been in flight without an answer for longer
// than the stall watch's two ticks (a hang that began before): the next
// command that finds no free permit is refused at once — it does not
// queue for the watch to tell the stall —, and an answer ends the stall.
func TestSilenceToldOnArrival(t *testing.T) {
	l := admit.New(admit.Settings{MaxWait: 10 * time.Second, LongWait: 10 * time.Second, MaxLimit: 2, Warmup: time.Nanosecond})
	t.Cleanup(l.Close)
	time.Sleep(time.Millisecond) // past the warm-up
	slow := acquire(t, l)
	time.Sleep(250 * time.Millisecond) // a command that took 250 ms: the watch's tick is 500 ms
	l.Release(slow, true, true)
	held := []admit.Permit{acquire(t, l), acquire(t, l)}
	time.Sleep(1200 * time.Millisecond) // two ticks without an answer, and more
	t0 := time.Now()
	if _, err := l.Acquire(t.Context(), nil); !errors.Is(err, admit.ErrOverloaded) {
		t.Fatalf("an arrival after 1.2 s without an answer: %v; want it shed", err)
	}
	// Queued, it would wait for the watch's two ticks (1 s) to tell the stall.
	if d := time.Since(t0); d > 500*time.Millisecond {
		t.Fatalf("it was refused after %v: it queued for the watch instead of being refused at once", d)
	}
	if !l.Shedding() {
		t.Fatal("Shedding false after a stall told on arrival")
	}
	l.Release(held[0], false, false) // its caller gave up: no answer, still stalled
	if !l.Shedding() {
		t.Fatal("a release without an answer ended the stall")
	}
	l.Release(held[1], false, false) // nothing admitted in flight now, nothing answered
	// Nothing in flight can be answered: the next arrival goes on and asks
	// Redis again; refused at the door, no request would ever be sent and
	// the stall would never end (TestOverloadCapacityComesBack under
	// .ci/run).
	if l.Shedding() {
		t.Fatal("Shedding with nothing in flight")
	}
	again := acquire(t, l)
	l.Release(again, true, true) // Redis answers
	if l.Shedding() {
		t.Fatal("Redis answered, and the limiter still says stalled")
	}
	p := acquire(t, l)
	l.Release(p, true, true)
}

// A burst arriving at an idle limiter finds its first commands just sent:
// silence since then is not a hang, so the rest wait their turn.
func TestIdleThenBurstIsNotSilence(t *testing.T) {
	l := newLimiter(t, &episodes{})
	time.Sleep(100 * time.Millisecond) // idle: the last answer is old
	held := []admit.Permit{acquire(t, l), acquire(t, l)}
	var wg sync.WaitGroup
	var admitted atomic.Int32
	wg.Go(func() {
		if p, err := l.Acquire(context.Background(), nil); err == nil {
			admitted.Add(1)
			l.Release(p, true, true)
		}
	})
	time.Sleep(2 * time.Millisecond)
	l.Release(held[0], true, true)
	l.Release(held[1], true, true)
	wg.Wait()
	if admitted.Load() != 1 || l.ShedCount() != 0 {
		t.Fatalf("admitted %d, shed %d: a burst after idleness is not a hang", admitted.Load(), l.ShedCount())
	}
}

// During the warm-up a command beyond the limit runs at once (a herd at
// start) — unless what is in flight has had no answer for the warm-up's
// stall bound (250 ms): a hang at start costs the commands beyond the
// limit that bound, not read_timeout each.
func TestWarmupHang(t *testing.T) {
	l := admit.New(admit.Settings{MaxWait: 10 * time.Second, LongWait: 10 * time.Second, MaxLimit: 20, Warmup: time.Minute})
	t.Cleanup(l.Close)
	var held []admit.Permit
	for i := range 15 { // the initial limit's 10, and 5 beyond
		p, err := l.Acquire(t.Context(), nil)
		if err != nil {
			t.Fatalf("command %d during the warm-up: %v; want it admitted", i, err)
		}
		held = append(held, p)
	}
	if l.ShedCount() != 0 {
		t.Fatalf("%d shed during the warm-up's herd", l.ShedCount())
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := l.Acquire(t.Context(), nil); !errors.Is(err, admit.ErrOverloaded) {
		t.Fatalf("an arrival beyond the limit after 400 ms without an answer, during the warm-up: %v; want it shed", err)
	}
	for _, p := range held {
		l.Release(p, true, true)
	}
	p, err := l.Acquire(t.Context(), nil)
	if err != nil {
		t.Fatalf("after Redis answered: %v; want admitted", err)
	}
	l.Release(p, true, true)
}
