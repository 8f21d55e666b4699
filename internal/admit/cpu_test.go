package admit

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCPUMeterWindows: the meter's arithmetic on a CPU clock the test
// moves — a window of cpuBusy or more counts for cpuHold after its end,
// a window older than cpuStale is not measured (a burst is not averaged
// with the idle time before it), and one shorter than cpuWindow waits.
func TestCPUMeterWindows(t *testing.T) {
	var used atomic.Int64
	m := &cpuMeter{clock: func() (int64, bool) { return used.Load(), true }}
	procs := int64(runtime.GOMAXPROCS(0))
	ms := int64(time.Millisecond)
	at := int64(1_000) * ms
	if m.read(at) {
		t.Fatal("busy before any window was measured")
	}
	// 20 ms at 70 % of every CPU: busy, for cpuHold.
	used.Add(20 * ms * procs * 7 / 10)
	if !m.read(at + 20*ms) {
		t.Fatal("a window at 70 % of GOMAXPROCS: not busy")
	}
	if !m.recent(at+20*ms+int64(cpuHold)-ms) || m.recent(at+20*ms+int64(cpuHold)) {
		t.Fatal("a busy window must count for cpuHold after its end, and not longer")
	}
	// The next 20 ms at 50 %: the busy window before still counts.
	used.Add(20 * ms * procs / 2)
	if !m.read(at + 40*ms) {
		t.Fatal("a window at 50 % right after a busy one: the busy one no longer counts")
	}
	// A window shorter than cpuWindow is not measured.
	used.Add(10 * ms * procs)
	m.read(at + 50*ms)
	if got := m.at.Load(); got != at+40*ms {
		t.Fatalf("a 10 ms window was measured (window now begins at %d)", got)
	}
	// Idle for a second, then 20 ms at 100 %: the idle second is not
	// averaged in; the first read starts a window, the next measures it.
	late := at + 1_040*ms
	if m.read(late) {
		t.Fatal("a stale window was measured as busy")
	}
	used.Add(20 * ms * procs)
	if !m.read(late + 20*ms) {
		t.Fatal("20 ms at 100 % after an idle second: not busy")
	}
	// A window under cpuBusy sets nothing.
	m2 := &cpuMeter{clock: m.clock}
	m2.read(at)
	used.Add(20 * ms * procs / 2)
	if m2.read(at + 20*ms) {
		t.Fatal("a window at 50 %: busy")
	}
}

// TestCPUMeterUnknown: where the process' CPU time is not known, the
// meter says nothing is busy and asks again only a window later, not on
// every command's path.
func TestCPUMeterUnknown(t *testing.T) {
	var asked int
	m := &cpuMeter{clock: func() (int64, bool) { asked++; return 0, false }}
	at := int64(time.Second)
	for i := range int64(100) {
		if m.read(at + i*int64(time.Millisecond)/10) {
			t.Fatal("busy without a CPU time")
		}
	}
	if asked != 1 {
		t.Fatalf("asked for the CPU time %d times in 10 ms; want once per cpuWindow", asked)
	}
	m.read(at + int64(cpuWindow))
	if asked != 2 {
		t.Fatalf("asked %d times after a window; want 2", asked)
	}
}

// TestCPUMeterReal: on the process' real CPU time, goroutines spinning on
// every CPU make a window busy unless other processes took the CPUs (the
// test measures its own share and asserts only when it had them), and an
// idle process is not busy.
func TestCPUMeterReal(t *testing.T) {
	if _, ok := processCPU(); !ok {
		t.Skip("the process' CPU time is not known on " + runtime.GOOS)
	}
	var m cpuMeter
	now := func() int64 { return time.Now().UnixNano() }
	m.read(now())
	time.Sleep(30 * time.Millisecond)
	if m.read(now()) {
		t.Error("an idle process measured busy")
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for !stop.Load() { // spin: keep a CPU busy
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		u0, _ := processCPU()
		t0 := now()
		m.read(t0)
		time.Sleep(30 * time.Millisecond)
		u1, _ := processCPU()
		t1 := now()
		busy := m.read(t1)
		share := float64(u1-u0) / float64(t1-t0) / float64(runtime.GOMAXPROCS(0))
		if share >= 0.9 {
			if !busy {
				t.Fatalf("the process used %.0f %% of GOMAXPROCS over %v: not busy", 100*share, time.Duration(t1-t0))
			}
			return
		}
	}
	t.Log("the process never had 90 % of its CPUs for 30 ms: other processes took them; nothing asserted on a busy window")
}
