package admit

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Telling that the service itself is the bottleneck: its CPUs are busy.
// A burst of a thousand HTTP requests, or a thousand clients in a closed
// loop, keeps a two-core service's CPUs busy, and a reply Redis sent in
// microseconds waits for the network poller and the scheduler: the
// latencies, the silences and the queue look like Redis falling behind,
// and the scheduler's latency (lag.go) misses the poller's wait (a burst
// of 500 under -race: a mean lag of 1–4 ms while each permit was held
// 8 ms). A Redis slower than the load leaves the service idle, its
// commands' goroutines parked on replies: BenchmarkOverload at 10× used
// at most 27 % of two cores in 50 ms windows (51 % under -race in
// TestOverloadCapacityComesBack), where a healthy closed loop of 1 000
// HTTP clients used 80–87 % at the median. While a window of the last
// cpuHold used cpuBusy of GOMAXPROCS' CPU time or more, the limiter does
// not judge Redis by what it sees, as for the scheduler's lag (starved).
// The process' CPU time is read by the commands (admitted or queued) at
// most once per cpuWindow: a command's path costs one atomic load
// otherwise.

// cpuBusy is the share of GOMAXPROCS' CPU time that tells that the
// service is itself the bottleneck.
const cpuBusy = 0.6

// cpuWindow is the shortest window the meter measures over.
const cpuWindow = 20 * time.Millisecond

// cpuHold is how long a busy window counts after its end: a burst's
// windows are not all busy (one of 20 ms in a burst of 2 000 used 55 %,
// and the burst's queue was refused as overload).
const cpuHold = 100 * time.Millisecond

// cpuStale is how old a window's start may be when it is measured: a
// longer one would average a burst with the idle time before it, so a
// new one starts instead.
const cpuStale = 100 * time.Millisecond

// cpuMeter measures the process' CPU use over windows of at least
// cpuWindow and at most cpuStale. Safe for concurrent use.
type cpuMeter struct {
	at   atomic.Int64 // unix nanos the window began; 0: none yet
	mu   sync.Mutex
	used int64 // the process' CPU time when the window began; mu guards it

	busyUntil atomic.Int64 // unix nanos: cpuHold after the last busy window ended

	clock func() (int64, bool) // the process' CPU time; nil: processCPU
}

// read measures the window that ends at now (unix nanos) if it is at
// least cpuWindow long, and starts the next one (a window older than
// cpuStale is not measured: one starts); it reports whether a window that
// ended within cpuHold of now was busy. It reads the process' CPU time at
// most once per cpuWindow, and only one caller at a time does.
func (m *cpuMeter) read(now int64) bool {
	if now-m.at.Load() >= int64(cpuWindow) && m.mu.TryLock() {
		m.measureLocked(now)
		m.mu.Unlock()
	}
	return m.recent(now)
}

// measureLocked is read's measure; m.mu is held.
func (m *cpuMeter) measureLocked(now int64) {
	at := m.at.Load()
	if now-at < int64(cpuWindow) {
		return // another caller measured meanwhile
	}
	clock := m.clock
	if clock == nil {
		clock = processCPU
	}
	used, ok := clock()
	if !ok {
		m.at.Store(now) // not known here: asked again a window later, not by every command
		return
	}
	if now-at <= int64(cpuStale) {
		share := float64(used-m.used) / float64(now-at) / float64(runtime.GOMAXPROCS(0))
		if share >= cpuBusy {
			m.busyUntil.Store(now + int64(cpuHold))
		}
	}
	m.at.Store(now)
	m.used = used
}

// recent reports whether a window that ended within cpuHold of now (unix
// nanos) was busy; it never reads the process' CPU time.
func (m *cpuMeter) recent(now int64) bool { return now < m.busyUntil.Load() }
