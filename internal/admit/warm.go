package admit

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// The warm-up after a (re)start has no baseline yet, so it refuses
// nothing for the queue's growth: a herd at start must be served as
// before. But it runs at most the pool's size at once (gate): beyond it a
// command waits its turn in the limiter, in order, as it would for a
// pooled connection. Letting every command through put a second of
// arrivals into go-redis' pool when a service started into an overload:
// served p99 5.2 s, and the limit learned those seconds as Redis' normal
// latency. A command still waiting when the warm-up ends goes on to the
// limiter's own queue, where the overload's excess is refused.

// warmAcquire is Acquire during the warm-up (now, unix nanos, is before
// warmUntil).
func (l *Limiter) warmAcquire(ctx context.Context, exempt func(context.Context) bool, now int64) (Permit, error) {
	if !l.gate.tryAcquire() {
		if exempt != nil && exempt(ctx) {
			return Permit{}, nil
		}
		if l.stalled.Load() || l.silentFor(now, true) {
			return Permit{}, l.refuse(ctx)
		}
		ok, err := l.warmWait(ctx, now)
		if err != nil {
			return Permit{}, err
		}
		if !ok { // the warm-up ended: the limiter's queue
			return l.Acquire(ctx, exempt)
		}
	}
	p, ok := l.lim.TryAcquirePermit()
	if !ok {
		if l.stalled.Load() || l.silentFor(time.Now().UnixNano(), true) {
			l.gate.release()
			return Permit{}, l.refuse(ctx)
		}
		p = nil // beyond the limit, within the pool's size
	}
	permit := l.admit(p)
	permit.gated = true
	return permit, nil
}

// warmWait waits for the gate until the warm-up ends (false), a stall
// (Shed) or ctx's end (its error).
func (l *Limiter) warmWait(ctx context.Context, now int64) (bool, error) {
	if l.waiting.Add(1) == 1 {
		l.startWatch() // a hang at start ends the wait
	}
	defer l.waiting.Add(-1)
	l.mu.Lock()
	stall := l.stallCtx
	l.mu.Unlock()
	end := time.NewTimer(time.Duration(l.warmUntil.Load() - now))
	defer end.Stop()
	switch ok := l.gate.acquire(ctx.Done(), stall.Done(), end.C); {
	case ok:
		return true, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	case stall.Err() != nil:
		return false, l.refuse(ctx)
	default:
		return false, nil
	}
}

// gate is a semaphore whose waiters are served in order.
type gate struct {
	mu      sync.Mutex
	free    int
	waiters list.List // of chan struct{}, closed when given a token
}

// tryAcquire takes a token if one is free and nobody waits.
func (g *gate) tryAcquire() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.free > 0 && g.waiters.Len() == 0 {
		g.free--
		return true
	}
	return false
}

// acquire waits for a token until one of the channels fires; it reports
// whether it got one.
func (g *gate) acquire(a, b <-chan struct{}, c <-chan time.Time) bool {
	g.mu.Lock()
	if g.free > 0 && g.waiters.Len() == 0 {
		g.free--
		g.mu.Unlock()
		return true
	}
	ch := make(chan struct{})
	e := g.waiters.PushBack(ch)
	g.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-a:
	case <-b:
	case <-c:
	}
	g.mu.Lock()
	select {
	case <-ch: // given a token meanwhile: give it on
		g.mu.Unlock()
		g.release()
	default:
		g.waiters.Remove(e)
		g.mu.Unlock()
	}
	return false
}

// release gives a token back: to the first waiter, if any.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.waiters.Front(); e != nil {
		g.waiters.Remove(e)
		close(e.Value.(chan struct{}))
		return
	}
	g.free++
}
