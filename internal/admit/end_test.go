package admit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ankitoon/redismw/internal/admit"
)

// slowRedis serves one command at a time in 10 ms: 100 a second.
type slowRedis struct{ mu sync.Mutex }

func (r *slowRedis) serve() {
	r.mu.Lock()
	time.Sleep(10 * time.Millisecond)
	r.mu.Unlock()
}

// stream sends a command every millisecond for n ms (an open stream, 10×
// what r serves) through l to r, and calls done, if not nil, with how
// long each waited for its permit and the refusal if it was refused. It
// returns at once; wg ends when every command has.
func stream(l *admit.Limiter, r *slowRedis, n int, wg *sync.WaitGroup, done func(waited time.Duration, err error)) {
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * time.Millisecond)); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			t0 := time.Now()
			p, err := l.Acquire(context.Background(), nil)
			if done != nil {
				done(time.Since(t0), err)
			}
			if err == nil {
				r.serve()
				l.Release(p, true, true)
			}
		})
	}
}

// When an overload ends, the excess still queued is refused, not served
// one after the other hundreds of ms late: an open stream of 600–750 ms
// at 10× what Redis serves, then nothing. With refusals that lapsed
// between findings of growth (83ad6f2), the queue left when a stream
// ended (40–80 commands) was served at 100 a second: 56 and 58 commands
// of the four streams waited over 200 ms.
func TestExcessRefusedWhenTheLoadEnds(t *testing.T) {
	const maxWait = 50 * time.Millisecond // newLimiter's
	var served, late, shed atomic.Int32
	count := func(waited time.Duration, err error) {
		switch {
		case err != nil:
			shed.Add(1)
		case waited > 4*maxWait:
			late.Add(1)
			served.Add(1)
		default:
			served.Add(1)
		}
	}
	// Streams of four lengths, a MaxWait apart, so that one ends in each
	// phase of the findings' cycle.
	for _, n := range []int{600, 650, 700, 750} {
		var wg sync.WaitGroup
		stream(newLimiter(t, &episodes{}), &slowRedis{}, n, &wg, count)
		wg.Wait()
	}
	t.Logf("served %d, shed %d, waited over %v: %d", served.Load(), shed.Load(), 4*maxWait, late.Load())
	if shed.Load() == 0 {
		t.Fatalf("nothing shed at 10× what Redis serves")
	}
	if late.Load() > 10 {
		t.Errorf("%d admitted commands waited over %v for a permit: the excess left when the load ended must be refused, not served late", late.Load(), 4*maxWait)
	}
}

// The refused that callers taking turns send again at once do not keep
// an overload's finding alive (the queue's growth counts the excess
// refused): after an open stream at 10× what Redis serves ends, 30
// callers taking turns are not shed once the excess is gone.
func TestClosedLoopAfterAnOverloadIsNotShed(t *testing.T) {
	l, r := newLimiter(t, &episodes{}), &slowRedis{}
	var wg sync.WaitGroup
	stream(l, r, 500, &wg, nil)
	end := time.Now().Add(1500 * time.Millisecond)
	late := time.Now().Add(500 * time.Millisecond)
	var shedLate, served atomic.Int32
	for range 30 {
		wg.Go(func() {
			for time.Now().Before(end) {
				p, err := l.Acquire(context.Background(), nil)
				if err != nil {
					if time.Now().After(late) {
						shedLate.Add(1)
					}
					continue
				}
				r.serve()
				served.Add(1)
				l.Release(p, true, true)
			}
		})
	}
	wg.Wait()
	t.Logf("callers taking turns after an overload: served %d, shed after 500 ms %d", served.Load(), shedLate.Load())
	if shedLate.Load() > 0 {
		t.Errorf("%d commands of callers taking turns shed from 500 ms after an overload ended: the excess they send again must not keep the overload's finding alive", shedLate.Load())
	}
}
