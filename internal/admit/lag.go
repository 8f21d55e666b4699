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

// lagMeter reads the scheduler's latencies since it last looked. Safe for
// concurrent use; a read within minLagInterval of the last one, or while
// another goroutine reads, costs two atomic loads.
type lagMeter struct {
	at  atomic.Int64 // unix nanos of the last read
	lag atomic.Int64 // the mean over the interval before it, nanos

	mu     sync.Mutex
	sample []metrics.Sample
	prev   []uint64 // the histogram's counts at the last read
}

// minLagInterval is the shortest interval the meter measures over: fewer
// samples say little (the runtime tracks one goroutine transition in 8).
const minLagInterval = 5 * time.Millisecond

// read returns the mean time a goroutine waited to run between the last
// two reads at least minLagInterval apart, now in unix nanos; 0 when the
// runtime does not report it.
func (m *lagMeter) read(now int64) time.Duration {
	if now-m.at.Load() < int64(minLagInterval) || !m.mu.TryLock() {
		return time.Duration(m.lag.Load())
	}
	defer m.mu.Unlock()
	if now-m.at.Load() < int64(minLagInterval) {
		return time.Duration(m.lag.Load())
	}
	if m.sample == nil {
		m.sample = []metrics.Sample{{Name: schedLatencies}}
	}
	metrics.Read(m.sample)
	if m.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		m.at.Store(now)
		return 0
	}
	h := m.sample[0].Value.Float64Histogram()
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
	var lag int64 // none ran after a wait, or the first read: no lag known
	if n > 0 {
		lag = int64(sum / float64(n) * 1e9)
	}
	m.lag.Store(lag)
	m.at.Store(now)
	return time.Duration(lag)
}

// recent returns the lag of the last read if it was at most staleLag
// before now (unix nanos), else 0; it never reads the runtime's metrics.
func (m *lagMeter) recent(now int64) time.Duration {
	if now-m.at.Load() > int64(staleLag) {
		return 0
	}
	return time.Duration(m.lag.Load())
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

// starved reports whether, at now (unix nanos), what the limiter sees is
// the service's own lag, not Redis': its CPUs were busy lately (cpu.go),
// or its goroutines wait to run at least minStarve and half the fastest a
// command took lately (every measured latency holds at least one such
// wait: a reply read by a goroutine that waited).
func (l *Limiter) starved(now int64) bool {
	return l.cpu.read(now) || l.starvedBy(l.lag.read(now))
}

// starvedBy is starved's rule for a lag read already.
func (l *Limiter) starvedBy(lag time.Duration) bool {
	if lag < minStarve {
		return false
	}
	fastest := min(l.fastNow.Load(), l.fastPrev.Load())
	return 2*int64(lag) >= fastest
}
