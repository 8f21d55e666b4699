package admit_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ankitoon/redismw/internal/admit"
)

func always(context.Context) bool { return true }

// An exempt command (a readiness PING, the connector's check) is never
// refused during the warm-up either: not when it finds a free place at the
// gate but no permit while Redis has answered nothing for the warm-up's
// stall bound. (On 60a31c6 it was shed: /readyz answered 503 overload.)
func TestWarmupExemptNeverRefused(t *testing.T) {
	l := admit.New(admit.Settings{MaxLimit: 20, Warmup: time.Hour})
	t.Cleanup(l.Close)
	var held []admit.Permit
	defer func() {
		for _, p := range held {
			l.Release(p, false, false)
		}
	}()
	for range 12 { // the limit's 10, and 2 beyond it, unanswered
		p, err := l.Acquire(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, p)
	}
	time.Sleep(400 * time.Millisecond) // past the warm-up's stall bound (250 ms)
	if _, err := l.Acquire(t.Context(), nil); !errors.Is(err, admit.ErrOverloaded) {
		t.Fatalf("an unmarked command after 400 ms without an answer: %v; want it shed", err)
	}
	p, err := l.Acquire(t.Context(), always)
	if err != nil {
		t.Fatalf("an exempt command during the warm-up: %v; want it run", err)
	}
	l.Release(p, true, true)
}

// A herd that takes longer than the warm-up to serve is served whole, in
// turns at the gate (MaxLimit at once): the warm-up goes on while the
// gate serves more than comes. (When the warm-up ended after Warmup
// whatever the gate's queue, the waiters moved to the limiter's queue,
// whose limit starts at half the gate's, and its LongWait refused the
// last of them: a herd of 10 000 under -race lost 3 032.)
func TestWarmupServesAHerdThatOutlastsIt(t *testing.T) {
	const herd, hold = 600, 30 * time.Millisecond // 30 turns of 20: 0.9 s
	l := admit.New(admit.Settings{MaxLimit: 20, Warmup: 300 * time.Millisecond, LongWait: 500 * time.Millisecond})
	t.Cleanup(l.Close)
	var inflight, most atomic.Int64
	var refused atomic.Int64
	var wg sync.WaitGroup
	for range herd {
		wg.Go(func() {
			p, err := l.Acquire(t.Context(), nil)
			if err != nil {
				refused.Add(1)
				return
			}
			n := inflight.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(hold)
			inflight.Add(-1)
			l.Release(p, true, true)
		})
	}
	wg.Wait()
	if n := refused.Load(); n != 0 {
		t.Fatalf("%d of a herd of %d refused; want it served whole", n, herd)
	}
	if m := most.Load(); m > 20 {
		t.Fatalf("%d in flight at once during the warm-up; want at most MaxLimit (20)", m)
	}
}

// A stall ends when the limiter restarts (the circuit's probe got an
// answer, or a new client): what was told of the old connections says
// nothing of now. (Before, a command beyond the limit after the circuit
// closed was refused at once until an admitted one was answered: 290 of
// a herd of 300 on a healthy Redis.)
func TestRestartEndsAStall(t *testing.T) {
	l := admit.New(admit.Settings{MaxLimit: 2, Warmup: time.Nanosecond, MaxWait: time.Second, LongWait: 5 * time.Second})
	t.Cleanup(l.Close)
	time.Sleep(time.Millisecond)
	a, b := acquire(t, l), acquire(t, l)
	time.Sleep(200 * time.Millisecond) // no answer for 2 × 2 × minStall and more
	if _, err := l.Acquire(t.Context(), nil); !errors.Is(err, admit.ErrOverloaded) {
		t.Fatalf("beyond the limit after 200 ms without an answer: %v; want it shed", err)
	}
	l.Release(a, false, false)
	l.Release(b, false, false)
	l.Restart()
	time.Sleep(10 * time.Millisecond) // past the warm-up
	a, b = acquire(t, l), acquire(t, l)
	done := make(chan error, 1)
	go func() {
		p, err := l.Acquire(t.Context(), nil)
		if err == nil {
			l.Release(p, true, true)
		}
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	l.Release(a, true, true)
	l.Release(b, true, true)
	if err := <-done; err != nil {
		t.Fatalf("beyond the limit after a restart: %v; want it to wait its turn", err)
	}
}

// A restart during the warm-up keeps the gate's order: a command waiting
// there is served before one that came after the restart.
func TestRestartKeepsTheGatesOrder(t *testing.T) {
	l := admit.New(admit.Settings{MaxLimit: 2, Warmup: 100 * time.Millisecond})
	t.Cleanup(l.Close)
	a, b := acquire(t, l), acquire(t, l)
	order := make(chan string, 2)
	wait := func(name string) {
		p, err := l.Acquire(t.Context(), nil)
		order <- name
		if err == nil {
			l.Release(p, true, true)
		}
	}
	go wait("first")
	time.Sleep(50 * time.Millisecond)
	l.Restart()
	time.Sleep(10 * time.Millisecond)
	go wait("second")
	time.Sleep(60 * time.Millisecond) // past the first warm-up's end
	l.Release(a, true, true)
	got := <-order
	l.Release(b, true, true)
	<-order
	if got != "first" {
		t.Fatalf("%s served first; want the command that waited before the restart", got)
	}
}
