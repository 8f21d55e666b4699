// Package admit is adaptive admission control in front of Redis: it lets
// through as many commands at once as Redis serves in time now, lets the
// others wait their turn, and refuses the excess of an overload after a
// short wait (DESIGN semantic 12: overload is not failure).
//
// The limit is failsafe-go's adaptivelimiter (a latency-trend limit: it
// shrinks while the latency of what it admits rises above its baseline and
// grows while it does not), updated every 250 ms with at least 20
// commands (the library's default, 1 s and 50, moved the limit a quarter
// as fast: BenchmarkOverload's served p50 at 10× was 140–152 ms against
// 121–126 ms). Around it this package adds what a Redis
// client's commands need and the library alone does not do:
//
//   - a queue that tells overload from many callers: a command that finds
//     no free permit waits for one up to MaxWait, and MaxWait more each
//     time while the queue is not overloaded, up to LongWait in all. The
//     queue is overloaded when a waiter finds it growing by more than
//     twice the limit (see grows): commands arrive faster than permits
//     come back (an open stream of requests, more than Redis serves).
//     Then, for MaxWait after (or until the queue empties), a command that
//     has waited MaxWait is refused, and so is every command that was in
//     the queue then or came within MaxWait after it: the overload's
//     excess, refused even if the load ends meanwhile (served one after
//     the other, the last of it would be hundreds of ms late). The queue's
//     length for this counts the excess refused as still there: a queue
//     that sheds stays as long as MaxWait's arrivals. Callers taking turns — a fixed set,
//     each sending again when answered (workers, a load test's users, a
//     slow network with a small pool) — and a burst being drained are not
//     overload, however long the queue: refusing them would serve no one
//     sooner, so they wait, as they would for go-redis' pool (queue.go);
//   - a stall cut-off: while commands wait and Redis answers nothing for
//     two ticks of twice the longest a command took lately (each at
//     least 20 ms; see stallAfter), or a command finds no free
//     permit while Redis has answered nothing in flight for as long
//     (silentFor), Redis has stopped
//     answering: the waiters and every later command are refused at once
//     until Redis answers again (a hang before
//     the circuit opens is overload's extreme; the middleware refuses
//     requests before their handlers run meanwhile: Shedding); a slow
//     script that holds Redis for its usual time is not a stall;
//   - a warm-up after each (re)start — a new client, a circuit closed
//     again —, during which nothing is refused for the queue's growth:
//     the limiter has no baseline yet, and a herd at start must be served
//     as before, so up to MaxLimit (the pool's size) run at once, beyond
//     the limit without a permit, and the others wait their turn in order
//     (warm.go), unless Redis has answered nothing in flight for
//     warmStall (a hang at start);
//   - the service's own lag (lag.go, cpu.go): while its CPUs are busy
//     (a burst of HTTP requests, a thousand clients in a closed loop) or
//     its goroutines wait to run long enough, the late replies are not
//     taken for a slow Redis: the queue's growth is not overload, a
//     silence is not a stall, and the latencies are not learned;
//   - exemptions: a command the caller marks (Exempt), such as a health
//     probe or the connector's own check, runs without a permit when none
//     is free, and is never refused.
//
// A refusal is the shared [Shed] error, an unavailable error whose cause
// is [ErrOverloaded]: the circuit ignores it (breaker.Classify), and the
// middleware answers 503 with Retry-After, reason overload.
package admit

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/errkind"
	"github.com/ankitoon/redismw/telemetry"
)

// ErrOverloaded is the cause of a refused command: Redis serves more
// slowly than the commands arrive, and this one was shed.
var ErrOverloaded = errkind.New("redismw: redis overloaded: command shed", telemetry.ReasonOverload)

// Shed is the error of every refused command: unavailable (it matches
// breaker.ErrUnavailable) and worth trying again in a second. It is shared:
// a refusal allocates nothing.
var Shed error = &breaker.UnavailableError{RetryAfter: time.Second, Err: ErrOverloaded}

// Defaults.
const (
	DefaultMaxWait = 40 * time.Millisecond
	// Warmup is how long after a (re)start nothing is refused for the
	// queue's growth, at least (warm.go).
	Warmup = time.Second
	// quiet is how long without a refusal ends a shedding episode.
	quiet = time.Second
	// minStall is the shortest silence that tells a stall.
	minStall = 20 * time.Millisecond
	// warmStall is the shortest silence that tells a stall during the
	// warm-up, when how long Redis takes is not known yet: a herd at
	// start waits for new connections.
	warmStall = 250 * time.Millisecond
	// initialLimit is the limit at a (re)start, when the pool allows it.
	initialLimit = 10
	// minLimit is the lowest limit: Redis always has a next command.
	minLimit = 2
)

// Settings configure a [Limiter].
type Settings struct {
	// MaxWait is how long a command waits for a permit before it looks
	// whether the queue is overloaded (see the package comment). Zero
	// means DefaultMaxWait.
	MaxWait time.Duration
	// LongWait bounds a wait in a queue that drains fast (see wait): the
	// client's pool timeout. Zero means 3s.
	LongWait time.Duration
	// MaxLimit is the highest limit: the client's pool size, or more for a
	// cluster (whose pools are per node). At least minLimit.
	MaxLimit int
	// Warmup is how long after a (re)start nothing is refused for the
	// queue's growth, at least (warm.go). Zero means
	// the constant Warmup.
	Warmup time.Duration
	// Started is called when a shedding episode starts, with the limit and
	// the commands admitted in flight; Stopped when it ends (a second
	// without a refusal), with the commands refused and how long it
	// lasted. Either may be nil. They are called from the refusing
	// command's goroutine and from a timer's.
	Started func(limit, inflight int)
	Stopped func(shed uint64, lasted time.Duration)
}

// Limiter admits commands. Its methods are safe for concurrent use.
type Limiter struct {
	lim     adaptivelimiter.AdaptiveLimiter[any]
	maxWait time.Duration
	s       Settings
	initial int // the limit at a (re)start
	// gate bounds what the warm-up runs at once to MaxLimit (warm.go);
	// warming is set from a (re)start until the warm-up ends (endWarm,
	// on the warmEnd timer), and warmOver is closed then: Acquire's fast
	// path reads no clock. warmCap (unix nanos) is the latest the
	// warm-up ends, gateSeen and shedSeen the gate's counts and the
	// refusals at endWarm's last look; mu guards warmOver, warmCap,
	// gateSeen and shedSeen.
	gate     gate
	warming  atomic.Bool
	warmEnd  *time.Timer
	warmOver chan struct{}
	warmCap  int64
	gateSeen gateCounts
	shedSeen uint64

	warmUntil atomic.Int64 // unix nanos: nothing is refused before
	waiting   atomic.Int64 // commands waiting for a permit
	// unserved is waiting plus every command refused as the overload's
	// excess, ever: the queue's length had they not been refused, which
	// tells whether it grows (see grows). Commands a stall refused, or
	// that waited LongWait, are not counted: they say nothing of arrivals.
	unserved atomic.Int64
	stalled  atomic.Bool
	// busy is how many admitted commands are in flight (with a permit,
	// or beyond the limit during the warm-up), busySince (unix nanos)
	// when the last of them went from none to one, lastAnswer when Redis
	// last answered one: see silentFor.
	busy                  atomic.Int64
	busySince, lastAnswer atomic.Int64
	// slowest is the longest latency of a measured command in the
	// current second (slowNow) and the one before (slowPrev), nanos;
	// slowAt is when the current second began (unix nanos).
	slowNow, slowPrev, slowAt atomic.Int64
	// fastNow is the shortest latency of the current second, and costPrev
	// the cost per command that recover found for the one before.
	fastNow, costPrev atomic.Int64
	// fastPrev is the shortest latency of the second before.
	fastPrev atomic.Int64
	// lag reads how long the service's goroutines wait to run (lag.go).
	lag lagMeter
	// cpu tells whether the service's CPUs are busy (cpu.go).
	cpu cpuMeter
	// overloadedUntil (unix nanos) is MaxWait after a waiter last found
	// commands arriving faster than permits come back (see grows); the
	// queue emptying clears it.
	overloadedUntil atomic.Int64

	shedding  atomic.Bool
	shed      atomic.Uint64 // commands refused, ever
	lastShed  atomic.Int64  // unix nanos of the last refusal
	epStart   atomic.Int64  // unix nanos the episode started
	epShed    atomic.Uint64 // shed when it started
	quietTick *time.Timer   // ends an episode after quiet without a refusal

	mu        sync.Mutex
	stallCtx  context.Context // cancelled (and replaced) on a stall
	stallStop context.CancelFunc
	watch     *time.Timer // runs while commands wait: tells a stall
	watchSeen int64       // lastAnswer when watch last looked; mu guards it
	silent    int         // consecutive ticks without an answer; mu guards it
	closed    bool
}

// New returns a Limiter, warming up from now.
func New(s Settings) *Limiter {
	if s.MaxWait <= 0 {
		s.MaxWait = DefaultMaxWait
	}
	if s.Warmup <= 0 {
		s.Warmup = Warmup
	}
	if s.LongWait <= 0 {
		s.LongWait = 3 * time.Second
	}
	maxLimit := max(s.MaxLimit, minLimit)
	l := &Limiter{
		maxWait: s.MaxWait,
		s:       s,
		initial: min(initialLimit, maxLimit),
		gate:    gate{free: maxLimit},
	}
	l.lim = adaptivelimiter.NewBuilder[any]().
		WithLimits(minLimit, uint(maxLimit), uint(min(initialLimit, maxLimit))).
		WithRecentWindow(250*time.Millisecond, 30*time.Second, 20).
		// The library caps the limit at 5 × what is in flight; at light
		// load that is 5, which a network latency step then fills, and the
		// limit fell to 2 under CPU contention (TestOverloadLatencyStep):
		// the cap is never below the initial limit.
		WithMaxLimitFunc(func(inflight int) float64 { return float64(max(5*inflight, l.initial)) }).
		Build()
	l.fastNow.Store(math.MaxInt64)
	l.fastPrev.Store(math.MaxInt64)
	l.stallCtx, l.stallStop = context.WithCancel(context.Background())
	l.quietTick = time.AfterFunc(time.Hour, l.endEpisode)
	l.quietTick.Stop()
	l.watch = time.AfterFunc(time.Hour, l.look)
	l.watch.Stop()
	l.warmEnd = time.AfterFunc(time.Hour, l.endWarm)
	l.warmEnd.Stop()
	l.Restart()
	return l
}

// Restart forgets what the limiter learned (a new client, or Redis back
// after an outage: the latencies before say nothing of now) and warms up
// again: for the warm-up (Settings.Warmup) nothing is refused for the
// queue's growth.
func (l *Limiter) Restart() {
	l.lim.Reset()
	l.stalled.Store(false) // Redis answered (the circuit's probe), or a new client
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.warmUntil.Store(now.Add(l.s.Warmup).UnixNano())
	l.warmCap = now.Add(l.s.Warmup + l.s.LongWait).UnixNano()
	l.gateSeen, l.shedSeen = l.gate.counts(), l.shed.Load()
	if l.closed {
		return // no timer would end the warm-up
	}
	if !l.warming.Load() { // a warm-up under way keeps its waiters
		l.warmOver = make(chan struct{})
		l.warming.Store(true)
	}
	l.warmEnd.Reset(min(warmLook, l.s.Warmup))
}

// Close stops the limiter's timers. Commands still admit and release.
func (l *Limiter) Close() {
	l.mu.Lock()
	l.closed = true
	if l.warming.Load() { // the gate's waiters go on
		l.warming.Store(false)
		close(l.warmOver)
	}
	l.mu.Unlock()
	l.watch.Stop()
	l.quietTick.Stop()
	l.warmEnd.Stop()
}

// Permit is an admitted command's: [Limiter.Release] it exactly once. The
// zero Permit (an exempt command beyond the limit) is released as well, as
// a no-op.
type Permit struct {
	p     adaptivelimiter.Permit // nil beyond the limit
	start int64                  // unix nanos; 0 for the zero Permit
	gated bool                   // holds a token of the warm-up's gate
}

// Held reports whether p holds one of the limit's permits.
func (p Permit) Held() bool { return p.p != nil }

// admit returns the Permit of a command admitted now: with p, or beyond
// the limit (nil, during the warm-up).
func (l *Limiter) admit(p adaptivelimiter.Permit) Permit {
	now := time.Now().UnixNano()
	if l.busy.Add(1) == 1 {
		l.busySince.Store(now)
	}
	// The CPU's windows follow the traffic (one atomic load, and the
	// process' CPU time read once per cpuWindow at most), so that a burst's
	// first queue is judged on a window that began before it.
	l.cpu.read(now)
	return Permit{p: p, start: now}
}

// Acquire admits a command, or refuses it with [Shed]; it returns ctx's
// error if ctx ends while it waits. exempt, called only when no permit is
// free, reports whether the command must not be refused: it then runs
// without a permit.
func (l *Limiter) Acquire(ctx context.Context, exempt func(context.Context) bool) (Permit, error) {
	return l.acquire(ctx, exempt, 0)
}

// acquire is Acquire for a command that has waited already (at the
// warm-up's gate): its wait counts toward LongWait.
func (l *Limiter) acquire(ctx context.Context, exempt func(context.Context) bool, waited time.Duration) (Permit, error) {
	if l.warming.Load() {
		now := time.Now().UnixNano()
		l.cpu.read(now)
		return l.warmAcquire(ctx, exempt, now, waited)
	}
	if p, ok := l.lim.TryAcquirePermit(); ok {
		return l.admit(p), nil
	}
	if exempt != nil && exempt(ctx) {
		return Permit{}, nil
	}
	now := time.Now().UnixNano()
	l.cpu.read(now)
	if l.stalled.Load() || l.silentFor(now, false) {
		return Permit{}, l.refuse(ctx)
	}
	return l.wait(ctx, waited)
}

// Release ends an admitted command. answered reports whether Redis
// answered it (an error reply included), whoever was still waiting: proof
// that Redis is not stalled. measured reports whether its latency says how
// fast Redis serves (Redis answered while its caller waited, or the
// connection's own deadline passed); a command its caller abandoned, or
// one that met a network error or no free connection, is not measured.
func (l *Limiter) Release(p Permit, answered, measured bool) {
	if p.start == 0 {
		return
	}
	now := time.Now().UnixNano()
	l.busy.Add(-1)
	if p.gated {
		l.gate.release()
	}
	if answered {
		l.lastAnswer.Store(now)
		if l.stalled.Load() {
			l.stalled.Store(false)
		}
	}
	if measured {
		if answered { // a passed deadline is no answer's latency: it must not lengthen stallAfter
			l.took(now, p.start)
		}
		measured = !l.cpu.recent(now) && !l.starvedBy(l.lag.recent(now)) // the service's lag says nothing of Redis
	}
	switch {
	case p.p == nil:
	case measured:
		p.p.Record()
	default:
		p.p.Drop()
	}
}

// Limit is the current limit.
func (l *Limiter) Limit() int { return l.lim.Limit() }

// Inflight is how many admitted commands are in flight.
func (l *Limiter) Inflight() int { return l.lim.Inflight() }

// ShedCount is how many commands were refused since the limiter was made.
func (l *Limiter) ShedCount() uint64 { return l.shed.Load() }

// exemptKey marks a context whose commands are never refused (Exempt).
type exemptKey struct{}

// Exempt returns a context whose commands are never refused for overload:
// they take a permit when one is free, and run without one otherwise (a
// health probe: readiness must not flap while Redis is merely slow).
func Exempt(ctx context.Context) context.Context { return context.WithValue(ctx, exemptKey{}, true) }

// IsExempt reports whether ctx is one of Exempt's.
func IsExempt(ctx context.Context) bool { return ctx.Value(exemptKey{}) != nil }
