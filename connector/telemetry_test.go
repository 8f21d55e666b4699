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
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/oteltest"
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

// connectSpan is the redis.connect span of c, a connector to addr (host:port)
// and database 0, that ended with outcome after attempts, the
// circuit left in circuit: every attribute, plus more (error.type …).
// Its status is unset; a test sets it for a failure.
func connectSpan(t *testing.T, c *connector.Connector, addr string, attempts int, outcome string, circuit breaker.State, events []sdktrace.Event, more ...attribute.KeyValue) tracetest.SpanStub {
	t.Helper()
	host, port := hostPort(t, addr)
	return tracetest.SpanStub{
		Name:     telemetry.SpanConnect,
		SpanKind: trace.SpanKindClient,
		Attributes: append([]attribute.KeyValue{
			semconv.DBSystemNameRedis,
			semconv.ServerAddress(host),
			semconv.ServerPort(port),
			semconv.DBClientConnectionPoolName(c.Name()),
			semconv.DBNamespace("0"),
			telemetry.AttrAttemptCount.Int(attempts),
			telemetry.AttrOutcome.String(outcome),
			telemetry.AttrCircuitCurrent.String(circuit.String()),
		}, more...),
		Events: events,
	}
}

// series is the attribute set of a series of c, a connector to addr
// (host:port): what every series has, and more.
func series(t *testing.T, c *connector.Connector, addr string, more ...attribute.KeyValue) attribute.Set {
	t.Helper()
	host, port := hostPort(t, addr)
	return attribute.NewSet(append([]attribute.KeyValue{semconv.DBSystemNameRedis, semconv.ServerAddress(host),
		semconv.ServerPort(port), semconv.DBClientConnectionPoolName(c.Name())}, more...)...)
}

// transitions is the whole transitions metric of c, a connector to addr:
// its four series, with their counts (closed→open, open→half-open,
// half-open→closed, half-open→open).
func transitions(t *testing.T, c *connector.Connector, addr string, n [4]int64) metricdata.Metrics {
	t.Helper()
	edge := func(from, to breaker.State) attribute.Set {
		return series(t, c, addr, telemetry.AttrFrom.String(from.String()), telemetry.AttrTo.String(to.String()))
	}
	return oteltest.Counter(telemetry.MetricCircuitTransitions,
		"Transitions of the circuit breaker, by from and to state.",
		"{transition}", []metricdata.DataPoint[int64]{
			{Attributes: edge(breaker.Closed, breaker.Open), Value: n[0]},
			{Attributes: edge(breaker.Open, breaker.HalfOpen), Value: n[1]},
			{Attributes: edge(breaker.HalfOpen, breaker.Closed), Value: n[2]},
			{Attributes: edge(breaker.HalfOpen, breaker.Open), Value: n[3]},
		})
}

// circuitState is the whole circuit-state gauge of c, a connector to addr,
// in state now.
func circuitState(t *testing.T, c *connector.Connector, addr string, now breaker.State) metricdata.Metrics {
	t.Helper()
	var dps []metricdata.DataPoint[int64]
	for _, s := range []breaker.State{breaker.Closed, breaker.HalfOpen, breaker.Open} {
		v := int64(0)
		if s == now {
			v = 1
		}
		dps = append(dps, metricdata.DataPoint[int64]{Attributes: series(t, c, addr, telemetry.AttrCircuitCurrent.String(s.String())), Value: v})
	}
	return metricdata.Metrics{
		Name:        telemetry.MetricCircuitState,
		Description: "State of the circuit breaker: 1 for the current state, 0 for the others.",
		Unit:        "{state}",
		Data:        metricdata.Gauge[int64]{DataPoints: dps},
	}
}

// attempts is the whole attempts metric of c, a connector to addr: the
// series created at 0 — success and closed without error.type, with the
// counts of counts[outcome], and a failure series per error.type of
// telemetry.FailureTypes, with the counts of failed[error.type]. There is
// no failure series without an error.type: it would stay at 0 while the
// failures land in the others.
func attempts(t *testing.T, c *connector.Connector, addr string, counts map[string]int64, failed map[string]int64) metricdata.Metrics {
	t.Helper()
	var dps []metricdata.DataPoint[int64]
	for _, o := range []string{telemetry.OutcomeSuccess, telemetry.OutcomeClosed} {
		dps = append(dps, metricdata.DataPoint[int64]{Attributes: series(t, c, addr, telemetry.AttrOutcome.String(o)), Value: counts[o]})
	}
	for _, et := range telemetry.FailureTypes() {
		dps = append(dps, metricdata.DataPoint[int64]{Value: failed[et],
			Attributes: series(t, c, addr, telemetry.AttrOutcome.String(telemetry.OutcomeFailure), semconv.ErrorTypeKey.String(et))})
	}
	return oteltest.Counter(telemetry.MetricConnectAttempts,
		"Connect attempts (dial, handshake, PING), by outcome.",
		"{attempt}", dps)
}

// failures is the whole circuit-failures metric of c, a connector to
// addr: a series per error.type of telemetry.FailureTypes created at 0,
// with the counts given.
func failures(t *testing.T, c *connector.Connector, addr string, counts map[string]int64) metricdata.Metrics {
	t.Helper()
	var dps []metricdata.DataPoint[int64]
	for _, et := range telemetry.FailureTypes() {
		dps = append(dps, metricdata.DataPoint[int64]{Attributes: series(t, c, addr, semconv.ErrorTypeKey.String(et)), Value: counts[et]})
	}
	return oteltest.Counter(telemetry.MetricCircuitFailures,
		"Failures the circuit counted (commands, connect attempts, the connector's checks), by error.type.",
		"{failure}", dps)
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
	oteltest.AssertSpan(t, connectSpan(t, c, proxy.Addr(), 1, telemetry.OutcomeSuccess, breaker.Closed, nil), cs)

	var parent sdktrace.ReadOnlySpan
	waited, linked := 0, 0
	for _, s := range p.Spans.Ended() {
		if s.Name() == telemetry.SpanConnect {
			continue
		}
		if s.SpanContext().SpanID() == cs.Parent().SpanID() {
			parent = s
		}
		if evs := oteltest.Events(s, telemetry.EventWaited); len(evs) == 1 {
			set := attribute.NewSet(evs[0].Attributes...)
			outcome, _ := set.Value(telemetry.AttrOutcome)
			if d, _ := set.Value(telemetry.AttrWaitDuration); outcome == attribute.StringValue(telemetry.OutcomeSuccess) && d.Type() == attribute.FLOAT64 && d.AsFloat64() > 0 {
				waited++
			}
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
	oteltest.AssertMetric(t, attempts(t, c, proxy.Addr(), map[string]int64{telemetry.OutcomeSuccess: 1}, nil),
		p.Metric(t, telemetry.MetricConnectAttempts))
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
	refused := semconv.ErrorTypeKey.String("connection_refused")
	attempt := func(n int, backoff float64) sdktrace.Event {
		return sdktrace.Event{Name: telemetry.EventAttemptFailed, Attributes: []attribute.KeyValue{
			telemetry.AttrAttempt.Int(n), refused, telemetry.AttrBackoff.Float64(backoff)}}
	}
	want := connectSpan(t, c, proxy.Addr(), 3, telemetry.OutcomeFailure, breaker.Closed,
		[]sdktrace.Event{attempt(1, 0.01), attempt(2, 0.01), attempt(3, 0)}, refused)
	// The status says what failed, the connect's last error (Stats'), and
	// no probe time: that is the caller's error's.
	want.Status = sdktrace.Status{Code: codes.Error, Description: "connect failed after 3 attempt(s): " + c.Stats().LastError}
	oteltest.AssertSpan(t, want, cs[0])
	m := p.Collect(t)
	oteltest.AssertMetric(t, attempts(t, c, proxy.Addr(), nil, map[string]int64{"connection_refused": 3}),
		p.Metric(t, telemetry.MetricConnectAttempts))
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
	var moves <-chan breaker.State
	c, p := instrumented(t, proxy.URL(), func(cfg *connector.Config) {
		cfg.Breaker.FailureThreshold = 2
		moves = watch(cfg)
	})
	_, _ = c.Client(t.Context()) // the first attempt's failure
	settle(t, c)
	_, err := c.Client(t.Context())
	ue := unavailable(t, err)
	if c.Stats().Circuit != breaker.Open || ue.RetryAfter <= 0 {
		t.Fatalf("circuit %v after 2 failures (%v); want open, with RetryAfter", c.Stats().Circuit, err)
	}
	// The first connect's attempts failed twice: the second opened the
	// circuit, which refused the third.
	refused := semconv.ErrorTypeKey.String("connection_refused")
	want := connectSpan(t, c, proxy.Addr(), 2, telemetry.OutcomeFailure, breaker.Open, []sdktrace.Event{
		{Name: telemetry.EventAttemptFailed, Attributes: []attribute.KeyValue{telemetry.AttrAttempt.Int(1), refused, telemetry.AttrBackoff.Float64(0.01)}},
		{Name: telemetry.EventTransition, Attributes: []attribute.KeyValue{telemetry.AttrFrom.String("closed"), telemetry.AttrTo.String("open")}},
		{Name: telemetry.EventAttemptFailed, Attributes: []attribute.KeyValue{telemetry.AttrAttempt.Int(2), refused, telemetry.AttrBackoff.Float64(0.01)}},
	}, refused)
	want.Status = sdktrace.Status{Code: codes.Error, Description: "connect failed after 2 attempt(s): " + c.Stats().LastError}
	oteltest.AssertSpan(t, want, p.Ended(telemetry.SpanConnect)[0])
	oteltest.AssertMetric(t, circuitState(t, c, proxy.Addr(), breaker.Open),
		p.Metric(t, telemetry.MetricCircuitState))

	if err := proxy.SetMode(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	await(t, moves, breaker.Closed) // the connector's own probe
	if _, err := c.Client(t.Context()); err != nil {
		t.Fatalf("Client once the probe closed the circuit: %v", err)
	}
	oteltest.AssertMetric(t, transitions(t, c, proxy.Addr(), [4]int64{1, 1, 1, 0}),
		p.Metric(t, telemetry.MetricCircuitTransitions))
	oteltest.AssertMetric(t, circuitState(t, c, proxy.Addr(), breaker.Closed),
		p.Metric(t, telemetry.MetricCircuitState))
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
	// Load shedding's figures, from the start (the shed counter at 0),
	// as Stats reports them: the limit at a (re)start is 20, no more than
	// the pool's size.
	for name, want := range map[string]float64{
		telemetry.MetricOverloadLimit:    7,
		telemetry.MetricOverloadInflight: 0,
		telemetry.MetricOverloadShed:     0,
	} {
		if got, ok := oteltest.Value(m, name, pool); !ok || got != want {
			t.Errorf("%s{%s} = %v (found %v), want %v", name, pool, got, ok, want)
		}
	}
	if st := c.Stats(); st.Limit != 7 || st.Inflight != 0 || st.Shed != 0 {
		t.Errorf("Stats limit %d, inflight %d, shed %d; want 7, 0, 0", st.Limit, st.Inflight, st.Shed)
	}
}

// TestTelemetryOverloadDisabled: with shedding off there is no limit to
// show, and no series pretends there is.
func TestTelemetryOverloadDisabled(t *testing.T) {
	mr := miniredis.RunT(t)
	c, p := instrumented(t, "redis://"+mr.Addr(), func(cfg *connector.Config) { cfg.Overload.Disable = true })
	if _, err := c.Client(t.Context()); err != nil {
		t.Fatal(err)
	}
	m := p.Collect(t)
	for _, name := range []string{telemetry.MetricOverloadLimit, telemetry.MetricOverloadInflight, telemetry.MetricOverloadShed} {
		if v, ok := oteltest.Value(m, name); ok {
			t.Errorf("%s = %v observed with shedding disabled", name, v)
		}
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

	// Before any event, every counter series is there, at 0.
	for _, c := range []*connector.Connector{a, b} {
		oteltest.AssertMetric(t, transitions(t, c, proxy.Addr(), [4]int64{}), p.Metric(t, telemetry.MetricCircuitTransitions, pool(c)))
		oteltest.AssertMetric(t, failures(t, c, proxy.Addr(), nil), p.Metric(t, telemetry.MetricCircuitFailures, pool(c)))
		oteltest.AssertMetric(t, attempts(t, c, proxy.Addr(), nil, nil), p.Metric(t, telemetry.MetricConnectAttempts, pool(c)))
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
	// The failures that opened a's circuit, by error.type; a's transitions
	// and state, exactly: every series, with its whole
	// attribute set; b's state, untouched by a's.
	oteltest.AssertMetric(t, failures(t, a, proxy.Addr(), map[string]int64{"connection_refused": 2}),
		p.Metric(t, telemetry.MetricCircuitFailures, pool(a)))
	oteltest.AssertMetric(t, transitions(t, a, proxy.Addr(), [4]int64{1, 0, 0, 0}),
		p.Metric(t, telemetry.MetricCircuitTransitions, pool(a)))
	oteltest.AssertMetric(t, circuitState(t, a, proxy.Addr(), breaker.Open),
		p.Metric(t, telemetry.MetricCircuitState, pool(a)))
	oteltest.AssertMetric(t, circuitState(t, b, proxy.Addr(), breaker.Closed),
		p.Metric(t, telemetry.MetricCircuitState, pool(b)))
	oteltest.AssertMetric(t, attempts(t, a, proxy.Addr(), nil, map[string]int64{"connection_refused": 2}),
		p.Metric(t, telemetry.MetricConnectAttempts, pool(a)))
	oteltest.AssertMetric(t, transitions(t, b, proxy.Addr(), [4]int64{}),
		p.Metric(t, telemetry.MetricCircuitTransitions, pool(b)))
}

// TestNamesAreUnique: connectors to one deployment get distinct names
// (the second "#2"), a name chosen in Breaker.Name included, and closing a
// connector frees its name for a later one.
func TestNamesAreUnique(t *testing.T) {
	mr := miniredis.RunT(t)
	t.Run("by default", func(t *testing.T) {
		a := newConnector(t, "redis://"+mr.Addr()+"/3", nil)
		b := newConnector(t, "redis://"+mr.Addr()+"/3", nil)
		if a.Name() != mr.Addr()+"/3" || b.Name() != a.Name()+"#2" {
			t.Fatalf("names %q and %q; want %q and %q#2", a.Name(), b.Name(), mr.Addr()+"/3", mr.Addr()+"/3")
		}
		name := b.Name()
		_ = b.Close()
		if c := newConnector(t, "redis://"+mr.Addr()+"/3", nil); c.Name() != name {
			t.Errorf("after b closed, a new connector is named %q; want b's %q", c.Name(), name)
		}
	})
	t.Run("chosen", func(t *testing.T) {
		named := func(cfg *connector.Config) { cfg.Breaker.Name = "sessions" }
		a := newConnector(t, "redis://"+mr.Addr(), named)
		b := newConnector(t, "redis://"+mr.Addr(), named)
		if a.Name() != "sessions" || b.Name() != "sessions#2" {
			t.Errorf("names %q and %q; want sessions and sessions#2", a.Name(), b.Name())
		}
	})
}

// hostPort splits addr, a loopback host:port.
func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return host, n
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
	// A wrong password is fatal: one attempt, no retry, and the circuit
	// opens at once.
	wrongpass := semconv.ErrorTypeKey.String("WRONGPASS")
	want := connectSpan(t, c, mr.Addr(), 1, telemetry.OutcomeFailure, breaker.Open, []sdktrace.Event{
		{Name: telemetry.EventTransition, Attributes: []attribute.KeyValue{telemetry.AttrFrom.String("closed"), telemetry.AttrTo.String("open")}},
		{Name: telemetry.EventAttemptFailed, Attributes: []attribute.KeyValue{telemetry.AttrAttempt.Int(1), wrongpass, telemetry.AttrBackoff.Float64(0)}},
	}, wrongpass, semconv.DBResponseStatusCode("WRONGPASS"))
	want.Status = sdktrace.Status{Code: codes.Error, Description: "connect failed, not retried (a certificate, credentials, permission or TLS problem that retrying cannot fix): WRONGPASS invalid username-password pair"}
	oteltest.AssertSpan(t, want, spans[0])
}

// health reads c's health gauges: redismw.unusable, the outage's start
// and the next probe (unix seconds), each with c's attributes.
func health(t *testing.T, p *oteltest.Providers, c *connector.Connector, addr string) (unusable, since, next float64) {
	t.Helper()
	m := p.Collect(t)
	set := series(t, c, addr)
	attrs := set.ToSlice()
	read := func(name string) float64 {
		v, ok := oteltest.Value(m, name, attrs...)
		if !ok {
			t.Fatalf("%s{%v} not observed", name, attrs)
		}
		return v
	}
	return read(telemetry.MetricUnusable), read(telemetry.MetricUnusableStart), read(telemetry.MetricNextProbe)
}

// unixSeconds is tm in unix seconds, as the gauges write it.
func unixSeconds(tm time.Time) float64 { return float64(tm.UnixNano()) / 1e9 }

// TestTelemetryUnusable: redismw.unusable is the one signal an alert can
// trust. It is 0 before the first connect; 1 as soon as a cold start's
// first attempt has failed, though the circuit is still closed; 1 while
// the circuit is open, and while it is half-open with a probe hanging; 0
// once a probe has closed it. The outage's start is the first failed
// attempt's time, kept across the trip that follows; the next probe's time
// is in the future while the circuit is open, 0 otherwise.
func TestTelemetryUnusable(t *testing.T) {
	mr := miniredis.RunT(t)
	proxy := faultproxy.New(t, mr.Addr())
	var moves <-chan breaker.State
	c, p := instrumented(t, proxy.URL(), func(cfg *connector.Config) {
		cfg.MaxAttempts = 1
		cfg.AttemptTimeout = time.Second
		cfg.Breaker.FailureThreshold = 2
		cfg.Breaker.Timeout = 300 * time.Millisecond
		moves = watch(cfg)
	})
	addr := proxy.Addr()
	if u, s, n := health(t, p, c, addr); u != 0 || s != 0 || n != 0 {
		t.Fatalf("before the first connect: unusable %v, start %v, next probe %v; want 0, 0, 0", u, s, n)
	}
	if err := proxy.SetMode(faultproxy.Refuse); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := c.Client(t.Context()); err == nil {
		t.Fatal("a connect succeeded with nothing listening")
	}
	settle(t, c)
	after := time.Now()
	u, start, n := health(t, p, c, addr)
	if c.Stats().Circuit != breaker.Closed || u != 1 || n != 0 {
		t.Fatalf("cold start failed: circuit %v, unusable %v, next probe %v; want closed, 1, 0", c.Stats().Circuit, u, n)
	}
	if start < unixSeconds(before) || start > unixSeconds(after) {
		t.Fatalf("outage start %v, want the first failed attempt's, in [%v, %v]", start, unixSeconds(before), unixSeconds(after))
	}

	_, _ = c.Client(t.Context()) // the second failure opens the circuit
	await(t, moves, breaker.Open)
	u, s, n := health(t, p, c, addr)
	if u != 1 || s != start || n <= unixSeconds(time.Now().Add(-time.Second)) {
		t.Fatalf("open: unusable %v, start %v (want %v, the first failure's), next probe %v; want 1 and a probe time", u, s, start, n)
	}

	// A probe that hangs holds the circuit half-open: still unusable, and
	// no probe armed while this one is in flight.
	if err := proxy.SetMode(faultproxy.Hang); err != nil {
		t.Fatal(err)
	}
	await(t, moves, breaker.HalfOpen)
	halfOpen := c.Stats().Circuit == breaker.HalfOpen // the probe hangs for AttemptTimeout (1s)
	if u, s, n := health(t, p, c, addr); u != 1 || s != start || (halfOpen && n != 0) {
		t.Fatalf("half-open (still %v): unusable %v, start %v, next probe %v; want 1, %v, 0", halfOpen, u, s, n, start)
	}

	if err := proxy.SetMode(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	await(t, moves, breaker.Closed)
	if u, s, n := health(t, p, c, addr); u != 0 || s != 0 || n != 0 {
		t.Fatalf("recovered: unusable %v, start %v, next probe %v; want 0, 0, 0", u, s, n)
	}
}
