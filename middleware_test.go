package redismw_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/redismwtest"
)

// probe is a handler that records the client it was given.
type probe struct {
	calls  atomic.Int32
	client atomic.Pointer[redis.UniversalClient]
	had    atomic.Bool
}

func (p *probe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	rdb, ok := redismw.FromContext(r.Context())
	p.had.Store(ok)
	if ok {
		p.client.Store(&rdb)
	}
	w.WriteHeader(http.StatusNoContent)
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
	return rec
}

// downConnector returns a connector whose Redis is gone and whose circuit
// has opened (threshold 1).
func downConnector(t *testing.T) *connector.Connector {
	t.Helper()
	c, mr := redismwtest.NewConnector(t, func(cfg *connector.Config) {
		cfg.Breaker.FailureThreshold = 1
		cfg.Breaker.Timeout = time.Minute
		cfg.Breaker.BaseTimeout = time.Minute
	})
	mr.Close()
	if _, err := c.Client(t.Context()); !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("Client with Redis gone: %v", err)
	}
	return c
}

func TestMiddlewareInjectsReadyClient(t *testing.T) {
	c, _ := redismwtest.NewConnector(t)
	want, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p := &probe{}
	h := redismw.Middleware(c)(p)
	for range 3 {
		if rec := get(t, h, "/"); rec.Code != http.StatusNoContent {
			t.Fatalf("status %d, want the handler's 204", rec.Code)
		}
	}
	if p.calls.Load() != 3 || !p.had.Load() || *p.client.Load() != want {
		t.Errorf("handler called %d times, had client %v; want 3 calls with the connector's client", p.calls.Load(), p.had.Load())
	}
}

func TestMiddlewareConnectsOnFirstRequest(t *testing.T) {
	c, mr := redismwtest.NewConnector(t)
	h := redismw.Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rdb, _ := redismw.FromContext(r.Context())
		n, err := rdb.Incr(r.Context(), "n").Result()
		if err != nil {
			redismw.WriteUnavailable(w, r, err)
			return
		}
		_, _ = w.Write([]byte(strconv.FormatInt(n, 10)))
	}))
	if rec := get(t, h, "/"); rec.Code != 200 || rec.Body.String() != "1" {
		t.Fatalf("first request: %d %q", rec.Code, rec.Body)
	}
	if got, _ := mr.Get("n"); got != "1" {
		t.Errorf("counter %q in Redis, want 1", got)
	}
}

func TestMiddlewareOpenCircuitAnswers503(t *testing.T) {
	c := downConnector(t)
	p := &probe{}
	h := redismw.Middleware(c)(p)

	start := time.Now()
	rec := get(t, h, "/")
	took := time.Since(start)
	if rec.Code != http.StatusServiceUnavailable || p.calls.Load() != 0 {
		t.Fatalf("status %d, handler calls %d; want 503 without calling the handler", rec.Code, p.calls.Load())
	}
	if took > 100*time.Millisecond {
		t.Errorf("503 took %v on an open circuit, want it at once", took)
	}
	if secs, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || secs < 50 || secs > 60 {
		t.Errorf("Retry-After %q, want the open period's remaining seconds (≤ 60)", rec.Header().Get("Retry-After"))
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	var problem struct {
		Type, Title, Detail string
		Status              int
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &problem); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body, err)
	}
	if problem.Status != 503 || problem.Title != "Service Unavailable" || problem.Type != "about:blank" || problem.Detail == "" {
		t.Errorf("problem %+v", problem)
	}
	for _, internal := range []string{"redismw", "circuit", "127.0.0.1", "refused", "dial"} {
		if strings.Contains(rec.Body.String(), internal) {
			t.Errorf("body leaks internal text %q: %s", internal, rec.Body)
		}
	}
}

func TestMiddlewareFailOpen(t *testing.T) {
	c := downConnector(t)
	p := &probe{}
	rec := get(t, redismw.Middleware(c, redismw.WithFailOpen())(p), "/")
	if rec.Code != http.StatusNoContent || p.calls.Load() != 1 || p.had.Load() {
		t.Errorf("status %d, calls %d, had client %v; want the handler called without a client", rec.Code, p.calls.Load(), p.had.Load())
	}
}

func TestMiddlewareSkip(t *testing.T) {
	c := downConnector(t)
	p := &probe{}
	h := redismw.Middleware(c, redismw.WithSkip(func(r *http.Request) bool {
		return strings.HasPrefix(r.URL.Path, "/static/")
	}))(p)
	if rec := get(t, h, "/static/app.css"); rec.Code != http.StatusNoContent || p.had.Load() {
		t.Errorf("skipped path: status %d, had client %v; want the handler, without a client", rec.Code, p.had.Load())
	}
	if rec := get(t, h, "/data"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("other path: status %d, want 503", rec.Code)
	}
	if p.calls.Load() != 1 {
		t.Errorf("handler called %d times, want once", p.calls.Load())
	}
}

func TestMiddlewareErrorHandler(t *testing.T) {
	// handled returns c behind a middleware whose error handler records
	// the error it got (into *got) and answers 418.
	handled := func(c *connector.Connector, got *error) http.Handler {
		return redismw.Middleware(c, redismw.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			*got = err
			w.WriteHeader(http.StatusTeapot)
		}))(&probe{})
	}
	t.Run("circuit open", func(t *testing.T) {
		var got error
		if rec := get(t, handled(downConnector(t), &got), "/"); rec.Code != http.StatusTeapot {
			t.Errorf("status %d, want the custom handler's 418", rec.Code)
		}
		var ue *connector.UnavailableError
		if !errors.As(got, &ue) || !ue.CircuitOpen {
			t.Errorf("error handler got %v, want the open circuit's UnavailableError", got)
		}
	})
	t.Run("after Close", func(t *testing.T) {
		c, _ := redismwtest.NewConnector(t)
		_ = c.Close()
		var got error
		if rec := get(t, handled(c, &got), "/"); rec.Code != http.StatusTeapot || !errors.Is(got, connector.ErrClosed) {
			t.Errorf("after Close: status %d, the error handler got %v; want 418, ErrClosed", rec.Code, got)
		}
	})
}

// hungConnector returns a connector to a server that accepts and never
// answers, with attempts long enough to outlast the test's waits.
func hungConnector(t *testing.T) (*connector.Connector, *faultproxy.Proxy) {
	t.Helper()
	mr := miniredis.RunT(t)
	proxy := faultproxy.New(t, mr.Addr())
	if err := proxy.SetMode(faultproxy.Hang); err != nil {
		t.Fatal(err)
	}
	c, _ := redismwtest.NewConnector(t, func(cfg *connector.Config) {
		cfg.URL = proxy.URL()
		cfg.AttemptTimeout = 20 * time.Second
	})
	return c, proxy
}

func TestMiddlewareWaitBudget(t *testing.T) {
	c, _ := hungConnector(t)
	p := &probe{}
	h := redismw.Middleware(c, redismw.WithWaitBudget(100*time.Millisecond))(p)
	start := time.Now()
	rec := get(t, h, "/")
	took := time.Since(start)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("status %d, Retry-After %q; want 503, 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	if took < 100*time.Millisecond || took > time.Second {
		t.Errorf("request took %v, want about the 100ms budget", took)
	}
	if s := c.Stats(); s.State != connector.StateConnecting || s.Failures != 0 {
		t.Errorf("stats %+v; want the connect still under way for others, no failure", s)
	}
}

// writeSpy records whether anything was written.
type writeSpy struct {
	http.ResponseWriter
	wrote atomic.Bool
}

func (w *writeSpy) WriteHeader(code int) { w.wrote.Store(true); w.ResponseWriter.WriteHeader(code) }
func (w *writeSpy) Write(b []byte) (int, error) {
	w.wrote.Store(true)
	return w.ResponseWriter.Write(b)
}

// TestMiddlewareRequestContextEnds: a request whose own context ends while
// it waits counts no failure; a cancelled one gets nothing written, one
// whose deadline ended gets the 503 (never an empty 200).
func TestMiddlewareRequestContextEnds(t *testing.T) {
	for _, tt := range []struct {
		name   string
		ctx    func(context.Context) (context.Context, context.CancelFunc)
		status int // 0: nothing written
	}{
		{"cancelled", func(ctx context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, 0},
		{"deadline", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 50*time.Millisecond)
		}, http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := hungConnector(t)
			p := &probe{}
			h := redismw.Middleware(c, redismw.WithWaitBudget(time.Minute))(p)
			ctx, cancel := tt.ctx(t.Context())
			defer cancel()
			rec := httptest.NewRecorder()
			spy := &writeSpy{ResponseWriter: rec}
			start := time.Now()
			h.ServeHTTP(spy, httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil))
			if took := time.Since(start); took > time.Second {
				t.Errorf("request returned after %v, want soon after its context ended at 50ms", took)
			}
			if p.calls.Load() != 0 {
				t.Errorf("handler ran %d times without a client", p.calls.Load())
			}
			switch {
			case tt.status == 0 && spy.wrote.Load():
				t.Errorf("a cancelled request got %d %q, want nothing written", rec.Code, rec.Body)
			case tt.status != 0 && (rec.Code != tt.status || rec.Header().Get("Content-Type") != "application/problem+json"):
				t.Errorf("request whose deadline ended: %d %q, want %d with a problem body", rec.Code, rec.Body, tt.status)
			}
			_ = c.Close() // cuts the hung attempt short; it must not count either
			if s := c.Stats(); s.Failures != 0 || s.AttemptFailures != 0 {
				t.Errorf("stats %+v; a request that left must count no failure", s)
			}
		})
	}
}

func TestMiddlewareSetupMistakesPanic(t *testing.T) {
	c, _ := redismwtest.NewConnector(t)
	for name, f := range map[string]func(){
		"nil connector":          func() { redismw.Middleware(nil) },
		"nil handler":            func() { redismw.Middleware(c)(nil) },
		"nil health connector":   func() { redismw.HealthHandler(nil) },
		"negative budget":        func() { redismw.WithWaitBudget(-time.Second) },
		"negative health cache":  func() { redismw.WithHealthCache(-time.Second) },
		"negative probe timeout": func() { redismw.WithProbeTimeout(-1) },
	} {
		func() {
			defer func() {
				if v := recover(); v == nil || !strings.HasPrefix(v.(string), "redismw: ") {
					t.Errorf("%s: recovered %v, want a redismw panic", name, v)
				}
			}()
			f()
		}()
	}
}

func TestMiddlewareWithServeMux(t *testing.T) {
	c, _ := redismwtest.NewConnector(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		rdb, ok := redismw.FromContext(r.Context())
		if !ok {
			http.Error(w, "no client", 500)
			return
		}
		_ = rdb.Set(r.Context(), "item", r.PathValue("id"), 0).Err()
		_, _ = w.Write([]byte(r.PathValue("id")))
	})
	srv := httptest.NewServer(redismw.Middleware(c)(mux))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/items/42")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "42" {
		t.Errorf("GET /items/42 through the mux: %d %q", resp.StatusCode, body)
	}
}

// TestMiddlewarePanickingConnect: a connect that panics (user code in
// OnNewClient) gets every request the unavailable answer — the 503, or the
// handler without a client with WithFailOpen — never a dropped connection.
func TestMiddlewarePanickingConnect(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail-open=%v", failOpen), func(t *testing.T) {
			c, _ := redismwtest.NewConnector(t, func(cfg *connector.Config) {
				cfg.OnNewClient = func(redis.UniversalClient) error { panic("instrumentation bug") }
			})
			var opts []redismw.Option
			if failOpen {
				opts = append(opts, redismw.WithFailOpen())
			}
			p := &probe{}
			h := redismw.Middleware(c, opts...)(p)
			for range 3 {
				rec := get(t, h, "/")
				switch {
				case failOpen && (rec.Code != http.StatusNoContent || p.had.Load()):
					t.Errorf("fail-open request: %d, client %v; want the handler without a client", rec.Code, p.had.Load())
				case !failOpen && rec.Code != http.StatusServiceUnavailable:
					t.Errorf("fail-closed request: %d, want 503", rec.Code)
				}
			}
		})
	}
}

// TestClientFor: behind two middlewares, each connector's client is found
// with ClientFor, FromContext gives the innermost one, and a connector
// whose middleware is not in the chain has none.
func TestClientFor(t *testing.T) {
	outer, _ := redismwtest.NewConnector(t)
	inner, _ := redismwtest.NewConnector(t)
	other, _ := redismwtest.NewConnector(t)
	rOuter, _ := outer.Client(t.Context())
	rInner, _ := inner.Client(t.Context())
	var got [4]redis.UniversalClient
	var ok [4]bool
	h := redismw.Middleware(outer)(redismw.Middleware(inner)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got[0], ok[0] = redismw.ClientFor(r.Context(), outer)
		got[1], ok[1] = redismw.ClientFor(r.Context(), inner)
		got[2], ok[2] = redismw.FromContext(r.Context())
		got[3], ok[3] = redismw.ClientFor(r.Context(), other)
	})))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if got[0] != rOuter || got[1] != rInner || got[2] != rInner || ok[3] || !ok[0] || !ok[1] || !ok[2] {
		t.Errorf("ClientFor(outer) %v %v, ClientFor(inner) %v %v, FromContext %v %v, ClientFor(other) %v; want outer's, inner's, inner's, none",
			got[0] == rOuter, ok[0], got[1] == rInner, ok[1], got[2] == rInner, ok[2], ok[3])
	}
}
