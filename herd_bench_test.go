package redismw_test

// The thundering-herd, outage and recovery benchmarks: redismw's connector
// against the ways services usually get "a connected client", each a small
// faithful implementation below.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// getter is one way of getting a client: get returns a usable client (it
// may connect first); close releases everything.
type getter interface {
	get(ctx context.Context) (redis.UniversalClient, error)
	close()
}

// strategies are the contenders, each made fresh (cold) for url.
var strategies = []struct {
	name string
	make func(url string) getter
}{
	{"connector", newConnectorGetter},
	{"shared", newShared},
	{"mutex", func(url string) getter { return &mutexGetter{url: url} }},
	{"once", func(url string) getter { return &onceGetter{url: url} }},
	{"poll", func(url string) getter { return &pollGetter{url: url} }},
	{"per-request", func(url string) getter { return &perRequest{url: url} }},
}

// floorStrategy is the physical floor of a cold start, for
// BenchmarkThunderingHerd only: one connect that every caller waits for,
// then a pool whose connections were all dialed before the herd.
var floorStrategy = struct {
	name string
	make func(url string) getter
}{"floor", newFloor}

// floor waits, like every strategy that checks readiness, for one connect
// (a client of its own, dialed and PINGed once, shared by the callers);
// then it hands out a client whose pool is full already, so that the
// herd's commands pay only their fan-out over the pool's connections.
type floor struct {
	rdb     *redis.Client
	url     string
	once    sync.Once
	err     error
	connect time.Duration
}

func newFloor(url string) getter {
	opts, err := redis.ParseURL(url)
	if err != nil {
		panic(err)
	}
	rdb := redis.NewClient(opts)
	// Fill the pool: each Conn holds a connection of its own until all
	// have dialed, then gives it back.
	conns := make([]*redis.Conn, 10*runtime.GOMAXPROCS(0)) // go-redis' default pool size
	var wg sync.WaitGroup
	for i := range conns {
		conns[i] = rdb.Conn()
		wg.Go(func() {
			if err := conns[i].Ping(context.Background()).Err(); err != nil {
				panic(err)
			}
		})
	}
	wg.Wait()
	for _, cn := range conns {
		_ = cn.Close()
	}
	return &floor{rdb: rdb, url: url}
}

func (f *floor) get(ctx context.Context) (redis.UniversalClient, error) {
	f.once.Do(func() {
		start := time.Now()
		var rdb *redis.Client
		if rdb, f.err = connect(ctx, f.url); f.err == nil {
			_ = rdb.Close()
		}
		f.connect = time.Since(start)
	})
	return f.rdb, f.err
}

func (f *floor) close() { _ = f.rdb.Close() }

func (f *floor) connectLatency() time.Duration { return f.connect }

// connectorGetter is this package's connector, with its defaults.
type connectorGetter struct{ c *connector.Connector }

func newConnectorGetter(url string) getter {
	c, err := connector.New(connector.Config{URL: url, Logger: discard})
	if err != nil {
		panic(err)
	}
	return connectorGetter{c}
}

func (g connectorGetter) get(ctx context.Context) (redis.UniversalClient, error) {
	return g.c.Client(ctx)
}
func (g connectorGetter) close() { _ = g.c.Close() }

func (g connectorGetter) connectLatency() time.Duration { return g.c.Stats().LastConnectLatency }

// timedConnect is a getter that knows how long its one connect took.
type timedConnect interface{ connectLatency() time.Duration }

// shared is one go-redis client made at start-up with go-redis' defaults,
// and nothing else.
type shared struct{ rdb *redis.Client }

func newShared(url string) getter {
	opts, err := redis.ParseURL(url)
	if err != nil {
		panic(err)
	}
	return shared{redis.NewClient(opts)}
}

func (s shared) get(context.Context) (redis.UniversalClient, error) { return s.rdb, nil }
func (s shared) close()                                             { _ = s.rdb.Close() }

// connect makes a client and PINGs it: the "connect" of the naive
// strategies.
func connect(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return rdb, nil
}

// held is the client a naive strategy keeps once connected.
type held struct{ rdb *redis.Client }

func (h *held) close() {
	if h.rdb != nil {
		_ = h.rdb.Close()
	}
}

// mutexGetter holds a mutex across the first connect; every call takes it.
type mutexGetter struct {
	held
	url string
	mu  sync.Mutex
}

func (m *mutexGetter) get(ctx context.Context) (redis.UniversalClient, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rdb == nil {
		rdb, err := connect(ctx, m.url)
		if err != nil {
			return nil, err
		}
		m.rdb = rdb
	}
	return m.rdb, nil
}

// onceGetter connects in a sync.Once: a failed first connect is never
// retried (TestOnceNeverRecovers).
type onceGetter struct {
	held
	url  string
	once sync.Once
	err  error
}

func (o *onceGetter) get(ctx context.Context) (redis.UniversalClient, error) {
	o.once.Do(func() { o.rdb, o.err = connect(ctx, o.url) })
	return o.rdb, o.err
}

// pollGetter is the origin app's pattern: a "connecting" flag, and every
// other caller polls it with a 100ms sleep.
type pollGetter struct {
	held
	url        string
	mu         sync.Mutex
	connecting bool
}

func (p *pollGetter) get(ctx context.Context) (redis.UniversalClient, error) {
	for {
		p.mu.Lock()
		switch {
		case p.rdb != nil:
			rdb := p.rdb
			p.mu.Unlock()
			return rdb, nil
		case !p.connecting:
			p.connecting = true
			p.mu.Unlock()
			rdb, err := connect(ctx, p.url)
			p.mu.Lock()
			p.rdb, p.connecting = rdb, false
			p.mu.Unlock()
			if err != nil {
				return nil, err
			}
			return rdb, nil
		}
		p.mu.Unlock()
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// perRequest makes a new client for every call.
type perRequest struct {
	url  string
	mu   sync.Mutex
	made []*redis.Client
}

func (p *perRequest) get(ctx context.Context) (redis.UniversalClient, error) {
	rdb, err := connect(ctx, p.url)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.made = append(p.made, rdb)
	p.mu.Unlock()
	return rdb, nil
}

func (p *perRequest) close() {
	for _, rdb := range p.made {
		_ = rdb.Close()
	}
}

// benchRedis is the Redis the benchmarks use: a real redis-server when one
// is on PATH, miniredis otherwise.
type benchRedis struct {
	Addr          string
	kill          func()
	restart       func()
	pause, resume func() // SIGSTOP, SIGCONT; nil for miniredis
	real          bool
}

func startBenchRedis(b *testing.B, args ...string) *benchRedis {
	b.Helper()
	if _, err := exec.LookPath("redis-server"); err == nil {
		s := redistest.Start(b, args...)
		return &benchRedis{Addr: s.Addr, kill: s.Kill, restart: s.Restart, pause: s.Pause, resume: s.Resume, real: true}
	}
	b.Logf("redis-server not on PATH: using miniredis")
	mr := miniredis.RunT(b)
	return &benchRedis{Addr: mr.Addr(), kill: mr.Close, restart: func() {
		if err := mr.Restart(); err != nil {
			b.Fatal(err)
		}
	}}
}

// percentile returns the p-th percentile (0–100) of ds, in milliseconds.
func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return float64(s[i]) / float64(time.Millisecond)
}

// BenchmarkThunderingHerd: a cold start. N callers arrive at once; each
// gets a client and runs one PING, against Redis behind a proxy that adds
// 20ms to every new connection. One op is one herd.
//
// Reported: dials/op (every connection the proxy accepted, the pool's
// fan-out for the PINGs included), connect-dials/op (connections accepted
// before the first caller had its client: for the connector, its one
// connect's attempt and the pool connections its warm-up dialed beside
// it), p50-ms and p99-ms (time until a caller has a usable client and its
// PING answered), connect-ms (the median time of the one connect, where a
// strategy has one to time: connector and floor). The floor strategy is the physical floor: one connect
// every caller waits for, and a pool whose connections were dialed before
// the herd.
func BenchmarkThunderingHerd(b *testing.B) {
	srv := startBenchRedis(b, "--maxclients", "10000")
	proxy := faultproxy.New(b, srv.Addr)
	proxy.SetDialDelay(20 * time.Millisecond)
	url := proxy.URL()
	for _, st := range append(strategies, floorStrategy) {
		for _, callers := range []int{100, 1000, 10000} {
			b.Run(fmt.Sprintf("strategy=%s/callers=%d", st.name, callers), func(b *testing.B) {
				if st.name == "per-request" && callers > 1000 {
					b.Skip("10 000 connections per op exceed this process' file limit and redis-server's maxclients; callers=1000 shows the trend")
				}
				b.ReportAllocs()
				var waits []time.Duration
				var dials, connectDials int64
				var connects []time.Duration
				for b.Loop() {
					g := st.make(url)
					d, cd, w := herd(b, g, callers, proxy)
					if tc, ok := g.(timedConnect); ok {
						connects = append(connects, tc.connectLatency())
					}
					g.close()
					dials += d
					connectDials += cd
					waits = append(waits, w...)
				}
				b.ReportMetric(float64(dials)/float64(b.N), "dials/op")
				b.ReportMetric(float64(connectDials)/float64(b.N), "connect-dials/op")
				b.ReportMetric(percentile(waits, 50), "p50-ms")
				b.ReportMetric(percentile(waits, 99), "p99-ms")
				if connects != nil {
					b.ReportMetric(percentile(connects, 50), "connect-ms")
				}
			})
		}
	}
}

// herd runs one herd of callers on g and returns the connections the proxy
// accepted, those accepted before the first caller had its client, and
// every caller's wait.
func herd(b *testing.B, g getter, callers int, proxy *faultproxy.Proxy) (dials, connectDials int64, waits []time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := proxy.Accepted()
	var first atomic.Bool
	var atFirst atomic.Int64
	waits = make([]time.Duration, callers)
	gate := make(chan struct{})
	var ready, done sync.WaitGroup
	var failed atomic.Int64
	ready.Add(callers)
	for i := range callers {
		done.Go(func() {
			ready.Done()
			<-gate
			start := time.Now()
			rdb, err := g.get(ctx)
			if err == nil && first.CompareAndSwap(false, true) {
				atFirst.Store(proxy.Accepted() - base)
			}
			if err == nil {
				err = rdb.Ping(ctx).Err()
			}
			if err != nil {
				failed.Add(1)
			}
			waits[i] = time.Since(start)
		})
	}
	ready.Wait()
	close(gate)
	done.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d callers failed", n, callers)
	}
	return proxy.Accepted() - base, atFirst.Load(), waits
}

// TestOnceNeverRecovers shows why the once strategy is not a contender: a
// failed first connect is never retried.
func TestOnceNeverRecovers(t *testing.T) {
	mr := miniredis.RunT(t)
	proxy := faultproxy.New(t, mr.Addr())
	if err := proxy.SetMode(faultproxy.Refuse); err != nil {
		t.Fatal(err)
	}
	o := &onceGetter{url: proxy.URL()}
	defer o.close()
	if _, err := o.get(t.Context()); err == nil {
		t.Fatal("connect succeeded with nothing listening")
	}
	if err := proxy.SetMode(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	if _, err := o.get(t.Context()); err == nil {
		t.Fatal("sync.Once retried: the strategy would recover")
	}
	// The connector, in the same situation, recovers on the next call.
	c := newConnectorGetter(proxy.URL())
	defer c.close()
	if _, err := c.get(t.Context()); err != nil {
		t.Fatalf("connector with the server back: %v", err)
	}
}

// BenchmarkOutage: one caller's request (get a client, INCR) once a fault
// is in place: hang (accepts, never answers), refused (nothing listens),
// reset (accepts, then resets). For connector the circuit has tripped
// before the timer starts. Reported: p99-ms, dials/op (dial attempts the
// client made, refused ones included) and dials/5s (per default open
// period of the connector's circuit).
func BenchmarkOutage(b *testing.B) {
	srv := startBenchRedis(b)
	for _, fault := range []string{"hang", "refused", "reset"} {
		for _, name := range []string{"connector", "shared"} {
			b.Run("fault="+fault+"/strategy="+name, func(b *testing.B) {
				proxy := faultproxy.New(b, srv.Addr)
				dials := &redistest.DialCounter{}
				var g getter
				if name == "connector" {
					c, err := connector.New(connector.Config{URL: proxy.URL(), Logger: discard, OnNewClient: func(rdb redis.UniversalClient) error {
						rdb.AddHook(dials)
						return nil
					}})
					if err != nil {
						b.Fatal(err)
					}
					g = connectorGetter{c}
				} else {
					sh := newShared(proxy.URL())
					sh.(shared).rdb.AddHook(dials)
					g = sh
				}
				defer g.close()
				ctx := context.Background()
				request := func() error {
					rdb, err := g.get(ctx)
					if err != nil {
						return err
					}
					return rdb.Incr(ctx, "outage").Err()
				}
				if err := request(); err != nil {
					b.Fatalf("healthy request: %v", err)
				}
				mode := map[string]faultproxy.Mode{"hang": faultproxy.Hang, "refused": faultproxy.Refuse, "reset": faultproxy.Reset}[fault]
				if err := proxy.SetMode(mode); err != nil {
					b.Fatal(err)
				}
				proxy.CutAll()
				if name == "connector" {
					// A hang opens the circuit within 2 × read_timeout
					// (10 s); behind a proxy that accepts and resets, the
					// check cannot tell a dead Redis from a full one at
					// once, and it opens within servedWait (1 s), not on
					// the first failure (README, "down").
					deadline := time.Now().Add(30 * time.Second)
					for {
						var ue *connector.UnavailableError
						if err := request(); errors.As(err, &ue) && ue.CircuitOpen {
							break
						}
						if time.Now().After(deadline) {
							b.Fatal("the circuit did not open within 30s")
						}
						time.Sleep(time.Millisecond)
					}
				}
				base := dials.Dials()
				var lat []time.Duration
				b.ReportAllocs()
				start := time.Now()
				for b.Loop() {
					t0 := time.Now()
					if err := request(); err == nil {
						b.Fatal("a request succeeded during the outage")
					}
					lat = append(lat, time.Since(t0))
				}
				n := dials.Dials() - base
				b.ReportMetric(percentile(lat, 99), "p99-ms")
				b.ReportMetric(float64(n)/float64(b.N), "dials/op")
				b.ReportMetric(float64(n)/max(time.Since(start).Seconds()/5, 1), "dials/5s")
			})
		}
	}
}

// BenchmarkOutageCold: a cold start against a hung Redis (the proxy
// accepts, never answers), connector defaults (AttemptTimeout 2s, 3
// attempts), 100 request loops (get a client, INCR) for 8s: the whole
// connect and the open period after it. One op is one cold start.
//
// Reported: first-ms, the slowest request that started before the first
// attempt failed (bound: AttemptTimeout); after-p99-ms and after-max-ms,
// requests that started after it (target p99 ≤ 1ms: nobody waits on the
// connect's later attempts or on a probe).
func BenchmarkOutageCold(b *testing.B) {
	srv := startBenchRedis(b)
	var first, after []time.Duration
	for b.Loop() {
		proxy := faultproxy.New(b, srv.Addr)
		if err := proxy.SetMode(faultproxy.Hang); err != nil {
			b.Fatal(err)
		}
		c, err := connector.New(connector.Config{URL: proxy.URL(), Logger: discard})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		var failedAt atomic.Int64 // when the first request failed
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				var f, a []time.Duration
				for time.Since(start) < 8*time.Second {
					t0 := time.Now()
					rdb, err := c.Client(context.Background())
					if err == nil {
						err = rdb.Incr(context.Background(), "cold").Err()
					}
					took := time.Since(t0)
					if err == nil {
						b.Error("a request succeeded against a hung server")
						return
					}
					failedAt.CompareAndSwap(0, int64(time.Since(start)))
					if t0.Sub(start) < time.Duration(failedAt.Load()) {
						f = append(f, took)
					} else {
						a = append(a, took)
					}
					time.Sleep(time.Millisecond)
				}
				mu.Lock()
				first, after = append(first, f...), append(after, a...)
				mu.Unlock()
			})
		}
		wg.Wait()
		_ = c.Close()
		proxy.Close()
	}
	b.ReportMetric(percentile(first, 100), "first-ms")
	b.ReportMetric(percentile(after, 99), "after-p99-ms")
	b.ReportMetric(percentile(after, 100), "after-max-ms")
}

// BenchmarkRecovery: Redis is killed for an outage of 200ms, 1s, 5s or
// 30s while the service keeps calling (one request per millisecond), then
// restarted. connector uses the defaults (open period from 100ms, doubling
// up to 5s, ± 20 %); connector-fixed-5s a fixed 5s period (the schedule
// before the open period grew); shared is a plain go-redis client.
//
// Reported: recover-ms, the time from the restarted server answering PING
// to the first request (client and INCR) that succeeds; dials/outage, the
// connection attempts Redis saw from the kill to the restart (counted by
// the innermost dialer).
func BenchmarkRecovery(b *testing.B) {
	srv := startBenchRedis(b)
	for _, outage := range []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second, 30 * time.Second} {
		for _, name := range []string{"connector", "connector-fixed-5s", "shared"} {
			b.Run(fmt.Sprintf("outage=%v/strategy=%s", outage, name), func(b *testing.B) {
				var recovered []time.Duration
				var dials int64
				for b.Loop() {
					r, d := recovery(b, srv, name, outage)
					recovered, dials = append(recovered, r), dials+d
				}
				b.ReportMetric(percentile(recovered, 50), "recover-ms")
				b.ReportMetric(float64(dials)/float64(b.N), "dials/outage")
			})
		}
	}
}

func recovery(b *testing.B, srv *benchRedis, name string, outage time.Duration) (time.Duration, int64) {
	var dials atomic.Int64
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	var g getter
	switch name {
	case "shared":
		g = shared{redis.NewClient(&redis.Options{Addr: srv.Addr, Dialer: dialer})}
	default:
		cfg := connector.Config{Options: &redis.UniversalOptions{Addrs: []string{srv.Addr}, Dialer: dialer}, Logger: discard}
		if name == "connector-fixed-5s" {
			cfg.Breaker = breaker.Settings{Timeout: 5 * time.Second, BaseTimeout: 5 * time.Second}
		}
		c, err := connector.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		g = connectorGetter{c}
	}
	defer g.close()
	ctx := context.Background()
	request := func() error {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		rdb, err := g.get(rctx)
		if err != nil {
			return err
		}
		return rdb.Incr(rctx, "recovery").Err()
	}
	if err := request(); err != nil {
		b.Fatalf("healthy request: %v", err)
	}
	srv.kill()
	base := dials.Load()
	deadline := time.Now().Add(outage)
	for time.Now().Before(deadline) { // the outage, with traffic
		_ = request()
		time.Sleep(time.Millisecond)
	}
	during := dials.Load() - base
	srv.restart()
	back := time.Now()
	for time.Since(back) < 30*time.Second {
		if request() == nil {
			return time.Since(back), during
		}
		time.Sleep(time.Millisecond)
	}
	b.Fatalf("%s did not recover within 30s", name)
	return 0, 0
}

// BenchmarkDetect: how soon a hung Redis (a real redis-server stopped with
// SIGSTOP: connections open, nothing answered) opens the circuit, with the
// connector's defaults (go-redis' read_timeout 5s), under N concurrent
// request loops (get a client, GET). One op is one hang.
//
// Reported: detect-ms, from SIGSTOP to the circuit open (bound: 2 ×
// read_timeout); slowest-ms, the slowest request during the hang;
// fast-p99-ms, the p99 of requests once the circuit is open. A loop whose
// request was refused at once waits detectPace before its next.
func BenchmarkDetect(b *testing.B) {
	srv := startBenchRedis(b)
	if srv.pause == nil {
		b.Skip("needs a real redis-server (SIGSTOP)")
	}
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			var detect, slowest []time.Duration
			var fast []time.Duration
			for b.Loop() {
				d, s, f := detectOnce(b, srv, n)
				detect, slowest, fast = append(detect, d), append(slowest, s), append(fast, f...)
			}
			b.ReportMetric(percentile(detect, 50), "detect-ms")
			b.ReportMetric(percentile(slowest, 100), "slowest-ms")
			b.ReportMetric(percentile(fast, 99), "fast-p99-ms")
			b.ReportMetric(percentile(fast, 50), "fast-p50-ms")
			b.ReportMetric(percentile(detect, 100), "detect-max-ms")
		})
	}
}

// detectPace is how long a request loop of BenchmarkDetect waits after a
// request refused in under a millisecond: 1 000 loops then offer at most
// 100 000 requests a second.
const detectPace = 10 * time.Millisecond

func detectOnce(b *testing.B, srv *benchRedis, callers int) (detect, slowest time.Duration, fast []time.Duration) {
	c, err := connector.New(connector.Config{URL: "redis://" + srv.Addr, Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	request := func() error {
		rdb, err := c.Client(ctx)
		if err != nil {
			return err
		}
		if err := rdb.Get(ctx, "detect").Err(); !errors.Is(err, redis.Nil) {
			return err
		}
		return nil
	}
	if err := request(); err != nil {
		b.Fatalf("healthy request: %v", err)
	}
	srv.pause()
	defer srv.resume()
	hung := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var opened atomic.Int64
	wg.Go(func() {
		for opened.Load() == 0 && time.Since(hung) < 30*time.Second {
			if c.Stats().Circuit != breaker.Closed {
				opened.Store(int64(time.Since(hung)))
			}
			time.Sleep(time.Millisecond)
		}
	})
	for range callers {
		wg.Go(func() {
			var mine, fastMine []time.Duration
			for time.Since(hung) < 30*time.Second {
				open := opened.Load() != 0
				t0 := time.Now()
				_ = request()
				took := time.Since(t0)
				if took < time.Millisecond {
					// Refused at once: a client's retry comes later. A
					// thousand loops spinning on microsecond refusals keep
					// two cores busy and this benchmark's own goroutines
					// (the watch on the circuit, the loops' clocks) from
					// running for seconds, and it would measure that.
					time.Sleep(detectPace)
				}
				if open {
					fastMine = append(fastMine, took)
					if len(fastMine) == 10 {
						break
					}
				} else {
					mine = append(mine, took)
				}
			}
			mu.Lock()
			for _, d := range mine {
				slowest = max(slowest, d)
			}
			fast = append(fast, fastMine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if opened.Load() == 0 {
		b.Fatal("the circuit did not open within 30s of the hang")
	}
	return time.Duration(opened.Load()), slowest, fast
}
