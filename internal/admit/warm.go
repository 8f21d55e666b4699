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
// latency. The warm-up lasts Settings.Warmup, and a quarter second more
// each time while the gate has a queue and served more commands in the
// last quarter second than came, refused ones included (a herd at start
// being served, up to LongWait more; not an overload's queue, which
// shrinks when a stall refuses its waiters, while the middleware refuses
// new requests at the door): a herd is served in order at the pool's
// size, not moved into the limiter's queue, whose limit is half that and
// whose waits are bounded (a herd of 10 000 under -race lost 3 032 of its
// callers to LongWait). When it ends, the commands still waiting (an
// overload's: its queue grew) go on to the limiter's own queue, where the
// excess is refused.

// warmLook is how often the end of the warm-up looks at the gate's queue.
const warmLook = 250 * time.Millisecond

// endWarm runs on the warmEnd timer: it ends the warm-up once it is
// over, unless the gate has a queue and served more than came since the
// last look, and warmCap is not reached: a backlog drained by a service
// just faster than its steady load kept a review's warm-up on for 12.8 s,
// every request in a standing queue.
func (l *Limiter) endWarm() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || !l.warming.Load() {
		return
	}
	now := time.Now().UnixNano()
	c, shed := l.gate.counts(), l.shed.Load()
	came := c.arrived - l.gateSeen.arrived + shed - l.shedSeen // refused at the door or by a stall: they came too
	draining := c.queued > 0 && c.granted-l.gateSeen.granted > came && now < l.warmCap
	l.gateSeen, l.shedSeen = c, shed
	switch left := time.Duration(l.warmUntil.Load() - now); {
	case left > 0:
		l.warmEnd.Reset(min(warmLook, left))
	case draining:
		l.warmEnd.Reset(warmLook)
	default:
		l.warming.Store(false)
		close(l.warmOver)
	}
}

// warmAcquire is Acquire during the warm-up (now is unix nanos) for a
// command that has waited already (waited).
func (l *Limiter) warmAcquire(ctx context.Context, exempt func(context.Context) bool, now int64, waited time.Duration) (Permit, error) {
	if !l.gate.tryAcquire() {
		if exempt != nil && exempt(ctx) {
			return Permit{}, nil
		}
		if l.stalled.Load() || l.silentFor(now, true) {
			return Permit{}, l.refuse(ctx)
		}
		ok, err := l.warmWait(ctx, waited)
		if err != nil {
			return Permit{}, err
		}
		if !ok { // the warm-up ended: the limiter's queue, for what is left of LongWait
			return l.acquire(ctx, exempt, waited+time.Duration(time.Now().UnixNano()-now))
		}
	}
	p, ok := l.lim.TryAcquirePermit()
	if !ok {
		if (l.stalled.Load() || l.silentFor(time.Now().UnixNano(), true)) && (exempt == nil || !exempt(ctx)) {
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
// or LongWait (Shed: the bound of every wait here, as go-redis' pool
// timeout bounds a wait for a connection), or ctx's end (its error).
func (l *Limiter) warmWait(ctx context.Context, waited time.Duration) (bool, error) {
	if l.waiting.Add(1) == 1 {
		l.startWatch() // a hang at start ends the wait
	}
	defer l.waiting.Add(-1)
	l.mu.Lock()
	stall, over := l.stallCtx, l.warmOver
	l.mu.Unlock()
	long := time.NewTimer(l.s.LongWait - waited)
	defer long.Stop()
	if l.gate.acquire(ctx.Done(), stall.Done(), over, long.C) {
		return true, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	select {
	case <-over:
		if stall.Err() == nil {
			return false, nil
		}
	default:
	}
	return false, l.refuse(ctx)
}

// gate is a semaphore whose waiters are served in order.
type gate struct {
	mu      sync.Mutex
	free    int
	waiters list.List // of chan struct{}, closed when given a token
	n       gateCounts
}

// gateCounts are a gate's commands: those that came (took a token at
// once or queued), those given a token, and those waiting now.
type gateCounts struct {
	arrived, granted uint64
	queued           int
}

// counts returns g's counts.
func (g *gate) counts() gateCounts {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.n
	c.queued = g.waiters.Len()
	return c
}

// tryAcquire takes a token if one is free and nobody waits.
func (g *gate) tryAcquire() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.free > 0 && g.waiters.Len() == 0 {
		g.free--
		g.n.arrived++
		g.n.granted++
		return true
	}
	return false
}

// acquire waits for a token until one of the channels fires; it reports
// whether it got one.
func (g *gate) acquire(a, b, c <-chan struct{}, d <-chan time.Time) bool {
	g.mu.Lock()
	g.n.arrived++
	if g.free > 0 && g.waiters.Len() == 0 {
		g.free--
		g.n.granted++
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
	case <-d:
	}
	g.mu.Lock()
	select {
	case <-ch: // given a token meanwhile: give it on
		g.n.granted-- // not served after all
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
		g.n.granted++
		close(e.Value.(chan struct{}))
		return
	}
	g.free++
}
