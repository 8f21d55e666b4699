package redismw_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
	rec := get(t, h, "/healthz")
	r := decode(t, rec)
	if rec.Code != 200 || r.Status != "up" || r.State != "ready" || r.Circuit != "closed" || r.LatencyMS == nil || r.CheckedAt == "" {
		t.Errorf("%d %+v; want 200, up, ready, closed, with a latency", rec.Code, r)
	}

	head := httptest.NewRecorder()
	h.ServeHTTP(head, httptest.NewRequestWithContext(t.Context(), http.MethodHead, "/healthz", nil))
	if head.Code != 200 || head.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d body bytes, want 200 and none", head.Code, head.Body.Len())
	}
	post := httptest.NewRecorder()
	h.ServeHTTP(post, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/healthz", nil))
	if post.Code != http.StatusMethodNotAllowed || post.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q", post.Code, post.Header().Get("Allow"))
	}
}

func TestHealthDown(t *testing.T) {
	c := downConnector(t)
	rec := get(t, redismw.HealthHandler(c, redismw.WithProbeTimeout(time.Second)), "/healthz")
	r := decode(t, rec)
	if rec.Code != 503 || r.Status != "down" || r.State != "circuit_open" || r.Circuit != "open" || r.LatencyMS != nil {
		t.Errorf("%d %+v; want 503, down, circuit_open, open, no latency", rec.Code, r)
	}
	if rec.Header().Get("Retry-After") == "" || r.RetryIn < 1 {
		t.Errorf("Retry-After %q, retry_in %d; want the open period", rec.Header().Get("Retry-After"), r.RetryIn)
	}
	if r.Error != "" || strings.Contains(rec.Body.String(), "circuit open") {
		t.Errorf("error text in the default body: %s", rec.Body)
	}

	rec = get(t, redismw.HealthHandler(c, redismw.WithErrorDetail()), "/healthz")
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
		wg.Go(func() { codes[i] = get(t, h, "/healthz").Code })
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
	rec := get(t, redismw.HealthHandler(c), "/healthz")
	if r := decode(t, rec); rec.Code != 503 || r.Status != "down" || r.Circuit != "closed" {
		t.Errorf("%d %+v; want 503, down, the circuit closed (an error reply is no failure of Redis)", rec.Code, r)
	}
}

// TestHealthAfterClose: a closed connector is down for good: 503 without
// Retry-After, as WriteUnavailable answers.
func TestHealthAfterClose(t *testing.T) {
	c, _ := redismwtest.NewConnector(t)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	rec := get(t, redismw.HealthHandler(c), "/healthz")
	r := decode(t, rec)
	if rec.Code != 503 || r.Status != "down" || r.State != "closed" {
		t.Errorf("%d %+v; want 503, down, closed", rec.Code, r)
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
		rec := get(t, h, "/healthz")
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("probe %d against a 1.3s Redis: %d, want 503 (its 1s timeout ended)", i, rec.Code)
		}
		// The circuit is closed: nobody knows when Redis will answer in
		// time, so WriteUnavailable's rule gives 1.
		if r := decode(t, rec); rec.Header().Get("Retry-After") != "1" || r.RetryIn != 1 {
			t.Errorf("probe %d that timed out: Retry-After %q, retry_in %d; want 1, 1", i, rec.Header().Get("Retry-After"), r.RetryIn)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable || decode(t, rec).Status != "down" {
		t.Errorf("probe whose deadline ended while it waited: %d %q, want 503 down", rec.Code, rec.Body)
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
