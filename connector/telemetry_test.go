package connector_test

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/faultproxy"
	"github.com/ankitoon/redismw/internal/oteltest"
	"github.com/ankitoon/redismw/telemetry"
)

// instrumented returns a connector to url that reports to in-memory
// providers.
func instrumented(t *testing.T, url string, mod func(*connector.Config)) (*connector.Connector, *oteltest.Providers) {
	t.Helper()
	p := oteltest.New(t)
	c := newConnector(t, url, func(cfg *connector.Config) {
		cfg.TracerProvider, cfg.MeterProvider = p.Tracer, p.Meter
		if mod != nil {
			mod(cfg)
		}
	})
	return c, p
}

func attr(t *testing.T, s sdktrace.ReadOnlySpan, key string) string {
	t.Helper()
	v, ok := oteltest.Attr(s.Attributes(), key)
	if !ok {
		t.Errorf("span %s has no attribute %s: %v", s.Name(), key, s.Attributes())
	}
	return v
}

func event(s sdktrace.ReadOnlySpan, name string) []sdktrace.Event {
	var out []sdktrace.Event
	for _, e := range s.Events() {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// TestTelemetryHerd: a herd of requests makes one redis.connect span, a
// child of the request that started it; every request that waited has an
// event saying so, and the others a link to the connect span.
func TestTelemetryHerd(t *testing.T) {
	mr := miniredis.RunT(t)
	proxy := faultproxy.New(t, mr.Addr())
	proxy.SetDialDelay(50 * time.Millisecond)
	c, p := instrumented(t, proxy.URL(), nil)
	tracer := p.Tracer.Tracer("test")

	const callers = 200
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			ctx, span := tracer.Start(context.Background(), "request "+strconv.Itoa(i))
			defer span.End()
			<-gate
			if _, err := c.Client(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	close(gate)
	wg.Wait()

	connects := p.Ended(telemetry.SpanConnect)
	if len(connects) != 1 {
		t.Fatalf("%d redis.connect spans, want 1", len(connects))
	}
	cs := connects[0]
	_, port, _ := net.SplitHostPort(proxy.Addr())
	for key, want := range map[string]string{
		"db.system.name":                "redis",
		"server.address":                "127.0.0.1",
		"server.port":                   port,
		"redismw.connect.attempt_count": "1",
		"redismw.outcome":               "success",
		"redismw.circuit.current":       "closed",
	} {
		if got := attr(t, cs, key); got != want {
			t.Errorf("redis.connect %s = %q, want %q", key, got, want)
		}
	}
	if cs.Status().Code == codes.Error {
		t.Errorf("successful connect has status %v", cs.Status())
	}

	var parent sdktrace.ReadOnlySpan
	waited, linked := 0, 0
	for _, s := range p.Spans.Ended() {
		if s.Name() == telemetry.SpanConnect {
			continue
		}
		if s.SpanContext().SpanID() == cs.Parent().SpanID() {
			parent = s
		}
		if len(event(s, telemetry.EventWaited)) == 1 {
			waited++
		}
		for _, l := range s.Links() {
			if l.SpanContext.SpanID() == cs.SpanContext().SpanID() {
				linked++
			}
		}
	}
	if parent == nil || parent.SpanContext().TraceID() != cs.SpanContext().TraceID() {
		t.Errorf("redis.connect is not the child of a request span")
	}
	if waited != callers || linked != callers {
		t.Errorf("%d requests have the waited event and %d a link to the connect span, want %d each", waited, linked, callers)
	}

	m := p.Collect(t)
	if n, _ := oteltest.Value(m, telemetry.MetricConnectDuration, attribute.String("redismw.outcome", "success")); n != 1 {
		t.Errorf("connect duration histogram has %v successful connects, want 1", n)
	}
	if n, _ := oteltest.Value(m, telemetry.MetricConnectAttempts, attribute.String("redismw.outcome", "success"), attribute.String("db.system.name", "redis")); n != 1 {
		t.Errorf("attempts{success} = %v, want 1", n)
	}
	if n, ok := oteltest.Value(m, telemetry.MetricConnectWaiting); !ok || n != 0 {
		t.Errorf("waiting = %v (recorded %v), want back to 0", n, ok)
	}
}

// TestTelemetryFailedConnect: a failing connect's span has status Error,
// error.type, and an event per failed attempt with its backoff.
func TestTelemetryFailedConnect(t *testing.T) {
	mr := miniredis.RunT(t)
	proxy := faultproxy.New(t, mr.Addr())
	if err := proxy.SetMode(faultproxy.Refuse); err != nil {
		t.Fatal(err)
	}
	c, p := instrumented(t, proxy.URL(), nil)
	if _, err := c.Client(t.Context()); err == nil {
		t.Fatal("connect succeeded with nothing listening")
	}
	settle(t, c)
	cs := p.Ended(telemetry.SpanConnect)
	if len(cs) != 1 {
		t.Fatalf("%d connect spans, want 1", len(cs))
	}
	s := cs[0]
	if s.Status().Code != codes.Error || s.Status().Description == "" {
		t.Errorf("status %+v, want Error with a description", s.Status())
	}
	if got := attr(t, s, "error.type"); got != "connection_refused" {
		t.Errorf("error.type %q, want connection_refused", got)
	}
	if got := attr(t, s, "redismw.outcome"); got != "failure" {
		t.Errorf("outcome %q", got)
	}
	evs := event(s, telemetry.EventAttemptFailed)
	if len(evs) != 3 {
		t.Fatalf("%d attempt events, want 3", len(evs))
	}
	for i, e := range evs {
		n, _ := oteltest.Attr(e.Attributes, "redismw.connect.attempt")
		backoff, _ := oteltest.Attr(e.Attributes, "redismw.connect.backoff")
		wantBackoff := "0.01"
		if i == 2 {
			wantBackoff = "0"
		}
		if n != strconv.Itoa(i+1) || backoff != wantBackoff {
			t.Errorf("attempt event %d: attempt %s, backoff %s; want %d, %s", i, n, backoff, i+1, wantBackoff)
		}
	}
	m := p.Collect(t)
	if n, _ := oteltest.Value(m, telemetry.MetricConnectAttempts, attribute.String("redismw.outcome", "failure")); n != 3 {
		t.Errorf("attempts{failure} = %v, want 3", n)
	}
	if n, _ := oteltest.Value(m, telemetry.MetricConnectDuration, attribute.String("redismw.outcome", "failure")); n != 1 {
		t.Errorf("duration{failure} count = %v, want 1", n)
	}
}

// TestTelemetryTripAndRecovery: transitions show as span events, metrics
// and the state gauge.
func TestTelemetryTripAndRecovery(t *testing.T) {
	mr := miniredis.RunT(t)
	proxy := faultproxy.New(t, mr.Addr())
	if err := proxy.SetMode(faultproxy.Refuse); err != nil {
		t.Fatal(err)
	}
	c, p := instrumented(t, proxy.URL(), func(cfg *connector.Config) { cfg.Breaker.FailureThreshold = 2 })
	_, _ = c.Client(t.Context()) // the first attempt's failure
	settle(t, c)
	_, err := c.Client(t.Context())
	ue := unavailable(t, err)
	if c.Stats().Circuit != breaker.Open || ue.RetryAfter <= 0 {
		t.Fatalf("circuit %v after 2 failures (%v); want open, with RetryAfter", c.Stats().Circuit, err)
	}
	cs := p.Ended(telemetry.SpanConnect)[0]
	tr := event(cs, telemetry.EventTransition)
	if len(tr) != 1 {
		t.Fatalf("connect span has %d transition events, want 1", len(tr))
	}
	from, _ := oteltest.Attr(tr[0].Attributes, "redismw.circuit.from")
	to, _ := oteltest.Attr(tr[0].Attributes, "redismw.circuit.to")
	if from != "closed" || to != "open" || attr(t, cs, "redismw.circuit.current") != "open" {
		t.Errorf("transition %s→%s, span circuit state %s; want closed→open, open", from, to, attr(t, cs, "redismw.circuit.current"))
	}
	m := p.Collect(t)
	if n, _ := oteltest.Value(m, telemetry.MetricCircuitState, attribute.String("redismw.circuit.current", "open")); n != 1 {
		t.Errorf("circuit.state{open} = %v, want 1", n)
	}
	if n, _ := oteltest.Value(m, telemetry.MetricCircuitState, attribute.String("redismw.circuit.current", "closed")); n != 0 {
		t.Errorf("circuit.state{closed} = %v, want 0", n)
	}

	if err := proxy.SetMode(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the probe closing the circuit", func() bool {
		_, err := c.Client(t.Context())
		return err == nil
	})
	m = p.Collect(t)
	for _, ft := range [][2]string{{"closed", "open"}, {"open", "half-open"}, {"half-open", "closed"}} {
		if n, _ := oteltest.Value(m, telemetry.MetricCircuitTransitions, attribute.String("redismw.circuit.from", ft[0]), attribute.String("redismw.circuit.to", ft[1])); n != 1 {
			t.Errorf("transitions{%s→%s} = %v, want 1", ft[0], ft[1], n)
		}
	}
	if n, _ := oteltest.Value(m, telemetry.MetricCircuitState, attribute.String("redismw.circuit.current", "closed")); n != 1 {
		t.Errorf("after recovery circuit.state{closed} = %v, want 1", n)
	}
}

// TestTelemetryPool: the pool metrics under the semantic-convention names.
func TestTelemetryPool(t *testing.T) {
	mr := miniredis.RunT(t)
	c, p := instrumented(t, "redis://"+mr.Addr()+"/2?pool_size=7&max_idle_conns=3&min_idle_conns=1", nil)
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := rdb.Incr(t.Context(), "n").Err(); err != nil {
			t.Fatal(err)
		}
	}
	m := p.Collect(t)
	pool := semconv.DBClientConnectionPoolName(mr.Addr() + "/2")
	for name, want := range map[string]float64{
		"db.client.connection.max":      7,
		"db.client.connection.idle.max": 3,
		"db.client.connection.idle.min": 1,
		"db.client.connection.timeouts": 0,
	} {
		if got, ok := oteltest.Value(m, name, pool); !ok || got != want {
			t.Errorf("%s{%s} = %v (found %v), want %v", name, pool, got, ok, want)
		}
	}
	idle, okIdle := oteltest.Value(m, "db.client.connection.count", pool, attribute.String("db.client.connection.state", "idle"))
	_, okUsed := oteltest.Value(m, "db.client.connection.count", pool, attribute.String("db.client.connection.state", "used"))
	if !okIdle || !okUsed || idle < 1 {
		t.Errorf("db.client.connection.count: idle %v (found %v), used found %v; want ≥ 1 idle", idle, okIdle, okUsed)
	}
}

// TestTelemetryADashboardCanTrust: what a dashboard and an alert rely on.
// Every counter series exists at 0 before the first event, so that the
// process's first trip shows as an increase; the failures that opened the
// circuit are counted by error.type; and two connectors to the same
// deployment never share a series: each has its own name.
func TestTelemetryADashboardCanTrust(t *testing.T) {
	mr := miniredis.RunT(t)
	proxy := faultproxy.New(t, mr.Addr())
	p := oteltest.New(t)
	mod := func(cfg *connector.Config) {
		cfg.TracerProvider, cfg.MeterProvider = p.Tracer, p.Meter
		cfg.Breaker.FailureThreshold = 2
		cfg.MaxAttempts = 1
	}
	a := newConnector(t, proxy.URL(), mod)
	b := newConnector(t, proxy.URL(), mod)
	if a.Name() == b.Name() || b.Name() != a.Name()+"#2" {
		t.Fatalf("two connectors to %s are named %q and %q; want distinct names, the second with #2", proxy.URL(), a.Name(), b.Name())
	}
	pool := func(c *connector.Connector) attribute.KeyValue { return semconv.DBClientConnectionPoolName(c.Name()) }

	m := p.Collect(t)
	for _, c := range []*connector.Connector{a, b} {
		for _, want := range []struct {
			name  string
			attrs []attribute.KeyValue
		}{
			{telemetry.MetricCircuitTransitions, []attribute.KeyValue{attribute.String("redismw.circuit.from", "closed"), attribute.String("redismw.circuit.to", "open")}},
			{telemetry.MetricCircuitFailures, []attribute.KeyValue{attribute.String("error.type", "connection_refused")}},
			{telemetry.MetricConnectAttempts, []attribute.KeyValue{attribute.String("redismw.outcome", "failure")}},
		} {
			if n, ok := oteltest.Value(m, want.name, append(want.attrs, pool(c))...); !ok || n != 0 {
				t.Errorf("before any event, %s%v of %s = %v (present %v); want a series at 0", want.name, want.attrs, c.Name(), n, ok)
			}
		}
	}

	// a's Redis refuses: its connects fail and the circuit opens; b is
	// never used.
	if err := proxy.SetMode(faultproxy.Refuse); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, _ = a.Client(t.Context())
		settle(t, a)
	}
	if a.Stats().Circuit != breaker.Open {
		t.Fatalf("a's circuit %v after 2 refused connects, want open", a.Stats().Circuit)
	}
	m = p.Collect(t)
	if n, _ := oteltest.Value(m, telemetry.MetricCircuitFailures, attribute.String("error.type", "connection_refused"), pool(a)); n != 2 {
		t.Errorf("a's failures{connection_refused} = %v, want 2", n)
	}
	// a's transitions, exactly: every series, with its whole attribute set.
	attrs := func(from, to breaker.State) attribute.Set {
		return attribute.NewSet(semconv.DBSystemNameRedis, semconv.ServerAddress("127.0.0.1"), semconv.ServerPort(proxyPort(t, proxy)),
			semconv.DBClientConnectionPoolName(a.Name()), attribute.String("redismw.circuit.from", from.String()),
			attribute.String("redismw.circuit.to", to.String()))
	}
	metricdatatest.AssertEqual(t, metricdata.Metrics{
		Name:        telemetry.MetricCircuitTransitions,
		Description: "Transitions of the circuit breaker, by from and to state.",
		Unit:        "{transition}",
		Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality,
			IsMonotonic: true,
			DataPoints: []metricdata.DataPoint[int64]{
				{Attributes: attrs(breaker.Closed, breaker.Open), Value: 1},
				{Attributes: attrs(breaker.Open, breaker.HalfOpen), Value: 0},
				{Attributes: attrs(breaker.HalfOpen, breaker.Closed), Value: 0},
				{Attributes: attrs(breaker.HalfOpen, breaker.Open), Value: 0},
			},
		},
	}, p.Metric(t, telemetry.MetricCircuitTransitions, semconv.DBClientConnectionPoolName(a.Name())),
		metricdatatest.IgnoreTimestamp())
	if n, _ := oteltest.Value(m, telemetry.MetricConnectAttempts, attribute.String("redismw.outcome", "failure"), attribute.String("error.type", "connection_refused"), pool(a)); n != 2 {
		t.Errorf("a's attempts{failure, connection_refused} = %v, want 2", n)
	}
	if n, _ := oteltest.Value(m, telemetry.MetricCircuitTransitions, attribute.String("redismw.circuit.from", "closed"), attribute.String("redismw.circuit.to", "open"), pool(b)); n != 0 {
		t.Errorf("b's transitions{closed→open} = %v, want 0: b never failed", n)
	}
	if n, _ := oteltest.Value(m, telemetry.MetricCircuitState, attribute.String("redismw.circuit.current", "closed"), pool(b)); n != 1 {
		t.Errorf("b's circuit.state{closed} = %v, want 1: a's circuit is not b's", n)
	}

	// Closing frees the name for a later connector.
	name := b.Name()
	_ = b.Close()
	if c := newConnector(t, proxy.URL(), mod); c.Name() != name {
		t.Errorf("after b closed, a new connector is named %q; want b's %q", c.Name(), name)
	}
}

// proxyPort is the port of proxy's address.
func proxyPort(t *testing.T, proxy *faultproxy.Proxy) int {
	t.Helper()
	_, port, err := net.SplitHostPort(proxy.Addr())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTelemetryStatusCode: a connect refused with a Redis error reply
// carries its prefix as db.response.status_code, beside error.type.
func TestTelemetryStatusCode(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.RequireAuth("right")
	c, p := instrumented(t, "redis://:wrong@"+mr.Addr(), nil)
	if _, err := c.Client(t.Context()); err == nil {
		t.Fatal("a wrong password connected")
	}
	settle(t, c)
	spans := p.Ended(telemetry.SpanConnect)
	if len(spans) != 1 {
		t.Fatalf("%d connect spans, want 1", len(spans))
	}
	code, et := attr(t, spans[0], "db.response.status_code"), attr(t, spans[0], "error.type")
	if code != "WRONGPASS" || et != "WRONGPASS" {
		t.Errorf("db.response.status_code %q, error.type %q; want WRONGPASS for both", code, et)
	}
}
