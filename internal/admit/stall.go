package admit

import (
	"context"
	"math"
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
	l.watchSeen, l.silent = l.admitted.Load(), 0
	l.watch.Reset(l.stallAfter())
}

// took records that a measured command admitted at start, with busy
// admitted commands in flight (itself included), ended at now.
func (l *Limiter) took(now, start, busy int64) {
	if at := l.slowAt.Load(); now-at >= int64(time.Second) && l.slowAt.CompareAndSwap(at, now) {
		l.slowPrev.Store(l.slowNow.Swap(0))
	}
	if at := l.cheapAt.Load(); now-at >= int64(costWindow) && l.cheapAt.CompareAndSwap(at, now) {
		l.recover(l.cheapNow.Swap(math.MaxInt64))
	}
	d := now - start
	for cur := l.slowNow.Load(); d > cur && !l.slowNow.CompareAndSwap(cur, d); cur = l.slowNow.Load() {
	}
	cost := d / max(busy, 1)
	for cur := l.cheapNow.Load(); cost < cur && !l.cheapNow.CompareAndSwap(cur, cost); cur = l.cheapNow.Load() {
	}
}

// recover gives the limit its capacity back when Redis serves faster
// again. cheapest is the lowest cost per command of the costWindow that
// just ended: a command's latency over the admitted commands in flight when it
// was admitted. Redis serves one command at a time: while it is the
// bottleneck, a command waits behind those in flight, and its latency
// over their number is what one command costs Redis, whatever the limit
// (the lowest of tens or hundreds, so that its noise is small). When it
// falls to half of the window before's or less while the limit is below its
// initial one, Redis has become faster (a slow script ended, a fork
// finished, a CPU freed) and the limit learned in the slow spell is
// stale: the limiter starts again from its initial limit. (The library's
// limiter alone would hold the floor for tens of seconds: its throughput
// correlation, over 50 windows, still remembers the slow spell;
// TestOverloadCapacityComesBack. Two first versions were fooled by a limit
// that moves during the slow spell, and started again from 10 in the
// middle of an overload: the fastest command over the limit at the
// second's end, and the fastest command alone.)
func (l *Limiter) recover(cheapest int64) {
	if cheapest == math.MaxInt64 {
		return
	}
	l.ceiling.Store(max(int64(latencyBudget)/max(cheapest, 1), minLimit))
	before := l.cheapPrev.Swap(cheapest)
	if l.lim.Limit() < l.initial && before > 0 && 2*cheapest <= before {
		l.lim.Reset()
		l.cheapPrev.Store(0)
	}
}

// ceilingFor is the library's cap on the limit, given the commands in
// flight: limitFactor times them (the library's default), and no more than
// keeps a command's wait in Redis within latencyBudget at Redis' cost per
// command (recover). Redis serves one command at a time, so a limit above
// that adds only waiting: it is what the library's latency trend misses
// when an overload is under way from the start (a service started, or
// Redis back after an outage, into a load Redis cannot serve), where the
// latency it learns as its baseline is already the overload's, and the
// limit climbed to the pool's size: served p99 1.2 s at 10×, where a
// service already running kept 0.2–0.4 s.
func (l *Limiter) ceilingFor(inflight int) float64 {
	f := float64(limitFactor * inflight)
	if c := l.ceiling.Load(); c > 0 {
		f = min(f, float64(c))
	}
	return f
}

// stallAfter is the watch's tick: twice the longest a measured command
// took in the last second or two, at least minStall (during the warm-up,
// half of warmStall), at most LongWait.
// Two ticks with waiters and no admission tell a stall: behind a slow
// network, commands that take 100 ms come back in batches 100 ms apart.
func (l *Limiter) stallAfter() time.Duration {
	slowest := time.Duration(max(l.slowNow.Load(), l.slowPrev.Load()))
	least := minStall
	if time.Now().UnixNano() < l.warmUntil.Load() {
		least = warmStall / 2 // a herd at start waits for new connections
	}
	return min(max(2*slowest, least), l.s.LongWait)
}

// look is the watch's tick: while commands wait, a stretch with no
// admission is a stall, which refuses every waiter at once.
func (l *Limiter) look() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.waiting.Load() == 0 {
		return
	}
	n := l.admitted.Load()
	if n != l.watchSeen {
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
	if now-max(l.lastAnswer.Load(), l.busySince.Load()) < int64(after) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stalled.Load() {
		l.stallLocked()
	}
	return true
}
