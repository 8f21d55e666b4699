package admit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// When an overload ends, the excess still queued is refused, not served
// one after the other hundreds of ms late: commands arrive every
// millisecond for 600–750 ms at a "Redis" that serves one at a time in
// 10 ms (100 a second), then stop. With refusals that lapsed between findings
// of growth, the queue left when the stream ended (40–80 commands) was
// served at 100 a second: 16–44 commands of a run waited 0.3–0.7 s, in
// one run in two.
func TestExcessRefusedWhenTheLoadEnds(t *testing.T) {
	const maxWait = 50 * time.Millisecond // newLimiter's
	var served, late, shed atomic.Int32
	// Streams of four lengths, a MaxWait apart, so that one ends in each
	// phase of the findings' cycle.
	for _, n := range []int{600, 650, 700, 750} {
		l := newLimiter(t, &episodes{})
		var redis sync.Mutex // serves one command at a time
		var wg sync.WaitGroup
		start := time.Now()
		for i := range n {
			if d := time.Until(start.Add(time.Duration(i) * time.Millisecond)); d > 0 {
				time.Sleep(d)
			}
			wg.Go(func() {
				t0 := time.Now()
				p, err := l.Acquire(context.Background(), nil)
				if err != nil {
					shed.Add(1)
					return
				}
				if time.Since(t0) > 4*maxWait {
					late.Add(1)
				}
				redis.Lock()
				time.Sleep(10 * time.Millisecond)
				redis.Unlock()
				served.Add(1)
				l.Release(p, true, true)
			})
		}
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
// refused): after an open stream at 10× what "Redis" serves ends, 30
// callers taking turns are not shed once the excess is gone.
func TestClosedLoopAfterAnOverloadIsNotShed(t *testing.T) {
	l := newLimiter(t, &episodes{})
	var redis sync.Mutex
	serve := func() { redis.Lock(); time.Sleep(10 * time.Millisecond); redis.Unlock() }
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 500 {
		if d := time.Until(start.Add(time.Duration(i) * time.Millisecond)); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			p, err := l.Acquire(context.Background(), nil)
			if err == nil {
				serve()
				l.Release(p, true, true)
			}
		})
	}
	// Then 30 callers taking turns, each sending again at once, refused
	// or not.
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
				serve()
				served.Add(1)
				l.Release(p, true, true)
			}
		})
	}
	wg.Wait()
	t.Logf("closed loop after overload: served %d, shed after 500 ms %d", served.Load(), shedLate.Load())
	if shedLate.Load() > 0 {
		t.Errorf("%d commands of callers taking turns shed from 500 ms after an overload ended: the excess they send again must not keep the overload's finding alive", shedLate.Load())
	}
}
