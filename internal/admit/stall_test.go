package admit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ankitoon/redismw/internal/admit"
)

// stallLimiter returns a warm limiter of 2 permits whose waiters wait
// long (MaxWait and LongWait 10 s), so that only a stall ends a wait
// early.
func stallLimiter(t *testing.T) *admit.Limiter {
	t.Helper()
	l := admit.New(admit.Settings{MaxWait: 10 * time.Second, LongWait: 10 * time.Second, MaxLimit: 2, Warmup: time.Nanosecond})
	t.Cleanup(l.Close)
	time.Sleep(time.Millisecond) // past the warm-up
	return l
}

// waitRefused queues n waiters on l and returns a channel that gets the
// first waiter's refusal, and one that gets every admitted waiter's
// permit.
func waitRefused(t *testing.T, l *admit.Limiter, n int) (refused chan error, admitted chan admit.Permit) {
	refused, admitted = make(chan error, n), make(chan admit.Permit, n)
	for range n {
		go func() {
			p, err := l.Acquire(t.Context(), nil)
			if err != nil {
				refused <- err
				return
			}
			admitted <- p
		}()
	}
	return refused, admitted
}

// Redis hangs: what it admitted ends without an answer (the connection's
// deadline, a caller giving up) every 100 ms, each freeing its permit for
// a waiter. That is not progress: the watch (ticks of 200 ms, after a
// command that took 100 ms) tells the stall, and the waiters are
// refused. When an admission counted as progress, the waiters were
// admitted one by one into the hang and none was refused.
func TestUnansweredReleasesAreNoProgress(t *testing.T) {
	l := stallLimiter(t)
	slow := acquire(t, l)
	time.Sleep(100 * time.Millisecond)
	l.Release(slow, true, true)
	held := []admit.Permit{acquire(t, l), acquire(t, l)}
	refused, admitted := waitRefused(t, l, 40)
	defer func() { // whatever is left, released at the end
		for _, p := range held {
			l.Release(p, false, false)
		}
		for range len(admitted) {
			l.Release(<-admitted, false, false)
		}
	}()
	deadline := time.After(3 * time.Second)
	for {
		select {
		case err := <-refused:
			if !errors.Is(err, admit.ErrOverloaded) {
				t.Fatalf("a waiter in a hang: %v; want it shed", err)
			}
			return
		case p := <-admitted:
			held = append(held, p)
		case <-time.After(100 * time.Millisecond):
			if len(held) > 0 {
				l.Release(held[0], false, false) // ended without an answer
				held = held[1:]
			}
		case <-deadline:
			t.Fatal("no waiter refused in 3 s of a hang whose commands ended unanswered every 100 ms: the watch took admissions for progress")
		}
	}
}

// A command whose connection deadline passed (measured, not answered)
// teaches the limit that Redis is slow, but not the stall watch how long
// an answer may take: after one that took 1.5 s, a hang is still told in
// a few ticks of the answered commands' latency. When it fed the slowest
// latency, the tick was 3 s and the waiter waited two of them.
func TestTimeoutIsNoAnswersLatency(t *testing.T) {
	l := stallLimiter(t)
	l.Release(acquire(t, l), true, true) // answered at once
	timedOut := acquire(t, l)
	time.Sleep(1500 * time.Millisecond)
	l.Release(timedOut, false, true)
	held := []admit.Permit{acquire(t, l), acquire(t, l)}
	defer func() {
		for _, p := range held {
			l.Release(p, false, false)
		}
	}()
	t0 := time.Now()
	refused, admitted := waitRefused(t, l, 1)
	select {
	case err := <-refused:
		if !errors.Is(err, admit.ErrOverloaded) {
			t.Fatalf("a waiter in a hang: %v; want it shed", err)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("the hang was told after %v: the timeout lengthened the watch's tick", d)
		}
	case p := <-admitted:
		l.Release(p, false, false)
		t.Fatal("a waiter was admitted while every permit was held")
	case <-time.After(8 * time.Second):
		t.Fatal("no stall told in 8 s")
	}
}
