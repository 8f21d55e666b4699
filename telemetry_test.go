package redismw_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/oteltest"
	"github.com/ankitoon/redismw/redismwtest"
	"github.com/ankitoon/redismw/telemetry"
)

// connectorAttrs are the attributes of every series of the connector
// named pool (its default name, "host:port/db"): its middleware's too.
func connectorAttrs(t *testing.T, pool string) []attribute.KeyValue {
	t.Helper()
	if pool == "" {
		return nil // the global provider's, outside any middleware
	}
	host, port, err := net.SplitHostPort(strings.TrimSuffix(pool, "/0"))
	if err != nil {
		t.Fatalf("connector name %q: %v", pool, err)
	}
	p, _ := strconv.Atoi(port)
	return []attribute.KeyValue{semconv.DBSystemNameRedis, semconv.ServerAddress(host), semconv.ServerPort(p),
		semconv.DBClientConnectionPoolName(pool)}
}

// rejections is the whole rejections metric of the middlewares of the
// connector named pool ("" for the global provider's, which names none):
// one series per reason, each created at 0, with the counts given; each
// carries the connector's attributes.
func rejections(t *testing.T, pool string, counts map[string]int64) metricdata.Metrics {
	var dps []metricdata.DataPoint[int64]
	for _, r := range []string{telemetry.ReasonCircuitOpen, telemetry.ReasonConnectFailed, telemetry.ReasonWaitBudget,
		telemetry.ReasonClosed, telemetry.ReasonDeadline, telemetry.ReasonCommandFailed, telemetry.ReasonPoolTimeout,
		telemetry.ReasonOverload} {
		kv := append([]attribute.KeyValue{telemetry.AttrReason.String(r)}, connectorAttrs(t, pool)...)
		dps = append(dps, metricdata.DataPoint[int64]{Attributes: attribute.NewSet(kv...), Value: counts[r]})
	}
	return oteltest.Counter(telemetry.MetricRejections,
		"Requests answered 503 by redismw (by the middleware, or by WriteUnavailable in a handler), or passed on without a client when failing open, by reason.",
		"{request}", dps)
}

// assertRejections compares the rejections metric of the connector named
// pool, whole, with counts.
func assertRejections(t *testing.T, p *oteltest.Providers, pool string, counts map[string]int64) {
	t.Helper()
	var with []attribute.KeyValue
	if pool != "" {
		with = append(with, semconv.DBClientConnectionPoolName(pool))
	}
	oteltest.AssertMetric(t, rejections(t, pool, counts), p.Metric(t, telemetry.MetricRejections, with...))
}

// assertRequests compares the requests metric of the middlewares of the
// connector named pool, whole, with the counts of admitted and rejected
// requests: both series exist from the start.
func assertRequests(t *testing.T, p *oteltest.Providers, pool string, admitted, rejected int64) {
	t.Helper()
	series := func(outcome string) attribute.Set {
		return attribute.NewSet(append([]attribute.KeyValue{telemetry.AttrRequestOutcome.String(outcome)}, connectorAttrs(t, pool)...)...)
	}
	want := oteltest.Counter(telemetry.MetricRequests,
		"Requests the middleware handled (not those WithSkip skips), by outcome: admitted with a client, or rejected (see redismw.middleware.rejections for why).",
		"{request}", []metricdata.DataPoint[int64]{
			{Attributes: series(telemetry.RequestAdmitted), Value: admitted},
			{Attributes: series(telemetry.RequestRejected), Value: rejected},
		})
	oteltest.AssertMetric(t, want, p.Metric(t, telemetry.MetricRequests, semconv.DBClientConnectionPoolName(pool)))
}

// TestRejectionsMetric: every unavailable answer is counted by reason,
// and as a rejected request.
func TestRejectionsMetric(t *testing.T) {
	p := oteltest.New(t)
	down := downConnector(t)
	h := redismw.Middleware(down, redismw.WithMeterProvider(p.Meter))(&probe{})
	for range 3 {
		_ = get(t, h, "/")
	}
	hung, _ := hungConnector(t)
	_ = get(t, redismw.Middleware(hung, redismw.WithMeterProvider(p.Meter), redismw.WithWaitBudget(20*time.Millisecond))(&probe{}), "/")

	c, mr := redismwtest.NewConnector(t)
	mr.Close()
	failOpen := redismw.Middleware(c, redismw.WithMeterProvider(p.Meter), redismw.WithFailOpen())(&probe{})
	_ = get(t, failOpen, "/") // the connect fails: passed on without a client, counted
	_ = down.Close()
	_ = get(t, h, "/")

	assertRejections(t, p, down.Name(), map[string]int64{telemetry.ReasonCircuitOpen: 3, telemetry.ReasonClosed: 1})
	assertRejections(t, p, hung.Name(), map[string]int64{telemetry.ReasonWaitBudget: 1})
	assertRejections(t, p, c.Name(), map[string]int64{telemetry.ReasonConnectFailed: 1})
	assertRequests(t, p, down.Name(), 0, 4)
	assertRequests(t, p, hung.Name(), 0, 1)
	assertRequests(t, p, c.Name(), 0, 1)
}

// TestRequestsMetric: the requests counter is the denominator of the
// rejection ratio: every request the middleware handles is counted once,
// admitted (ready path and after waiting for the connect alike) or
// rejected; skipped requests are not.
func TestRequestsMetric(t *testing.T) {
	p := oteltest.New(t)
	c, mr := redismwtest.NewConnector(t)
	h := redismw.Middleware(c, redismw.WithMeterProvider(p.Meter),
		redismw.WithSkip(func(r *http.Request) bool { return r.URL.Path == "/skip" }))(&probe{})
	assertRequests(t, p, c.Name(), 0, 0) // both series from the start
	for range 3 {
		if rec := get(t, h, "/"); rec.Code >= 300 {
			t.Fatalf("ready: %d", rec.Code)
		}
	}
	_ = get(t, h, "/skip")
	mr.Close()
	_ = c.Close()
	if rec := get(t, h, "/"); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("closed: %d", rec.Code)
	}
	assertRequests(t, p, c.Name(), 3, 1)
	assertRejections(t, p, c.Name(), map[string]int64{telemetry.ReasonClosed: 1})
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPasswordNowhere: a URL with a password, through every path — failed
// connects, a trip, logs, spans, metrics, the health body with error
// detail, the 503 — and the password appears nowhere.
func TestPasswordNowhere(t *testing.T) {
	const password = "s3cret-pass"
	p := oteltest.New(t)
	var logs syncBuffer
	c, err := connector.New(connector.Config{
		URL:            "redis://app:" + password + "@127.0.0.1:1/0", // nothing listens
		MaxAttempts:    2,
		Backoff:        func(int) time.Duration { return 0 },
		Breaker:        breaker.Settings{FailureThreshold: 3},
		Logger:         slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		TracerProvider: p.Tracer,
		MeterProvider:  p.Meter,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()

	var texts []string
	for range 3 {
		_, err := c.Client(context.Background())
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err))
		eventually(t, 10*time.Second, "the connect ending", func() bool { return c.State() != connector.StateConnecting })
	}
	eventually(t, 10*time.Second, "the circuit opening", func() bool { return strings.Contains(logs.String(), "circuit open") })
	h := redismw.Middleware(c, redismw.WithMeterProvider(p.Meter))(&probe{})
	rec := get(t, h, "/")
	texts = append(texts, rec.Body.String(), fmt.Sprint(rec.Header()))
	health := get(t, redismw.HealthHandler(c, redismw.WithErrorDetail()), "/readyz")
	texts = append(texts, health.Body.String(), fmt.Sprint(health.Header()))
	texts = append(texts, fmt.Sprintf("%+v", c.Stats()), logs.String())
	for _, s := range p.Spans.Ended() {
		texts = append(texts, s.Name(), s.Status().Description, fmt.Sprint(s.Attributes()), fmt.Sprint(s.Events()))
	}
	texts = append(texts, fmt.Sprint(p.Collect(t)))

	if rec.Code != http.StatusServiceUnavailable || health.Code != http.StatusServiceUnavailable {
		t.Fatalf("codes %d, %d; want 503s", rec.Code, health.Code)
	}
	if !strings.Contains(logs.String(), "circuit open") || len(p.Spans.Ended()) == 0 {
		t.Fatalf("the paths under test did not run: logs %q, %d spans", logs.String(), len(p.Spans.Ended()))
	}
	for _, text := range texts {
		if strings.Contains(text, password) {
			t.Errorf("password in %q", text)
		}
	}
}

// TestEvery503Counted: a 503 a handler writes with WriteUnavailable is
// counted once, by reason, with its middleware's meter and connector; one
// the middleware already counted (its error handler calling
// WriteUnavailable) is not counted twice; outside any middleware, the
// global meter provider counts it.
func TestEvery503Counted(t *testing.T) {
	t.Run("handler's WriteUnavailable", func(t *testing.T) {
		p := oteltest.New(t)
		c, _ := redismwtest.NewConnector(t)
		errs := []error{
			errors.New("i/o timeout"),
			&connector.UnavailableError{CircuitOpen: true},
			connector.ErrClosed,
			fmt.Errorf("incr: %w", redis.ErrPoolTimeout), // its own reason: the service's concurrency, not Redis
			&connector.UnavailableError{RetryAfter: time.Second, Err: connector.ErrOverloaded}, // a command shed
		}
		var shown string
		h := redismw.Middleware(c, redismw.WithMeterProvider(p.Meter))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			shown = fmt.Sprint(r.Context())
			i, _ := strconv.Atoi(r.URL.Query().Get("err"))
			redismw.WriteUnavailable(w, r, errs[i])
		}))
		for i := range errs {
			if rec := get(t, h, "/?err="+strconv.Itoa(i)); rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("handler's WriteUnavailable: %d", rec.Code)
			}
		}
		if !strings.Contains(shown, "redismw scope") {
			t.Errorf("the request's context prints as %q; want it to name the redismw scope", shown)
		}
		assertRejections(t, p, c.Name(), map[string]int64{
			telemetry.ReasonCommandFailed: 1, telemetry.ReasonCircuitOpen: 1, telemetry.ReasonClosed: 1, telemetry.ReasonPoolTimeout: 1,
			telemetry.ReasonOverload: 1})
		// The middleware admitted each of them: a handler's 503 is a
		// rejection of an admitted request.
		assertRequests(t, p, c.Name(), int64(len(errs)), 0)
	})

	t.Run("error handler calling WriteUnavailable", func(t *testing.T) {
		p := oteltest.New(t)
		down := downConnector(t)
		counted := redismw.Middleware(down, redismw.WithMeterProvider(p.Meter),
			redismw.WithErrorHandler(redismw.WriteUnavailable))(&probe{})
		if rec := get(t, counted, "/"); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("error handler's WriteUnavailable: %d", rec.Code)
		}
		// Counted once, by the middleware.
		assertRejections(t, p, down.Name(), map[string]int64{telemetry.ReasonCircuitOpen: 1})
	})

	t.Run("fail-open request whose handler writes a 503", func(t *testing.T) {
		// Failing open, a request passed on without a client is counted;
		// its handler's 503 is the same request, not counted again.
		p := oteltest.New(t)
		down := downConnector(t)
		failOpen := redismw.Middleware(down, redismw.WithMeterProvider(p.Meter), redismw.WithFailOpen())(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, ok := redismw.FromContext(r.Context()); !ok {
					redismw.WriteUnavailable(w, r, &connector.UnavailableError{CircuitOpen: true})
				}
			}))
		if rec := get(t, failOpen, "/"); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("fail-open handler's WriteUnavailable: %d", rec.Code)
		}
		// One request, counted once.
		assertRejections(t, p, down.Name(), map[string]int64{telemetry.ReasonCircuitOpen: 1})
	})

	t.Run("outside any middleware", func(t *testing.T) {
		// The global provider counts it.
		global := oteltest.New(t)
		otel.SetMeterProvider(global.Meter)
		t.Cleanup(func() { otel.SetMeterProvider(noop.NewMeterProvider()) })
		rec := httptest.NewRecorder()
		redismw.WriteUnavailable(rec, httptest.NewRequest(http.MethodGet, "/", nil), errors.New("boom"))
		redismw.WriteUnavailable(httptest.NewRecorder(), nil, connector.ErrClosed)
		// A handler's 503 outside any middleware, and one without a
		// request.
		assertRejections(t, global, "", map[string]int64{telemetry.ReasonCommandFailed: 1, telemetry.ReasonClosed: 1})
	})
}
