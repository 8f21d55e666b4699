package redismw_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
	"github.com/ankitoon/redismw/redismwtest"
)

type report struct {
	Status    string   `json:"status"`
	Reason    string   `json:"reason"`
	State     string   `json:"state"`
	Circuit   string   `json:"circuit"`
	LatencyMS *float64 `json:"latency_ms"`
	CheckedAt string   `json:"checked_at"`
	Error     string   `json:"error"`
	RetryIn   int      `json:"retry_in"`
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) report {
	t.Helper()
	var r report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return r
}

func TestHealthUp(t *testing.T) {
	c, _ := redismwtest.NewConnector(t)
	h := redismw.HealthHandler(c)
	rec := get(t, h, "/readyz")
	r := decode(t, rec)
	if rec.Code != 200 || r.Status != "up" || r.State != "ready" || r.Circuit != "closed" || r.LatencyMS == nil || r.CheckedAt == "" {
		t.Errorf("%d %+v; want 200, up, ready, closed, with a latency", rec.Code, r)
	}
	if r.Reason != "" || r.RetryIn != 0 || rec.Header().Get("Retry-After") != "" {
		t.Errorf("up with reason %q, retry_in %d, Retry-After %q; want none", r.Reason, r.RetryIn, rec.Header().Get("Retry-After"))
	}

	head := httptest.NewRecorder()
	h.ServeHTTP(head, httptest.NewRequestWithContext(t.Context(), http.MethodHead, "/readyz", nil))
	if head.Code != 200 || head.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d body bytes, want 200 and none", head.Code, head.Body.Len())
	}
	post := httptest.NewRecorder()
	h.ServeHTTP(post, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/readyz", nil))
	if post.Code != http.StatusMethodNotAllowed || post.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q", post.Code, post.Header().Get("Allow"))
	}
}

func TestHealthDown(t *testing.T) {
	c := downConnector(t)
	rec := get(t, redismw.HealthHandler(c, redismw.WithProbeTimeout(time.Second)), "/readyz")
	r := decode(t, rec)
	if rec.Code != 503 || r.Status != "down" || r.Reason != "circuit_open" || r.State != "circuit_open" || r.Circuit != "open" || r.LatencyMS != nil {
		t.Errorf("%d %+v; want 503, down for circuit_open, circuit_open, open, no latency", rec.Code, r)
	}
	if rec.Header().Get("Retry-After") == "" || r.RetryIn < 1 {
		t.Errorf("Retry-After %q, retry_in %d; want the open period", rec.Header().Get("Retry-After"), r.RetryIn)
	}
	if r.Error != "" || strings.Contains(rec.Body.String(), "circuit open") {
		t.Errorf("error text in the default body: %s", rec.Body)
	}

	rec = get(t, redismw.HealthHandler(c, redismw.WithErrorDetail()), "/readyz")
	if r := decode(t, rec); !strings.Contains(r.Error, "circuit open") {
		t.Errorf("WithErrorDetail: error %q, want the internal text", r.Error)
	}
}

// TestHealthCachesProbes: 1000 concurrent probes cost Redis at most a
// handful of PINGs.
func TestHealthCachesProbes(t *testing.T) {
	c, mr := redismwtest.NewConnector(t)
	if rdb, err := c.Client(t.Context()); err != nil || rdb.Ping(t.Context()).Err() != nil {
		t.Fatal("warm-up failed")
	}
	h := redismw.HealthHandler(c, redismw.WithHealthCache(time.Second))
	before := mr.CommandCount()
	var wg sync.WaitGroup
	codes := make([]int, 1000)
	for i := range codes {
		wg.Go(func() { codes[i] = get(t, h, "/readyz").Code })
	}
	wg.Wait()
	for i, code := range codes {
		if code != 200 {
			t.Fatalf("probe %d: %d", i, code)
		}
	}
	pings := mr.CommandCount() - before
	if pings < 1 || pings > 3 {
		t.Errorf("1000 probes sent %d commands to Redis, want 1 (at most 3 if the run spans periods)", pings)
	}
	t.Logf("1000 concurrent probes: %d PING(s) at the server", pings)
}

// TestHealthErrorReply: a PING answered with an error reply other than
// NOPERM for PING itself (a proxy in front of Redis refusing it, say) is
// not "up", whatever the circuit says.
func TestHealthErrorReply(t *testing.T) {
	c, mr := redismwtest.NewConnector(t)
	if _, err := c.Client(t.Context()); err != nil {
		t.Fatal(err)
	}
	mr.SetError("ERR unknown command 'ping'")
	rec := get(t, redismw.HealthHandler(c), "/readyz")
	if r := decode(t, rec); rec.Code != 503 || r.Status != "down" || r.Reason != "ping_failed" || r.Circuit != "closed" {
		t.Errorf("%d %+v; want 503, down for ping_failed, the circuit closed (an error reply is no failure of Redis)", rec.Code, r)
	}
}

// TestHealthAfterClose: a closed connector is down for good: 503 without
// Retry-After, as WriteUnavailable answers.
func TestHealthAfterClose(t *testing.T) {
	c, _ := redismwtest.NewConnector(t)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	rec := get(t, redismw.HealthHandler(c), "/readyz")
	r := decode(t, rec)
	if rec.Code != 503 || r.Status != "down" || r.Reason != "closed" || r.State != "closed" {
		t.Errorf("%d %+v; want 503, down for closed, closed", rec.Code, r)
	}
	if rec.Header().Get("Retry-After") != "" || r.RetryIn != 0 {
		t.Errorf("Retry-After %q, retry_in %d after Close; want none", rec.Header().Get("Retry-After"), r.RetryIn)
	}
}

// TestHealthProbeDeadline: readiness probes whose own deadline (1s) is
// shorter than a slow but healthy Redis' answers (1.3s, well under
// read_timeout) report down without opening the circuit; a probe request
// whose deadline ends while it waits gets 503, never an empty 200.
func TestHealthProbeDeadline(t *testing.T) {
	srv := redistest.Start(t)
	proxy := faultproxy.New(t, srv.Addr)
	c, err := connector.New(connector.Config{URL: proxy.URL(), Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Client(t.Context()); err != nil {
		t.Fatal(err)
	}
	proxy.SetLatency(1300 * time.Millisecond)
	h := redismw.HealthHandler(c, redismw.WithHealthCache(time.Millisecond))
	for i := range 5 {
		rec := get(t, h, "/readyz")
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("probe %d against a 1.3s Redis: %d, want 503 (its 1s timeout ended)", i, rec.Code)
		}
		// The circuit is closed: nobody knows when Redis will answer in
		// time, so WriteUnavailable's rule gives 1.
		if r := decode(t, rec); rec.Header().Get("Retry-After") != "1" || r.RetryIn != 1 || r.Reason != "timeout" {
			t.Errorf("probe %d that timed out: Retry-After %q, retry_in %d, reason %q; want 1, 1, timeout", i, rec.Header().Get("Retry-After"), r.RetryIn, r.Reason)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/readyz", nil))
	// It may have run a probe of its own (which ignores the request's
	// deadline, bounded by the probe timeout) or waited on one.
	if r := decode(t, rec); rec.Code != http.StatusServiceUnavailable || r.Status != "down" || (r.Reason != "timeout" && r.Reason != "deadline") {
		t.Errorf("probe whose deadline ended while it waited: %d %q, want 503 down for timeout or deadline", rec.Code, rec.Body)
	}
	eventually(t, 20*time.Second, "the connector's checks of the timeouts", func() bool { return c.Stats().Checks >= 1 })
	if s := c.Stats(); s.Circuit != breaker.Closed || s.Failures != 0 {
		t.Errorf("after 5 readiness probes with a 1s timeout against a healthy 1.3s Redis: circuit %v, %d failures; want closed, 0", s.Circuit, s.Failures)
	}
	if rdb, ok := c.Ready(); !ok {
		t.Error("no ready client")
	} else if err := rdb.Incr(t.Context(), "n").Err(); err != nil {
		t.Errorf("INCR without a deadline: %v", err)
	}
}

// TestHealthConnectFailed: with nothing listening and the circuit still
// closed (a high threshold), readiness is down for connect_failed, with
// the Retry-After of a request at that moment: 1.
func TestHealthConnectFailed(t *testing.T) {
	c, err := connector.New(connector.Config{
		URL:            fmt.Sprintf("redis://127.0.0.1:%d", redistest.FreePort(t)),
		AttemptTimeout: 200 * time.Millisecond,
		Breaker:        breaker.Settings{FailureThreshold: 1000},
		Logger:         discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	rec := get(t, redismw.HealthHandler(c), "/readyz")
	r := decode(t, rec)
	if rec.Code != 503 || r.Status != "down" || r.Reason != "connect_failed" || r.Circuit != "closed" {
		t.Errorf("%d %+v; want 503, down for connect_failed, the circuit closed", rec.Code, r)
	}
	if rec.Header().Get("Retry-After") != "1" || r.RetryIn != 1 {
		t.Errorf("Retry-After %q, retry_in %d; want 1, 1", rec.Header().Get("Retry-After"), r.RetryIn)
	}
}

// TestHealthRetryAfterIsRequests: while the circuit is open, readiness
// answers what a request gets at that moment — down for circuit_open, with
// the request's Retry-After (the open period's rest) — whatever it had
// cached before the circuit opened: "up", or down with Retry-After 1 (a
// PING refused with an error reply, as a probe that timed out on a slow
// Redis is).
func TestHealthRetryAfterIsRequests(t *testing.T) {
	for _, cached := range []string{"up", "down"} {
		t.Run("cached "+cached, func(t *testing.T) {
			c, mr := redismwtest.NewConnector(t, func(cfg *connector.Config) {
				cfg.Breaker.Timeout = time.Minute // the open period: Retry-After about 60
				cfg.Breaker.BaseTimeout = time.Minute
				cfg.Breaker.DisableJitter = true
			})
			rdb, err := c.Client(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			h := redismw.HealthHandler(c, redismw.WithHealthCache(time.Hour))
			want := http.StatusOK
			if cached == "down" {
				mr.SetError("ERR unknown command 'ping'")
				want = http.StatusServiceUnavailable
			}
			if rec := get(t, h, "/readyz"); rec.Code != want {
				t.Fatalf("before the outage: %d %s, want %d", rec.Code, rec.Body, want)
			}

			mr.Close() // Redis dies: a command fails, the connector's check confirms it
			_ = rdb.Get(t.Context(), "k").Err()
			eventually(t, 10*time.Second, "the circuit opens", func() bool { return c.Stats().Circuit == breaker.Open })

			requests := redismw.Middleware(c)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				t.Error("the handler ran while the circuit was open")
			}))
			retryAfter := func(rec *httptest.ResponseRecorder) int {
				t.Helper()
				n, err := strconv.Atoi(rec.Header().Get("Retry-After"))
				if rec.Code != http.StatusServiceUnavailable || err != nil {
					t.Fatalf("%d, Retry-After %q; want 503 with a Retry-After", rec.Code, rec.Header().Get("Retry-After"))
				}
				return n
			}
			// The open period's rest shrinks: the readiness answer, taken
			// between two requests', lies between theirs.
			before := retryAfter(get(t, requests, "/visits"))
			rec := get(t, h, "/readyz")
			ready := retryAfter(rec)
			after := retryAfter(get(t, requests, "/visits"))
			if r := decode(t, rec); r.Status != "down" || r.Reason != "circuit_open" || r.Circuit != "open" || r.RetryIn != ready {
				t.Errorf("readiness while open: %+v; want down for circuit_open, the circuit open, retry_in = Retry-After %d", r, ready)
			}
			if ready > before || ready < after || before-after > 1 || after < 2 {
				t.Errorf("Retry-After: request %d, readiness %d, request %d; want one truth, the open period's rest (about 60)", before, ready, after)
			}
		})
	}
}

// TestHealthFollowsRecovery: an answer the connector's state decided (the
// circuit open) is not served from the cache once the state has changed:
// after recovery readiness is up at once, whatever the cache period.
func TestHealthFollowsRecovery(t *testing.T) {
	c, mr := redismwtest.NewConnector(t, func(cfg *connector.Config) {
		cfg.Breaker.Timeout = 200 * time.Millisecond
		cfg.Breaker.BaseTimeout = 200 * time.Millisecond
	})
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	h := redismw.HealthHandler(c, redismw.WithHealthCache(time.Hour))
	mr.Close()
	_ = rdb.Get(t.Context(), "k").Err()
	eventually(t, 10*time.Second, "the circuit opens", func() bool { return c.Stats().Circuit != breaker.Closed })
	rec := get(t, h, "/readyz")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("readiness while the circuit is open: %d %s, want 503", rec.Code, rec.Body)
	}
	if r := decode(t, rec); r.Reason != "circuit_open" {
		t.Errorf("readiness while the circuit is open: reason %q, want circuit_open", r.Reason)
	}
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a probe closes the circuit", func() bool { return c.Stats().Circuit == breaker.Closed })
	if rec := get(t, h, "/readyz"); rec.Code != http.StatusOK || decode(t, rec).Status != "up" {
		t.Errorf("readiness after recovery, cache 1h: %d %s, want 200 up", rec.Code, rec.Body)
	}
}
