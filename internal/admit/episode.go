package admit

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Shedding episodes: a refusal starts one (logged once, through
// Settings.Started), a second without a refusal ends it (Settings.Stopped).

// Shedding reports whether a command arriving now would be refused at
// once: a shedding episode is under way, Redis stalled, and something
// admitted is still in flight. It is one atomic load unless a shedding
// episode is under way. (A queue that grows refuses its commands after
// MaxWait each, not at once: refusing arrivals before they queue would
// stop the growth that tells overload, and with it the shedding. Only an
// answer ends a stall: once nothing admitted is in flight, the next
// arrival goes on and asks Redis again, or the door would keep the stall
// forever, nothing sent and nothing answered — TestOverloadCapacityComesBack
// under .ci/run. Opening the door whenever a permit was free instead
// raised BenchmarkOverload's served p99 at 10× from 0.18 s to 0.47–0.57 s.)
func (l *Limiter) Shedding() bool {
	return l.shedding.Load() && l.stalled.Load() && l.busy.Load() > 0
}

// Refuse counts a refusal made on the limiter's behalf (the middleware's,
// of a request that would have been shed) and returns [Shed].
func (l *Limiter) Refuse(ctx context.Context) error { return l.refuse(ctx) }

// refuse counts a refusal, starts a shedding episode if none is under way,
// puts an event on ctx's span, and returns Shed.
func (l *Limiter) refuse(ctx context.Context) error {
	now := time.Now()
	n := l.shed.Add(1)
	l.lastShed.Store(now.UnixNano())
	if !l.shedding.Load() && l.shedding.CompareAndSwap(false, true) {
		l.epStart.Store(now.UnixNano())
		l.epShed.Store(n - 1)
		l.mu.Lock()
		if !l.closed {
			l.quietTick.Reset(quiet)
		}
		l.mu.Unlock()
		if l.s.Started != nil {
			l.s.Started(l.lim.Limit(), l.lim.Inflight())
		}
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("redismw.overload.shed", trace.WithAttributes(
			attribute.Int("redismw.overload.limit", l.lim.Limit()),
			attribute.Int("redismw.overload.inflight", l.lim.Inflight())))
	}
	return Shed
}

// endEpisode ends the shedding episode once quiet has passed without a
// refusal, or looks again when it will have.
func (l *Limiter) endEpisode() {
	since := time.Since(time.Unix(0, l.lastShed.Load()))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if since < quiet {
		l.quietTick.Reset(quiet - since)
		return
	}
	if !l.shedding.CompareAndSwap(true, false) {
		return
	}
	if l.s.Stopped != nil {
		start := time.Unix(0, l.epStart.Load())
		lasted := time.Unix(0, l.lastShed.Load()).Sub(start)
		shed := l.shed.Load() - l.epShed.Load()
		l.mu.Unlock()
		l.s.Stopped(shed, lasted)
		l.mu.Lock()
	}
}
