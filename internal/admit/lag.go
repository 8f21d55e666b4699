package admit

import (
	"math"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// Telling the service's own lag from Redis' slowness. A command's latency
// is measured from its admission to its release, in the caller's
// goroutine: when the service's CPU is saturated (a burst of thousands of
// HTTP requests on two cores, other processes on the machine), a reply
// Redis sent in microseconds waits for its goroutine to run, and the
// latency, the silence and the queue all look like Redis falling behind.
// The Go scheduler says how long runnable goroutines waited to run
// (runtime/metrics /sched/latencies); while that wait is a large part of
// the latencies the limiter sees (starved), the limiter does not judge
// Redis by them: it neither refuses a growing queue, nor calls a silence a
// stall, nor learns the latencies. It does not let commands past the
// limit either: a thousand goroutines started into a hung Redis lag too,
// and letting them through would make them all wait for it. (Doing so
// served most warm bursts of 2 000 HTTP requests on two cores whole, where
// 1 991 were shed, but let the excess of TestOverloadHungRedis reach the
// hung Redis under -race.) A command's release only looks at the last
// lag read (recent): the runtime's metrics are read on the paths where
// commands wait, never on a command's own path while none does.

// schedLatencies is the runtime's metric: the time goroutines spent
// runnable before they ran.
const schedLatencies = "/sched/latencies:seconds"

// schedRunnable and schedProcs are the runtime's count of goroutines
// ready to run and its GOMAXPROCS.
const (
	schedRunnable = "/sched/goroutines/runnable:goroutines"
	schedProcs    = "/sched/gomaxprocs:threads"
)

// lagMeter reads the scheduler's latencies since it last looked. Safe for
// concurrent use; a read within minLagInterval of the last one, or while
// another goroutine reads, costs two atomic loads.
type lagMeter struct {
	at  atomic.Int64 // unix nanos of the last read
	lag atomic.Int64 // the mean over the interval before it, nanos
	// crowdedAt is when a read last found the scheduler crowded (unix
	// nanos; see crowded).
	crowdedAt atomic.Int64

	mu     sync.Mutex
	sample []metrics.Sample
	prev   []uint64 // the histogram's counts at the last read
}

// minLagInterval is the shortest interval the meter measures over: fewer
// samples say little (the runtime tracks one goroutine transition in 8).
const minLagInterval = 5 * time.Millisecond

// sched is what the meter read: the mean time a goroutine waited to run
// over the interval, and whether the scheduler was crowded (see crowded)
// at a read within crowdMemory.
type sched struct {
	at      int64 // when it was asked for (unix nanos)
	lag     time.Duration
	crowded bool
}

// crowdMemory is how long a crowded scheduler counts: the count of
// goroutines ready to run is a moment's, falls each time the burst's
// goroutines park at once, and is not read during a pause of the whole
// service (under -race, a mean lag of 30–165 ms at times in a burst of
// 1 000): with 50 ms, one burst in ten under -race was still shed in
// part (198 and 264 of 1 000).
const crowdMemory = 250 * time.Millisecond

// read returns what the runtime said between the last two reads at least
// minLagInterval apart, now in unix nanos; zero what it does not report.
func (m *lagMeter) read(now int64) sched {
	if now-m.at.Load() < int64(minLagInterval) || !m.mu.TryLock() {
		return m.last(now)
	}
	defer m.mu.Unlock()
	if now-m.at.Load() < int64(minLagInterval) {
		return m.last(now)
	}
	if m.sample == nil {
		m.sample = []metrics.Sample{{Name: schedLatencies}, {Name: schedRunnable}, {Name: schedProcs}}
	}
	metrics.Read(m.sample)
	if r, p := m.sample[1].Value, m.sample[2].Value; r.Kind() == metrics.KindUint64 && p.Kind() == metrics.KindUint64 &&
		r.Uint64() >= crowded*p.Uint64() {
		m.crowdedAt.Store(now)
	}
	var lag int64 // none ran after a wait, or the first read: no lag known
	if h := m.sample[0].Value; h.Kind() == metrics.KindFloat64Histogram {
		lag = m.mean(h.Float64Histogram())
	}
	m.lag.Store(lag)
	m.at.Store(now)
	return m.last(now)
}

// mean returns the mean of what h counted since the last read, nanos.
func (m *lagMeter) mean(h *metrics.Float64Histogram) int64 {
	var n uint64
	var sum float64
	for i, c := range h.Counts {
		if i >= len(m.prev) || c == m.prev[i] {
			continue
		}
		d := c - m.prev[i]
		n += d
		sum += float64(d) * bucketMid(h.Buckets[i], h.Buckets[i+1])
	}
	m.prev = append(m.prev[:0], h.Counts...)
	if n == 0 {
		return 0
	}
	return int64(sum / float64(n) * 1e9)
}

// last is what the last reads found, at now (unix nanos).
func (m *lagMeter) last(now int64) sched {
	return sched{now, time.Duration(m.lag.Load()), now-m.crowdedAt.Load() <= int64(crowdMemory)}
}

// recent returns what the last read found if it was at most staleLag
// before now (unix nanos), else zero; it never reads the runtime's
// metrics.
func (m *lagMeter) recent(now int64) sched {
	if now-m.at.Load() > int64(staleLag) {
		return sched{at: now}
	}
	return m.last(now)
}

// staleLag is how old a lag recent still reports: the waiters' ticks and
// the stall watch read the meter every MaxWait/2 and stallAfter while
// commands wait, which is when the limit binds.
const staleLag = 50 * time.Millisecond

// bucketMid is a histogram bucket's middle, in seconds; a bucket open on
// one side counts as its closed edge.
func bucketMid(lo, hi float64) float64 {
	switch {
	case math.IsInf(lo, -1):
		return max(hi, 0)
	case math.IsInf(hi, 1):
		return lo
	}
	return (lo + hi) / 2
}

// minStarve is the least scheduler lag that can be the service's own
// slowness rather than noise.
const minStarve = 5 * time.Millisecond

// crowded is how many goroutines ready to run per GOMAXPROCS tell that
// the service's own CPU is saturated: while Redis serves more slowly than
// commands arrive, the service's goroutines wait for Redis, not to run
// (BenchmarkOverload at 10×: 0–9 runnable on two cores when its queue
// grew; a warm burst of 500 HTTP requests under -race: 32–388).
const crowded = 8

// starved reports whether, at now (unix nanos), the service itself holds
// back what the limiter sees: its goroutines wait to run at least
// minStarve and half the fastest a command took lately (every measured
// latency holds at least one such wait: a reply read by a goroutine that
// waited), or the scheduler is crowded while Redis answers fast (see
// crowdedBy).
func (l *Limiter) starved(now int64) bool { return l.starvedBy(l.lag.read(now)) }

// starvedBy is starved's rule for what the meter read already.
func (l *Limiter) starvedBy(s sched) bool {
	if s.lag >= minStarve && 2*int64(s.lag) >= min(l.fastNow.Load(), l.fastPrev.Load()) {
		return true
	}
	return l.crowdedBy(s)
}

// crowdedBy reports whether a crowded scheduler explains the latencies:
// so many goroutines were ready to run lately (see crowded) that replies
// wait for the service's CPU, and for the network poller, rather than for
// Redis. The scheduler's latency does not show the wait for the poller,
// which a scheduler with goroutines queued polls every 10 ms at worst: in
// a warm burst of 500 HTTP requests under -race, a mean lag of 1–4 ms
// (below minStarve) while each permit was held 8 ms for replies Redis
// sent in microseconds, and 88–358 of 500 were shed.
//
// It counts only while Redis answers fast: it answered within
// answerMemory (or was first asked, of what is in flight), and the fastest command of the current second (or of the
// one before, while none ended yet in this one: not the fastest of the
// two, so that an overload's first second is judged by its own
// latencies) took less than minStarve. Redis slower than the load on a
// machine whose cores are taken (other processes, Redis itself) crowds
// the service as well, and must still be shed; its commands take at least
// Redis' cost each (TestOverloadShedsTheExcess, 10 ms a command, beside
// two busy loops: it failed four runs in nine when a fastest below 20 ms
// counted). And a hung Redis answers nothing: a crowd of goroutines
// started into a hang (they park soon) delays its stall by answerMemory
// at most.
func (l *Limiter) crowdedBy(s sched) bool {
	if !s.crowded || s.at-max(l.lastAnswer.Load(), l.busySince.Load()) > int64(answerMemory) {
		return false
	}
	fastest := l.fastNow.Load()
	if fastest == math.MaxInt64 {
		fastest = l.fastPrev.Load()
	}
	return fastest < int64(minStarve)
}

// answerMemory is how long after Redis' last answer a crowded scheduler
// still explains a silence (see crowdedBy): the silences of a burst on
// two cores under -race, whose replies wait for the service's CPU, last
// up to a few tens of ms.
const answerMemory = 250 * time.Millisecond
