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
// gate serves more than comes, up to LongWait more. (When the warm-up
// ended after Warmup whatever the gate's queue, the waiters moved to the
// limiter's queue, whose limit starts at half the gate's, and its
// LongWait refused the last of them: a herd of 10 000 under -race lost
// 3 032 in a review.) Here the herd takes twice the warm-up.
func TestWarmupServesAHerdThatOutlastsIt(t *testing.T) {
	const herd, hold = 400, 30 * time.Millisecond // 20 turns of 20: 0.6 s
	l := admit.New(admit.Settings{MaxLimit: 20, Warmup: 300 * time.Millisecond, LongWait: time.Second})
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
// closed was refused at once until an admitted one was answered: a review
// saw 290 of a herd of 300 refused on a healthy Redis.)
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
	defer l.Release(a, true, true)
	defer l.Release(b, true, true)
	// Both permits are held when the next command comes: it waits for
	// one (here until its caller gives up, 10 ms, before the watch's two
	// ticks of 20 ms could tell a new stall), rather than being refused
	// at once by the stall told before the restart.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("beyond the limit after a restart: %v; want it to wait its turn (until its caller gives up)", err)
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

// A wait at the gate ends after LongWait (refused), as every wait of the
// limiter does, even while Redis answers: a backlog served just faster
// than it grows kept a review's requests in a standing queue for up to
// 8 s, where the limiter's queue refuses after LongWait. Here 40
// commands of 20 ms each meet a gate of 2: the last of them would wait
// 400 ms, LongWait is 300 ms.
func TestWarmupWaitIsBounded(t *testing.T) {
	const long = 300 * time.Millisecond
	l := admit.New(admit.Settings{MaxLimit: 2, Warmup: time.Hour, LongWait: long})
	t.Cleanup(l.Close)
	var refused atomic.Int64
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			start := time.Now()
			p, err := l.Acquire(t.Context(), nil)
			if err != nil {
				if d := time.Since(start); !errors.Is(err, admit.ErrOverloaded) || d < long {
					t.Errorf("refused after %v: %v; want ErrOverloaded after LongWait (%v)", d, err, long)
				}
				refused.Add(1)
				return
			}
			time.Sleep(20 * time.Millisecond)
			l.Release(p, true, true)
		})
	}
	wg.Wait()
	if refused.Load() == 0 {
		t.Fatal("none of 40 refused: the last waited 400 ms at the gate; want the waits bounded by LongWait (300 ms)")
	}
}
