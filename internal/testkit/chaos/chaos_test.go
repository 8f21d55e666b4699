// Package chaos_test is the chaos suite: an HTTP service wrapped with the
// middleware (one INCR per request, fail-closed) under a real HTTP load
// (vegeta, 100 or 1 000 concurrent users), against a real redis-server
// (appendonly, fsync always) behind the fault proxy, while Redis is killed,
// hung, slowed, cut off, stalled, and overloaded (up, but slower than the
// load: its requests cost Redis 10 ms each while ten times what it can
// serve arrive).
//
// It runs only with REDISMW_CHAOS=1 (as in CI), and without -race: its
// assertions bound latencies on a 2-core machine that also runs the load.
//
//	REDISMW_CHAOS=1 go test -v -count=1 ./internal/testkit/chaos
package chaos_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
	"github.com/ankitoon/redismw/internal/testkit/testmain"
)

func TestMain(m *testing.M) { testmain.Run(m) }

// The service's configuration, and the bounds it implies.
const (
	attemptTimeout = time.Second
	maxAttempts    = 3
	openPeriod     = 2 * time.Second
	readTimeout    = time.Second
	// noHang bounds every request: AttemptTimeout × MaxAttempts + the
	// backoff between them (at most 100ms + 200ms) + HTTP overhead.
	noHang = attemptTimeout*maxAttempts + 300*time.Millisecond + time.Second
	// recoveryBound bounds the time from the end of a fault to the first
	// success: the longest jittered open period, one attempt, and slack for
	// a loaded 2-core machine.
	recoveryBound = openPeriod*12/10 + attemptTimeout + time.Second
	warmup        = 2 * time.Second
	settle        = 6 * time.Second // load after the fault ends

	// The slow scenario: each request costs Redis slowCost of real work,
	// so Redis serves about 1s / slowCost = 100 requests a second, and
	// slowRate, ten times that, arrive.
	slowCost = 10 * time.Millisecond
	slowRate = 1000
	// slowBound bounds every request while Redis is overloaded: an
	// admitted command is answered within its read timeout (or fails, and
	// the circuit counts it: the scenario asserts none), a shed one at
	// once; plus the HTTP slack of noHang.
	slowBound = readTimeout + time.Second
	// servedP99Bound and shedP99Bound are generous bounds (the targets of
	// BenchmarkOverload are 300 ms and 100 ms) on the p99 of the 200s and
	// of the 503s under overload: what is admitted is served in time, not
	// queued up to its timeout, and the excess is answered at once.
	servedP99Bound = readTimeout
	shedP99Bound   = 500 * time.Millisecond
	// shedStops bounds how long after Redis is fast again requests are
	// still shed: the limit grows back while the load goes on.
	shedStops = 3 * time.Second
)

// rig is one service under test and its Redis.
type rig struct {
	srv   *redistest.Server
	proxy *faultproxy.Proxy
	c     *connector.Connector
	web   *httptest.Server
	log   *logLines // the connector's log lines
	// cost is what each request costs Redis, in microseconds: 0, an INCR;
	// more, redistest.BusyScript incrementing the same counter and then
	// keeping Redis busy that long (the slow scenario sets it).
	cost atomic.Int64
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always", "--enable-debug-command", "yes", "--maxclients", "10000")
	proxy := faultproxy.New(t, srv.Addr)
	log := &logLines{n: map[string]int{}}
	c, err := connector.New(connector.Config{
		URL:            proxy.URL() + "?read_timeout=" + readTimeout.String() + "&write_timeout=1s&pool_size=200&pool_timeout=1s",
		AttemptTimeout: attemptTimeout,
		MaxAttempts:    maxAttempts,
		Breaker:        breaker.Settings{Timeout: openPeriod},
		Logger:         slog.New(log),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{srv: srv, proxy: proxy, c: c, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /incr", func(w http.ResponseWriter, req *http.Request) {
		rdb, _ := redismw.FromContext(req.Context())
		var n int64
		var err error
		if cost := r.cost.Load(); cost > 0 {
			n, err = rdb.Eval(req.Context(), redistest.BusyScript, []string{"counter"}, cost).Int64()
		} else {
			n, err = rdb.Incr(req.Context(), "counter").Result()
		}
		if err != nil {
			redismw.WriteUnavailable(w, req, err)
			return
		}
		_, _ = w.Write([]byte(strconv.FormatInt(n, 10)))
	})
	r.web = httptest.NewServer(redismw.Middleware(c)(mux))
	t.Cleanup(r.close)
	return r
}

func (r *rig) close() {
	r.web.Close()
	_ = r.c.Close()
}

// counter reads the counter straight from Redis, not through the proxy.
func (r *rig) counter(t *testing.T) int64 {
	t.Helper()
	conn, err := net.DialTimeout("tcp", r.srv.Addr, time.Second)
	if err != nil {
		t.Fatalf("read the counter: %v", err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("GET counter\r\n")); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(conn)
	head, err := rd.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(head, "$-1") {
		return 0
	}
	val, err := rd.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
	if err != nil {
		t.Fatalf("counter %q: %v", val, err)
	}
	return n
}

// debugSleep stalls the server for d with DEBUG SLEEP, on a side
// connection; it returns when the server answers again.
func (r *rig) debugSleep(t *testing.T, d time.Duration) {
	conn, err := net.DialTimeout("tcp", r.srv.Addr, time.Second)
	if err != nil {
		t.Error(err)
		return
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(d + 10*time.Second))
	_, _ = fmt.Fprintf(conn, "DEBUG SLEEP %.1f\r\n", d.Seconds())
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		t.Errorf("DEBUG SLEEP: %q %v", line, err)
	}
}

// scenario is one fault, injected while the load runs.
type scenario struct {
	name  string
	users int
	// rate, when set, makes the load open: rate requests a second, sent on
	// schedule whatever the answers do, with at most users in flight.
	// Zero: a closed loop, each user sending its next request when the
	// last is answered, as fast as the service answers.
	rate int
	// inject runs after the warm-up; it returns the times at which the
	// fault (or each repetition of it) ended.
	inject func(t *testing.T, r *rig) []time.Time
	// trip says whether the circuit is expected to open.
	trip bool
	// shed says the fault overloads Redis without failing it: 503s are
	// expected, every one of them load shed (Stats.Shed, reason
	// overload), while the circuit counts no failure and never moves.
	shed bool
	// bound bounds every request's latency. Default: noHang.
	bound time.Duration
}

// latencyBound is sc's bound on every request's latency.
func (sc scenario) latencyBound() time.Duration {
	if sc.bound > 0 {
		return sc.bound
	}
	return noHang
}

func scenarios() []scenario {
	killRestart := func(t *testing.T, r *rig) []time.Time {
		var ends []time.Time
		for i := range 5 {
			r.srv.Kill()
			time.Sleep(2 * time.Second)
			r.srv.Restart()
			ends = append(ends, time.Now())
			if i < 4 {
				time.Sleep(4 * time.Second)
			}
		}
		return ends
	}
	return []scenario{
		{name: "kill-restart-x5", users: 100, inject: killRestart, trip: true},
		{name: "hang-5s", users: 100, trip: true, inject: func(t *testing.T, r *rig) []time.Time {
			mustMode(t, r.proxy, faultproxy.Hang)
			r.proxy.CutAll()
			time.Sleep(5 * time.Second)
			mustMode(t, r.proxy, faultproxy.Pass)
			r.proxy.CutAll() // the hung connections
			return []time.Time{time.Now()}
		}},
		{name: "latency-200ms", users: 100, trip: false, inject: func(t *testing.T, r *rig) []time.Time {
			r.proxy.SetLatency(200 * time.Millisecond)
			time.Sleep(5 * time.Second)
			r.proxy.SetLatency(0)
			return []time.Time{time.Now()}
		}},
		{name: "latency-5s", users: 100, trip: true, inject: func(t *testing.T, r *rig) []time.Time {
			r.proxy.SetLatency(5 * time.Second)
			time.Sleep(5 * time.Second)
			r.proxy.SetLatency(0)
			r.proxy.CutAll() // replies still held back by the old latency
			return []time.Time{time.Now()}
		}},
		{name: "partition-3s", users: 100, trip: true, inject: func(t *testing.T, r *rig) []time.Time {
			mustMode(t, r.proxy, faultproxy.Refuse)
			r.proxy.CutAll()
			time.Sleep(3 * time.Second)
			mustMode(t, r.proxy, faultproxy.Pass)
			return []time.Time{time.Now()}
		}},
		{name: "debug-sleep-3s", users: 100, trip: true, inject: func(t *testing.T, r *rig) []time.Time {
			r.debugSleep(t, 3*time.Second)
			return []time.Time{time.Now()}
		}},
		// Redis up but ten times slower than the load, for 10 s: the work
		// of every request costs it 10 ms (Lua), as a slow command, a big
		// key or a starved CPU would. The load is open (1 000 a second on
		// schedule, up to 1 000 in flight): a closed loop would hide the
		// overload, its users waiting instead of arriving.
		{name: "slow-10x", users: 1000, rate: slowRate, shed: true, bound: slowBound, inject: func(t *testing.T, r *rig) []time.Time {
			r.cost.Store(slowCost.Microseconds())
			time.Sleep(10 * time.Second)
			r.cost.Store(0)
			return []time.Time{time.Now()}
		}},
		{name: "kill-restart-x5", users: 1000, inject: killRestart, trip: true},
	}
}

func mustMode(t *testing.T, p *faultproxy.Proxy, m faultproxy.Mode) {
	if err := p.SetMode(m); err != nil {
		t.Error(err)
	}
}

// second is one second of the timeline.
type second struct {
	requests, ok, unavailable, other int
	latencies                        []time.Duration
	dials                            int64
}

// report is what a scenario measured.
type report struct {
	maxLatency      time.Duration
	okP99, unavP99  time.Duration // of the 200s sent while the fault was on, of all 503s
	recoveries      []time.Duration
	lost            int
	unacked         int64
	requests, ok    int
	unavailable     int
	shed, failures  uint64 // the connector's Stats.Shed and Stats.Failures
	peakGoroutines  int
	peakHeapMB      float64
	maxDialsPerSec  int64 // after the fault ended
	transitions     int
	goroutinesAfter int
}

func TestChaos(t *testing.T) {
	if os.Getenv("REDISMW_CHAOS") != "1" {
		t.Skip("set REDISMW_CHAOS=1 to run the chaos suite (a few minutes of load against real redis-server processes)")
	}
	redistest.Binary(t)
	var rows []string
	for _, sc := range scenarios() {
		name := fmt.Sprintf("%s/users=%d", sc.name, sc.users)
		t.Run(name, func(t *testing.T) {
			rep := runScenario(t, sc)
			rows = append(rows, fmt.Sprintf("report scenario=%s users=%d rate=%d requests=%d ok=%d unavailable=%d shed=%d max_ms=%.0f bound_ms=%.0f held=%v ok_p99_ms=%.0f unavailable_p99_ms=%.0f recovery_ms=%s lost=%d unacked=%d transitions=%d failures=%d peak_goroutines=%d peak_heap_mb=%.1f max_dials_per_s=%d goroutines_after=%d",
				sc.name, sc.users, sc.rate, rep.requests, rep.ok, rep.unavailable, rep.shed, ms(rep.maxLatency), ms(sc.latencyBound()), rep.maxLatency <= sc.latencyBound(),
				ms(rep.okP99), ms(rep.unavP99), joinMS(rep.recoveries), rep.lost, rep.unacked, rep.transitions, rep.failures, rep.peakGoroutines, rep.peakHeapMB, rep.maxDialsPerSec, rep.goroutinesAfter))
		})
	}
	for _, row := range rows {
		t.Log(row)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func joinMS(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, strconv.FormatFloat(ms(d), 'f', 0, 64))
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func runScenario(t *testing.T, sc scenario) report {
	before := runtime.NumGoroutine()
	r := newRig(t)
	var transitions atomic.Int32
	// Count transitions through the connector's stats as they happen.
	ctx := context.Background()
	if _, err := r.c.Client(ctx); err != nil {
		t.Fatalf("warm connect: %v", err)
	}

	attacker := vegeta.NewAttacker(
		vegeta.Workers(uint64(sc.users)), vegeta.MaxWorkers(uint64(sc.users)),
		vegeta.Connections(sc.users), vegeta.MaxConnections(sc.users),
		vegeta.Timeout(30*time.Second), vegeta.KeepAlive(true),
	)
	target := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: r.web.URL + "/incr"})

	// Samplers: goroutines and heap every 100ms; dials per second.
	start := time.Now()
	var peakG atomic.Int64
	var peakHeap atomic.Uint64
	dials := map[int]int64{}
	var dialsMu sync.Mutex
	stop := make(chan struct{})
	var samplers sync.WaitGroup
	samplers.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		last := r.proxy.Accepted()
		lastSec := 0
		lastState := r.c.Stats().Circuit
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				if g := int64(runtime.NumGoroutine()); g > peakG.Load() {
					peakG.Store(g)
				}
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peakHeap.Load() {
					peakHeap.Store(ms.HeapInuse)
				}
				if st := r.c.Stats().Circuit; st != lastState {
					transitions.Add(1)
					lastState = st
				}
				if sec := int(now.Sub(start) / time.Second); sec != lastSec {
					acc := r.proxy.Accepted()
					dialsMu.Lock()
					dials[lastSec] += acc - last
					dialsMu.Unlock()
					last, lastSec = acc, sec
				}
			}
		}
	})

	var began time.Time // when the fault was injected
	var ends []time.Time
	injected := make(chan struct{})
	go func() {
		defer close(injected)
		time.Sleep(warmup)
		began = time.Now()
		ends = sc.inject(t, r)
	}()
	// Run the load until the fault has ended and settle has passed.
	pace := vegeta.Rate{Freq: 0} // closed loop
	if sc.rate > 0 {
		pace = vegeta.Rate{Freq: sc.rate, Per: time.Second}
	}
	results := attacker.Attack(target, pace, 0, sc.name)
	var stopOnce sync.Once
	go func() {
		<-injected
		time.Sleep(settle)
		stopOnce.Do(func() { attacker.Stop() })
	}()

	// Aggregate as results arrive: nothing but the numbers is kept.
	rep := report{}
	timeline := map[int]*second{}
	values := map[int64]int{}
	var maxValue int64
	var okEnds []time.Time
	type timed struct {
		at      time.Time
		latency time.Duration
	}
	var okLat []timed
	var unavLat []time.Duration
	timeout := time.After(2 * time.Minute)
collect:
	for {
		var res *vegeta.Result
		select {
		case r, ok := <-results:
			if !ok {
				break collect
			}
			res = r
		case <-timeout:
			stopOnce.Do(func() { attacker.Stop() })
			t.Error("the scenario ran over 2 minutes")
			continue
		}
		rep.requests++
		rep.maxLatency = max(rep.maxLatency, res.Latency)
		sec := int(res.Timestamp.Sub(start) / time.Second)
		s := timeline[sec]
		if s == nil {
			s = &second{}
			timeline[sec] = s
		}
		s.requests++
		s.latencies = append(s.latencies, res.Latency)
		switch res.Code {
		case http.StatusOK:
			rep.ok++
			s.ok++
			okEnds = append(okEnds, res.End())
			okLat = append(okLat, timed{res.Timestamp, res.Latency})
			v, err := strconv.ParseInt(string(res.Body), 10, 64)
			if err != nil {
				t.Errorf("200 with body %q", res.Body)
				continue
			}
			values[v]++
			maxValue = max(maxValue, v)
		case http.StatusServiceUnavailable:
			rep.unavailable++
			s.unavailable++
			unavLat = append(unavLat, res.Latency)
			if ra, err := strconv.Atoi(res.Headers.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("503 without a valid Retry-After: %q", res.Headers.Get("Retry-After"))
			}
			if ct := res.Headers.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("503 with Content-Type %q", ct)
			}
		default:
			s.other++
			t.Errorf("response %d %q (error %q): want 200 or 503", res.Code, res.Body, res.Error)
		}
	}
	close(stop)
	samplers.Wait()
	<-injected
	rep.peakGoroutines = int(peakG.Load())
	rep.peakHeapMB = float64(peakHeap.Load()) / (1 << 20)
	rep.transitions = int(transitions.Load())
	var faultOK []time.Duration
	for _, o := range okLat {
		if !o.at.Before(began) && len(ends) > 0 && o.at.Before(ends[len(ends)-1]) {
			faultOK = append(faultOK, o.latency)
		}
	}
	rep.okP99, rep.unavP99 = p99(faultOK), p99(unavLat)
	st := r.c.Stats()
	rep.shed, rep.failures = st.Shed, st.Failures
	for sec, n := range dials {
		if s := timeline[sec]; s != nil {
			s.dials = n
		}
	}

	// Nothing acknowledged is lost.
	for v, n := range values {
		if n > 1 {
			rep.lost += n - 1
			t.Errorf("value %d acknowledged %d times: an acknowledged write was lost", v, n)
		}
	}
	final := r.counter(t)
	if final < maxValue {
		rep.lost += int(maxValue - final)
		t.Errorf("final counter %d < largest acknowledged value %d", final, maxValue)
	}
	rep.unacked = final - int64(rep.ok)

	// No hang.
	if bound := sc.latencyBound(); rep.maxLatency > bound {
		t.Errorf("slowest request took %v, over the scenario's bound %v", rep.maxLatency, bound)
	}
	// Success is back after each fault within one open period plus one attempt.
	for _, end := range ends {
		rec := time.Duration(-1)
		for _, e := range okEnds {
			if d := e.Sub(end); d >= 0 && (rec < 0 || d < rec) {
				rec = d
			}
		}
		if rec < 0 {
			t.Errorf("no success after the fault ended at +%v", end.Sub(start).Round(time.Millisecond))
			continue
		}
		rep.recoveries = append(rep.recoveries, rec)
		if rec > recoveryBound {
			t.Errorf("success came back %v after the fault ended, over %v", rec, recoveryBound)
		}
	}
	// Trips where expected, none where not.
	if sc.trip && rep.unavailable == 0 {
		t.Errorf("no 503 at all: the fault did not trip the circuit")
	}
	// Under a latency below the read timeout the circuit never moves. A
	// 503 there can only be load shedding's: a sudden rise of latency
	// looks like a stall until its first answers, and a command that
	// waited read_timeout for a permit of a pool too small for the latency
	// is refused as a pooled connection's wait would time out.
	if !sc.trip && !sc.shed && (uint64(rep.unavailable) > rep.shed || rep.transitions > 0 || rep.failures > 0) {
		t.Errorf("%d 503s (%d shed), %d circuit transitions, %d failures under a latency below the read timeout: want no transition and every 503 shed", rep.unavailable, rep.shed, rep.transitions, rep.failures)
	}
	// Overload is not failure: the excess is shed (503 + Retry-After,
	// checked above for every 503) and answered at once, what is admitted
	// is served in time, the circuit counts none of it and never moves,
	// shedding is logged once an episode, and it stops soon after Redis is
	// fast again.
	if sc.shed {
		if rep.shed == 0 || rep.unavailable == 0 {
			t.Errorf("%d requests shed, %d 503s: want the excess shed at %d requests a second", rep.shed, rep.unavailable, sc.rate)
		}
		if uint64(rep.unavailable) > rep.shed {
			t.Errorf("%d 503s but %d shed: every 503 under overload must be load shed, none a failure", rep.unavailable, rep.shed)
		}
		if rep.transitions > 0 || rep.failures > 0 || st.Circuit != breaker.Closed {
			t.Errorf("%d circuit transitions, %d failures counted, circuit %v: overload is not failure", rep.transitions, rep.failures, st.Circuit)
		}
		if rep.okP99 > servedP99Bound {
			t.Errorf("200s p99 %v under overload, over %v: what is admitted must be served in time, not queue", rep.okP99, servedP99Bound)
		}
		if rep.unavP99 > shedP99Bound {
			t.Errorf("503s p99 %v, over %v: the excess must be answered at once", rep.unavP99, shedP99Bound)
		}
		started, stopped := r.log.count(shedStarted), r.log.count(shedStopped)
		if started < 1 || started > 5 {
			t.Errorf("%d %q lines: want one an episode, never one a request", started, shedStarted)
		}
		if stopped != started {
			t.Errorf("%d %q lines for %d episodes: shedding went on to the end of the load", stopped, shedStopped, started)
		}
		for _, end := range ends {
			from := int(end.Add(shedStops).Sub(start)/time.Second) + 1
			for sec, s := range timeline {
				if sec >= from && s.unavailable > 0 {
					t.Errorf("%d 503s at t=%d, over %v after Redis was fast again: capacity must come back", s.unavailable, sec, shedStops)
				}
			}
		}
	}
	// Dials against the recovering server stay bounded: the pool grows back
	// to at most its size, no storm. Recovery is the 3 seconds after each
	// fault ends (the next kill of kill-restart-x5 comes 4 seconds later:
	// its onset, while the connector's check tells a dead server behind
	// the proxy, is not a recovery).
	for _, end := range ends {
		from := int(end.Sub(start) / time.Second)
		for sec := from; sec < from+3; sec++ {
			rep.maxDialsPerSec = max(rep.maxDialsPerSec, timeline[sec].dials)
		}
	}
	if rep.maxDialsPerSec > 200+20 {
		t.Errorf("%d dials in one second during recovery: a dial storm", rep.maxDialsPerSec)
	}

	// The timeline, one line per second.
	secs := make([]int, 0, len(timeline))
	for sec := range timeline {
		secs = append(secs, sec)
	}
	slices.Sort(secs)
	for _, sec := range secs {
		s := timeline[sec]
		t.Logf("timeline %s/users=%d t=%d requests=%d ok=%d unavailable=%d p99ms=%.1f dials=%d",
			sc.name, sc.users, sec, s.requests, s.ok, s.unavailable, ms(p99(s.latencies)), s.dials)
	}

	// Tear down and check that every goroutine of the rig is gone.
	r.close()
	r.proxy.Close()
	r.srv.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	rep.goroutinesAfter = runtime.NumGoroutine()
	if rep.goroutinesAfter > before+5 {
		t.Errorf("%d goroutines after the scenario, %d before", rep.goroutinesAfter, before)
	}
	return rep
}

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(math.Floor(float64(len(s)-1)*0.99))]
}

// The connector's log lines of a shedding episode.
const (
	shedStarted = "redismw: redis overloaded: shedding started"
	shedStopped = "redismw: shedding stopped"
)

// logLines is a slog.Handler that counts log lines by message.
type logLines struct {
	mu sync.Mutex
	n  map[string]int // guarded by mu
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[r.Message]++
	return nil
}
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logLines) WithGroup(string) slog.Handler      { return l }

func (l *logLines) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[msg]
}
