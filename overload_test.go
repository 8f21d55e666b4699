package redismw_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/oteltest"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// Real-server tests of load shedding (DESIGN semantic 12, issue 22). Their
// figures are behaviour, bounded generously (they run under -race on a
// busy 2-core machine); BenchmarkOverload measures.

// lines counts a logger's lines by message.
type lines struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[r.Message]++
	return nil
}
func (l *lines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lines) WithGroup(string) slog.Handler      { return l }
func (l *lines) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[msg]
}

const (
	shedStarted = "redismw: redis overloaded: shedding started"
	shedStopped = "redismw: shedding stopped"
)

// overloadConnector returns a connector to srv with query options and
// cfg's changes, its log lines counted, past its warm-up: a service that
// was running when Redis became slow.
func overloadConnector(t *testing.T, srv *redistest.Server, query string, change func(*connector.Config)) (*connector.Connector, *lines) {
	t.Helper()
	log := &lines{n: map[string]int{}}
	cfg := connector.Config{URL: srv.URL() + query, Logger: slog.New(log)}
	if change != nil {
		change(&cfg)
	}
	c, err := connector.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := rdb.Ping(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1100 * time.Millisecond) // past the warm-up after the client's publication
	return c, log
}

// scriptHandler runs a script costing Redis cost per request, on the
// middleware's client.
func scriptHandler(cost time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rdb, ok := redismw.FromContext(r.Context())
		if !ok {
			http.Error(w, "no client", http.StatusTeapot)
			return
		}
		if err := rdb.Eval(r.Context(), redistest.BusyScript, nil, cost.Microseconds()).Err(); err != nil {
			redismw.WriteUnavailable(w, r, err)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
}

// TestOverloadShedsTheExcess: Redis healthy but 5× slower than the load
// (each request costs it 10 ms, 500 arrive a second, open loop): the
// excess is answered 503 + Retry-After at once, what is admitted is
// served in time, the circuit counts none of it, and the episode is
// logged once when it starts and once when it stops.
func TestOverloadShedsTheExcess(t *testing.T) {
	srv := redistest.Start(t)
	c, log := overloadConnector(t, srv, "", nil)
	var retryAfter, problem atomic.Int32
	h := redismw.Middleware(c)(scriptHandler(10 * time.Millisecond))
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if w.Header().Get("Retry-After") == "1" {
			retryAfter.Add(1)
		}
		if w.Header().Get("Content-Type") == "application/problem+json" {
			problem.Add(1)
		}
	}))
	defer ts.Close()

	out := openLoop(t.Context(), ts.URL, 500, 2*time.Second)
	var served, shed []time.Duration
	for i, o := range out {
		switch o.status {
		case http.StatusOK:
			served = append(served, o.latency)
		case http.StatusServiceUnavailable:
			shed = append(shed, o.latency)
		default:
			t.Fatalf("request %d: status %d after %v; want only 200 or 503", i, o.status, o.latency)
		}
		if o.latency > 10*time.Second {
			t.Errorf("request %d answered after %v", i, o.latency)
		}
	}
	t.Logf("served %d (p50 %.0f ms, p99 %.0f ms), shed %d (p50 %.1f ms, p99 %.1f ms); stats %+v",
		len(served), percentile(served, 50), percentile(served, 99), len(shed), percentile(shed, 50), percentile(shed, 99), c.Stats())
	// Redis can serve about 200 in 2 s; a plain client serves a fraction
	// of that in time, seconds late (BenchmarkOverload).
	if len(served) < 50 || len(shed) < 300 {
		t.Errorf("served %d, shed %d of %d: want the excess shed and Redis' capacity served", len(served), len(shed), len(out))
	}
	if p := percentile(served, 50); p > 2000 {
		t.Errorf("served p50 %.0f ms: what is admitted must be served in time, not queue for seconds", p)
	}
	if p := percentile(shed, 50); p > 500 {
		t.Errorf("shed p50 %.0f ms: the excess must be answered at once", p)
	}
	if int(retryAfter.Load()) != len(shed) || int(problem.Load()) != len(shed) {
		t.Errorf("%d of %d 503s had Retry-After: 1, %d a problem+json body; want all", retryAfter.Load(), len(shed), problem.Load())
	}
	st := c.Stats()
	if st.Circuit != breaker.Closed || st.Failures != 0 || st.FastFails != 0 {
		t.Errorf("circuit %v, failures %d, fast fails %d: overload is not failure", st.Circuit, st.Failures, st.FastFails)
	}
	if st.Shed < uint64(len(shed)) {
		t.Errorf("Stats.Shed %d < %d requests shed", st.Shed, len(shed))
	}
	if n := log.count(shedStarted); n < 1 || n > 3 {
		t.Errorf("%d %q lines for %d sheds: want one per episode, never one per request", n, shedStarted, st.Shed)
	}
	eventually(t, 10*time.Second, "the episode's end logged", func() bool {
		return log.count(shedStopped) == log.count(shedStarted)
	})
	if c.Admit(t.Context()) != nil {
		t.Error("Admit refuses once the load is gone")
	}
}

// TestOverloadNoRejectionWhileRedisKeepsUp: a third of what Redis can do,
// with bursts of cheap commands beside it: nothing is refused.
func TestOverloadNoRejectionWhileRedisKeepsUp(t *testing.T) {
	srv := redistest.Start(t)
	c, log := overloadConnector(t, srv, "", nil)
	ts := httptest.NewServer(redismw.Middleware(c)(scriptHandler(10 * time.Millisecond)))
	defer ts.Close()
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var bursts sync.WaitGroup
	var refused atomic.Int64
	stop := make(chan struct{})
	bursts.Go(func() {
		for range 12 { // a burst of 20 every 250 ms while the load runs
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					if err := rdb.Incr(t.Context(), "burst").Err(); errors.Is(err, connector.ErrOverloaded) {
						refused.Add(1)
					}
				})
			}
			wg.Wait()
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	})
	out := openLoop(t.Context(), ts.URL, 30, 3*time.Second)
	close(stop)
	bursts.Wait()
	for i, o := range out {
		if o.status != http.StatusOK {
			t.Fatalf("request %d: status %d; want every request served while Redis keeps up", i, o.status)
		}
	}
	if n, st := refused.Load(), c.Stats(); n != 0 || st.Shed != 0 || log.count(shedStarted) != 0 {
		t.Fatalf("%d burst commands refused, Stats.Shed %d: want no rejection while Redis keeps up", n, st.Shed)
	}
}

// TestOverloadHungRedis: Redis stops (SIGSTOP) before the circuit opens,
// and 300 commands arrive at once: no more of them wait than the limit
// admits; the rest are refused at once with ErrOverloaded, which the
// circuit does not count; the circuit still opens (the check), and Redis
// serves again after SIGCONT.
func TestOverloadHungRedis(t *testing.T) {
	srv := redistest.Start(t)
	c, _ := overloadConnector(t, srv, "?read_timeout=2s", nil)
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	limit := c.Stats().Limit
	if limit < 2 || limit > 20 {
		t.Fatalf("limit %d; want between 2 and the pool's 20", limit)
	}
	srv.Pause()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	type result struct {
		err error
		d   time.Duration
	}
	results := make([]result, 300)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			start := time.Now()
			err := rdb.Get(t.Context(), "k").Err()
			results[i] = result{err, time.Since(start)}
		})
	}
	// One more while the limit is held (the stall told): shed at once,
	// with an event on its span.
	eventually(t, 10*time.Second, "the excess shed", func() bool { return c.Stats().Shed >= 200 })
	p := oteltest.New(t)
	ctx, span := p.Tracer.Tracer("test").Start(t.Context(), "request")
	if err := rdb.Get(ctx, "k").Err(); !errors.Is(err, connector.ErrOverloaded) {
		t.Errorf("a command during the stall: %v; want it shed", err)
	}
	span.End()
	if ended := p.Ended("request"); len(ended) != 1 || len(ended[0].Events()) != 1 || ended[0].Events()[0].Name != "redismw.overload.shed" {
		t.Errorf("the shed command's span: %+v; want one event redismw.overload.shed", ended)
	}
	wg.Wait()
	var shed, waited int
	var slowestShed time.Duration
	for _, r := range results {
		switch {
		case errors.Is(r.err, connector.ErrOverloaded):
			shed++
			slowestShed = max(slowestShed, r.d)
		case r.d >= time.Second:
			waited++ // admitted: waited for the hung Redis
		}
	}
	st := c.Stats()
	t.Logf("limit %d: %d waited, %d shed (slowest %v); stats %+v", limit, waited, shed, slowestShed, st)
	if waited > limit {
		t.Errorf("%d commands waited for the hung Redis; want at most the limit's %d", waited, limit)
	}
	if shed < len(results)-limit-20 {
		t.Errorf("%d of %d shed; want all but those admitted (limit %d) refused at once", shed, len(results), limit)
	}
	if slowestShed > 2*time.Second {
		t.Errorf("a shed command waited %v: the excess must be refused at once", slowestShed)
	}
	if st.Failures > 1 {
		t.Errorf("Stats.Failures %d: sheds must not count (the check's trip may)", st.Failures)
	}
	eventually(t, 20*time.Second, "the circuit open (the check confirms the hang)", func() bool {
		return c.Stats().Circuit == breaker.Open
	})
	srv.Resume()
	resumed = true
	eventually(t, 30*time.Second, "Redis serving again", func() bool {
		r, err := c.Client(t.Context())
		return err == nil && r.Ping(t.Context()).Err() == nil
	})
}

// TestOverloadFailOpen: with WithFailOpen, a request that would be shed
// reaches its handler without a client, counted as rejected.
func TestOverloadFailOpen(t *testing.T) {
	srv := redistest.Start(t)
	c, _ := overloadConnector(t, srv, "?read_timeout=2s", nil)
	var without, shedInside atomic.Int64
	h := redismw.Middleware(c, redismw.WithFailOpen())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rdb, ok := redismw.FromContext(r.Context())
		if !ok {
			without.Add(1)
			_, _ = w.Write([]byte("degraded"))
			return
		}
		if err := rdb.Get(r.Context(), "k").Err(); errors.Is(err, connector.ErrOverloaded) {
			shedInside.Add(1)
		}
	}))
	srv.Pause()
	defer srv.Resume()
	// The first wave fills the limit and is shed inside handlers once the
	// stall is told, which starts the episode; the second, while the
	// first's admitted commands still wait for the hung Redis, finds the
	// middleware refusing.
	var wg sync.WaitGroup
	for wave := range 2 {
		if wave == 1 {
			time.Sleep(300 * time.Millisecond)
		}
		for range 100 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					t.Errorf("fail-open request: status %d", rec.Code)
				}
			})
		}
	}
	wg.Wait()
	t.Logf("shed inside handlers %d, passed on without a client %d", shedInside.Load(), without.Load())
	if without.Load() == 0 || shedInside.Load() == 0 {
		t.Fatalf("%d requests passed on without a client, %d shed inside: want both during a stall", without.Load(), shedInside.Load())
	}
}

// TestOverloadDisabled: Overload.Disable restores go-redis' own
// behaviour: a command waits for the hung Redis (until its deadline)
// instead of being shed, and Stats reports no limit.
func TestOverloadDisabled(t *testing.T) {
	srv := redistest.Start(t)
	c, _ := overloadConnector(t, srv, "?read_timeout=2s", func(cfg *connector.Config) { cfg.Overload.Disable = true })
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Limit != 0 || st.Inflight != 0 {
		t.Fatalf("limit %d, inflight %d with shedding disabled; want 0", st.Limit, st.Inflight)
	}
	srv.Pause()
	defer srv.Resume()
	var shed atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			if err := rdb.Get(ctx, "k").Err(); errors.Is(err, connector.ErrOverloaded) {
				shed.Add(1)
			}
		})
	}
	wg.Wait()
	if shed.Load() != 0 || c.Stats().Shed != 0 || c.Admit(t.Context()) != nil {
		t.Fatalf("%d commands shed with shedding disabled", shed.Load())
	}
}

// TestOverloadSettingsValidated: a negative MaxWait is refused by name.
func TestOverloadSettingsValidated(t *testing.T) {
	_, err := connector.New(connector.Config{URL: "redis://127.0.0.1:6379", Overload: connector.OverloadSettings{MaxWait: -time.Second}})
	if err == nil || !strings.Contains(err.Error(), "Overload.MaxWait") {
		t.Fatalf("negative MaxWait: %v; want an error naming connector.Config.Overload.MaxWait", err)
	}
}

// TestOverloadClosedLoop: more workers than permits, each sending its
// next command when its last is answered (a closed loop): the queue for
// permits never empties but does not grow, and nothing is refused —
// refusing would serve no one sooner. On a healthy local Redis each waits
// a moment; behind 50 ms of network latency a pool of 10 serves at most
// 200 commands a second, and 200 workers each wait about a second, as
// they would for go-redis' pool (the chaos suite's latency scenario).
func TestOverloadClosedLoop(t *testing.T) {
	for _, latency := range []time.Duration{0, 50 * time.Millisecond} {
		t.Run(latency.String(), func(t *testing.T) {
			srv := redistest.Start(t)
			proxy := faultproxy.New(t, srv.Addr)
			log := &lines{n: map[string]int{}}
			c, err := connector.New(connector.Config{URL: proxy.URL() + "?pool_size=10", Logger: slog.New(log)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			proxy.SetLatency(latency) // a slow network, known before the load (see TestOverloadLatencyStep)
			rdb, err := c.Client(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for range 10 {
				if err := rdb.Ping(t.Context()).Err(); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(1100 * time.Millisecond) // past the warm-up
			var served, refused atomic.Int64
			var slowest atomic.Int64
			var wg sync.WaitGroup
			const run = 2 * time.Second
			stop := time.Now().Add(run)
			for range 200 {
				wg.Go(func() {
					for n := 0; n < 10_000 && time.Now().Before(stop); n++ {
						start := time.Now()
						switch err := rdb.Incr(t.Context(), "n").Err(); {
						case err == nil:
							served.Add(1)
							if d := int64(time.Since(start)); d > slowest.Load() {
								slowest.Store(d) // racy max: good enough for a log line and a generous bound
							}
						case errors.Is(err, connector.ErrOverloaded):
							refused.Add(1)
							time.Sleep(10 * time.Millisecond) // a client backing off a little
						default:
							t.Errorf("INCR: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			t.Logf("served %d (slowest %v), refused %d, limit %d", served.Load(), time.Duration(slowest.Load()), refused.Load(), c.Stats().Limit)
			if refused.Load() != 0 || log.count(shedStarted) != 0 {
				t.Fatalf("%d of %d commands refused in a closed loop on a healthy Redis: want none", refused.Load(), served.Load()+refused.Load())
			}
			// Behind 50 ms: the pool's capacity, 10 connections × 2 s / 50 ms = 400.
			if latency > 0 && served.Load() < 200 {
				t.Fatalf("served %d: want most of the pool's capacity (400)", served.Load())
			}
		})
	}
}

// TestOverloadHealthyBurstsNotShed: bursts of 1 000 HTTP requests at once,
// each one GET, on a warm service and a healthy Redis, keep the service's
// CPUs busy: the replies Redis sent in microseconds wait for the network
// poller, and the queue and its latencies look like Redis falling behind.
// Those bursts are not shed (the limiter sees the busy CPUs: admit's
// cpu.go); before, three of four such bursts lost 64–767 requests without
// -race, 458 under it. The rule sees the CPU the process used, so where
// other processes took the CPUs the bursts may still be shed: a burst is
// judged only if the process used at least 90 % of GOMAXPROCS' CPU time
// while it lasted; it logs the others, and only logs when none was judged.
func TestOverloadHealthyBurstsNotShed(t *testing.T) {
	srv := redistest.Start(t)
	c, log := overloadConnector(t, srv, "", nil)
	ts := httptest.NewServer(redismw.Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rdb, _ := redismw.FromContext(r.Context())
		if err := rdb.Get(r.Context(), "k").Err(); err != nil && !errors.Is(err, redis.Nil) {
			redismw.WriteUnavailable(w, r, err)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})))
	defer ts.Close()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1000}}
	defer client.CloseIdleConnections()
	const size = 1000
	judged := 0
	for burst := range 6 {
		var mu sync.Mutex
		statuses := map[int]int{}
		var wg sync.WaitGroup
		cpu0, at0 := processCPU(t), time.Now()
		for range size {
			wg.Go(func() {
				status := 0
				if resp, err := client.Get(ts.URL); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					status = resp.StatusCode
				}
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		share := float64(processCPU(t)-cpu0) / float64(time.Since(at0)) / float64(runtime.GOMAXPROCS(0))
		t.Logf("burst %d: statuses %v in %v, the process used %.0f %% of GOMAXPROCS' CPU time", burst, statuses, time.Since(at0).Round(time.Millisecond), 100*share)
		if share >= 0.9 {
			judged++
			// Generous: a few may be refused in a burst's last window.
			if refused := statuses[http.StatusServiceUnavailable]; refused > size/50 || statuses[http.StatusOK] < size*9/10 {
				t.Errorf("burst %d: %d of %d refused, %d served, with the process using %.0f %% of its CPUs: a healthy burst must be served, not shed", burst, refused, size, statuses[http.StatusOK], 100*share)
			}
		}
		if judged == 3 {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	st := c.Stats()
	t.Logf("%d bursts judged; shed %d, limit %d, episodes %d", judged, st.Shed, st.Limit, log.count(shedStarted))
	if judged == 0 {
		t.Log("other processes took the CPUs in every burst: nothing judged")
	}
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
