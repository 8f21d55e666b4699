package admit

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// Telling a stall: Redis has stopped answering what it admitted (a hang
// before the circuit opens, overload's extreme).

// startWatch starts watching the queue for a stall.
func (l *Limiter) startWatch() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.watchSeen, l.silent = l.lastAnswer.Load(), 0
	l.watch.Reset(l.stallAfter())
}

// took records that a measured command admitted at start was answered
// at now.
func (l *Limiter) took(now, start int64) {
	at := l.slowAt.Load()
	if now-at >= int64(time.Second) && l.slowAt.CompareAndSwap(at, now) {
		l.slowPrev.Store(l.slowNow.Swap(0))
		fastest := l.fastNow.Swap(math.MaxInt64)
		l.fastPrev.Store(fastest)
		l.recover(fastest)
	}
	d := now - start
	storeMax(&l.slowNow, d)
	storeMin(&l.fastNow, d)
}

// storeMax raises a to v if v is more.
func storeMax(a *atomic.Int64, v int64) {
	for cur := a.Load(); v > cur && !a.CompareAndSwap(cur, v); cur = a.Load() {
	}
}

// storeMin lowers a to v if v is less.
func storeMin(a *atomic.Int64, v int64) {
	for cur := a.Load(); v < cur && !a.CompareAndSwap(cur, v); cur = a.Load() {
	}
}

// recover gives the limit its capacity back when Redis serves faster
// again. fastest is the shortest a measured command took in the second
// that just ended. Redis serves one command at a time: while it is the
// bottleneck, what the limit admits waits behind the rest of it, and the
// fastest command takes about the limit times Redis' cost per command,
// whatever the limit. When that cost (fastest / limit) falls to half of
// the second before's or less, Redis has become faster (a slow script
// ended, a fork finished, a CPU freed) and the limit learned in the slow
// spell is stale: the limiter starts again from its initial limit. (The
// library's limiter alone would hold the floor for tens of seconds: its
// throughput correlation, over 50 windows, still remembers the slow spell;
// TestOverloadCapacityComesBack.)
func (l *Limiter) recover(fastest int64) {
	limit := int64(l.lim.Limit())
	if fastest == math.MaxInt64 || limit <= 0 {
		return
	}
	cost := fastest / limit
	before := l.costPrev.Swap(cost)
	if limit < int64(l.initial) && before > 0 && 2*cost <= before {
		l.lim.Reset()
		l.costPrev.Store(0)
	}
}

// stallAfter is the watch's tick: twice the longest a measured command
// took in the last second or two, at least minStall (during the warm-up,
// half of warmStall), at most LongWait.
// Two ticks with waiters and no answer tell a stall: behind a slow
// network, commands that take 100 ms come back in batches 100 ms apart.
func (l *Limiter) stallAfter() time.Duration {
	slowest := time.Duration(max(l.slowNow.Load(), l.slowPrev.Load()))
	least := minStall
	if time.Now().UnixNano() < l.warmUntil.Load() {
		least = warmStall / 2 // a herd at start waits for new connections
	}
	return min(max(2*slowest, least), l.s.LongWait)
}

// look is the watch's tick: while commands wait, a stretch in which Redis
// answered nothing is a stall, which refuses every waiter at once. An
// admission is not an answer: a hung Redis's commands end at their
// connection's deadline (read_timeout), or when their callers give up,
// and free permits for waiters all the same; counting those as progress
// kept the stall from being told (a hang right after an overload, when
// two ticks outlast read_timeout: every request waited LongWait).
func (l *Limiter) look() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.waiting.Load() == 0 {
		return
	}
	n := l.lastAnswer.Load()
	if n != l.watchSeen || l.starved(time.Now().UnixNano()) {
		l.silent = 0
	} else if l.silent++; l.silent >= 2 { // two silent ticks: a late timer is not a stall
		l.silent = 0
		l.stallLocked()
	}
	l.watchSeen = n
	l.watch.Reset(l.stallAfter())
}

// stallLocked marks Redis stalled and ends every wait; l.mu is held.
func (l *Limiter) stallLocked() {
	l.stalled.Store(true)
	l.stallStop()
	l.stallCtx, l.stallStop = context.WithCancel(context.Background())
}

// silentFor tells, for a command that found no free permit at now (unix
// nanos), whether Redis has been silent long enough to be stalled: what
// it admitted is in flight and none of it was answered for twice the
// watch's tick (during the warm-up, when the slowest latency is not known
// yet, at least warmStall) since the first of it was sent. It then marks
// Redis stalled. This tells a hang that began before the command came at
// once, where the watch needs two ticks from the first waiter on: with
// commands in flight the whole time, a hang of 40 ms refuses the next
// arrival in microseconds.
func (l *Limiter) silentFor(now int64, warm bool) bool {
	if l.busy.Load() <= 0 {
		return false
	}
	after := 2 * l.stallAfter()
	if warm {
		after = max(after, warmStall)
	}
	if now-max(l.lastAnswer.Load(), l.busySince.Load()) < int64(after) || l.starved(now) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stalled.Load() {
		l.stallLocked()
	}
	return true
}
