package admit

import (
	"context"
	"sync"
	"time"
)

// The limiter's queue: a command beyond the limit waits here for a
// permit, and the excess is refused once the queue is seen to grow.

// wait queues for a permit, up to MaxWait, and MaxWait more each time it
// is over while no waiter found the queue growing since it was last empty
// (see grows), at most LongWait in all (waited, at the warm-up's gate,
// included); a stall ends every wait at once.
// The caller's goroutine waits in the limiter's queue itself (a permit
// released wakes it directly: one hand-off, as in go-redis' pool); a timer
// ticks every half MaxWait and ends the wait when it is over.
func (l *Limiter) wait(ctx context.Context, waited time.Duration) (Permit, error) {
	if l.waiting.Add(1) == 1 {
		l.startWatch()
	}
	atArrival := l.unserved.Add(1)
	l.mu.Lock()
	stall := l.stallCtx
	l.mu.Unlock()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(stall, cancel)
	defer stop()
	start := time.Now()
	// A command that comes while the queue overloads, or within MaxWait
	// of it (the finding is renewed from waiters' second MaxWait on, so
	// it lapses between findings), is the overload's excess: refused
	// after MaxWait even if the queue stops growing meanwhile (the load
	// ended: the waiters left would otherwise be served one after the
	// other, hundreds of ms late — BenchmarkOverload's served p99 at 10×
	// was 0.5 s in one run in two). A waiter in the queue when a waiter
	// finds it overloaded is the excess too: the finding lasts MaxWait,
	// so its next MaxWait's end sees it (tick). One that comes later, within 3 × MaxWait, waits at most that long:
	// it probes whether the overload goes on (it finds growth from its
	// second MaxWait's end), and if the load ends meanwhile it is the
	// excess all the same.
	until := l.overloadedUntil.Load()
	excess := start.UnixNano() < until+int64(l.maxWait)
	longest := l.s.LongWait - waited
	if start.UnixNano() < until+3*int64(l.maxWait) {
		longest = 3 * l.maxWait
	}
	w := &waiter{l: l, start: start, cancel: cancel, atPrev: atArrival, atHalf: atArrival, runStart: -1, excess: excess, longest: longest}
	w.mu.Lock()
	w.t = time.AfterFunc(l.maxWait/2, w.tick)
	w.mu.Unlock()
	p, err := l.lim.AcquirePermit(wctx)
	// Out of the queue the moment the permit (or the end) comes, so that
	// its length is the waiters', not theirs and the admitted.
	if l.waiting.Add(-1) == 0 {
		l.overloadedUntil.Store(0) // the queue emptied: it kept up
	}
	w.mu.Lock()
	w.done = true
	w.t.Stop()
	shed := w.shed
	w.mu.Unlock()
	if !shed || err == nil {
		l.unserved.Add(-1)
	}
	if err != nil {
		if ctx.Err() != nil {
			return Permit{}, ctx.Err()
		}
		return Permit{}, l.refuse(ctx)
	}
	if l.stalled.Load() {
		l.stalled.Store(false)
	}
	return l.admit(p), nil
}

// waiter is one wait's timer state (see Limiter.wait).
type waiter struct {
	l      *Limiter
	start  time.Time
	cancel context.CancelFunc

	mu   sync.Mutex
	t    *time.Timer
	done bool
	// Guarded by mu: the ticks so far, the queue's length (unserved) at
	// the last MaxWait's end, at the last half tick, and when it last
	// began to grow (see grows).
	ticks                    int
	atPrev, atHalf, runStart int64
	excess                   bool          // came into an overloaded queue (see wait)
	shed                     bool          // refused as the overload's excess
	longest                  time.Duration // the longest it waits (see wait)
}

// tick runs every half MaxWait while the command waits; at every second
// tick it decides whether to wait MaxWait more, or ends the wait (a
// permit that comes meanwhile is the command's all the same).
func (w *waiter) tick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	l := w.l
	half := l.maxWait / 2
	w.ticks++
	now := l.unserved.Load()
	if w.ticks%2 == 1 {
		w.atHalf = now
		w.t.Reset(half)
		return
	}
	at := time.Now().UnixNano()
	if w.runStart < 0 || now <= w.atPrev || l.starved(at) {
		// The first MaxWait, one without growth, or one in which the
		// service's own lag held the queue (lag.go): growth from here.
		w.runStart = now
	}
	if l.grows(w.runStart, w.atHalf, now) {
		l.overloadedUntil.Store(at + int64(l.maxWait))
	}
	w.atPrev = now
	w.shed = w.excess || l.overloaded()
	if !w.shed && time.Since(w.start)+l.maxWait <= w.longest {
		w.t.Reset(half)
		return
	}
	w.cancel()
}

// overloaded reports whether a waiter found the queue growing within the
// last MaxWait.
func (l *Limiter) overloaded() bool { return time.Now().UnixNano() < l.overloadedUntil.Load() }

// grows reports whether the queue grows, as a waiter sees it at the end
// of each MaxWait it waits: it was runStart long when it last began to
// grow, without a MaxWait in which it did not (from the waiter's first
// MaxWait on: what it met when it arrived, a burst or callers joining,
// does not count), half a MaxWait ago atHalf, and is now long now. It
// grows if it is still growing and has grown by more than twice the limit
// and 2. Callers taking turns (each sending again when answered) move the
// queue up and down by at most the limit — a batch of answers releases
// that many permits and brings that many commands back —, however many
// they are; an open stream of commands faster than permits come back
// grows it without end. The length counts the excess refused (unserved):
// refused after MaxWait each, an open stream's queue stops growing, and
// its growth would otherwise be seen only between findings. The refused
// a closed loop sends again cannot keep a finding alive: after one, the
// excess is refused within 2 × MaxWait, and a waiter that came later
// finds growth only over a MaxWait from its first on, when none is.
func (l *Limiter) grows(runStart, atHalf, now int64) bool {
	return now > atHalf && now-runStart > 2*int64(l.lim.Limit())+2
}
