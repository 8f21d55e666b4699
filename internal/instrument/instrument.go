// Package instrument is the machinery behind redismw's telemetry: the
// instruments and span helpers the connector and the middleware call. The
// names it records — metrics, attributes, spans, events — are package
// telemetry's, which users read.
package instrument

import (
	"context"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ankitoon/redismw/telemetry"
)

// ConnectBuckets are the boundaries of redismw.connect.duration, in
// seconds: the semantic conventions' advised ones for database client
// durations below 1 s, and half-second steps around the default
// AttemptTimeout (2 s), so that a connect that gives up after one attempt
// (2 s and a little) is told from one that succeeded in 1.6 s, up to
// MaxAttempts (3) attempts with backoff.
var ConnectBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 15, 30}

// Version returns the version of the redismw module in this binary, or
// "devel" when it is built from its own source tree, through a workspace
// or a replace directive (where the Go tool says "(devel)").
var Version = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == telemetry.ScopeName && m.Replace == nil && m.Version != "" && m.Version != "(devel)" {
				return m.Version
			}
		}
	}
	return "devel"
})

// Tracer returns the tracer of redismw from tp, or from the global
// provider if tp is nil.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(telemetry.ScopeName, trace.WithInstrumentationVersion(Version()),
		trace.WithSchemaURL(semconv.SchemaURL))
}

// Meter returns the meter of redismw from mp, or from the global provider
// if mp is nil.
func Meter(mp metric.MeterProvider) metric.Meter {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(telemetry.ScopeName, metric.WithInstrumentationVersion(Version()),
		metric.WithSchemaURL(semconv.SchemaURL))
}

// handle reports an instrument-creation error to otel.Handle.
func handle(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

// counter makes the Int64Counter name of m; an error goes to otel.Handle
// (the instrument returned still works, or is a no-op).
func counter(m metric.Meter, name, unit, description string) metric.Int64Counter {
	c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(description))
	handle(err)
	return c
}

// Reasons are every rejection reason, created at 0.
var Reasons = []string{telemetry.ReasonCircuitOpen, telemetry.ReasonConnectFailed, telemetry.ReasonWaitBudget,
	telemetry.ReasonClosed, telemetry.ReasonDeadline, telemetry.ReasonCommandFailed, telemetry.ReasonPoolTimeout, telemetry.ReasonOverload}

// Middleware is the telemetry of one middleware.
type Middleware struct {
	rejections metric.Int64Counter
	reasons    map[string]metric.AddOption
	// admitted and rejected count requests; a callback observes them as
	// redismw.middleware.requests at each collection. The ready path pays
	// one atomic add, not the SDK's recording (which measured as much as
	// the rest of the middleware).
	admitted, rejected atomic.Int64
}

// NewMiddleware makes the middleware's instruments from mp, or from the
// global provider if mp is nil; poolName, if not empty, is the name of its
// connector (db.client.connection.pool.name) on every series, with the
// connector's other attributes (db.system.name, server.address,
// server.port) while it is open. Every series — each reason's, each
// request outcome's — exists from the start, at 0.
func NewMiddleware(mp metric.MeterProvider, poolName string) *Middleware {
	m := &Middleware{reasons: map[string]metric.AddOption{}}
	meter := Meter(mp)
	m.rejections = counter(meter, telemetry.MetricRejections, "{request}",
		"Requests answered 503 by redismw (by the middleware, or by WriteUnavailable in a handler), or passed on without a client when failing open, by reason.")
	requests, err := meter.Int64ObservableCounter(telemetry.MetricRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Requests the middleware handled (not those WithSkip skips), by outcome: admitted with a client, or rejected (see redismw.middleware.rejections for why)."))
	handle(err)
	var base []attribute.KeyValue
	if attrs, ok := attributesOf(poolName); ok {
		base = attrs
	} else if poolName != "" {
		base = []attribute.KeyValue{semconv.DBClientConnectionPoolName(poolName)}
	}
	with := func(kv ...attribute.KeyValue) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(append(kv, base...)...))
	}
	ctx := context.Background()
	for _, r := range Reasons {
		m.reasons[r] = with(telemetry.AttrReason.String(r))
		m.rejections.Add(ctx, 0, m.reasons[r])
	}
	admitted := with(telemetry.AttrRequestOutcome.String(telemetry.RequestAdmitted))
	rejected := with(telemetry.AttrRequestOutcome.String(telemetry.RequestRejected))
	// Both series from the start, at 0. The registration lasts as long as
	// the meter provider: a middleware has no Close, and is made once.
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(requests, m.admitted.Load(), admitted)
		o.ObserveInt64(requests, m.rejected.Load(), rejected)
		return nil
	}, requests)
	handle(err)
	return m
}

// Admit counts one request admitted with a client. It runs on the ready
// path: one atomic add.
func (m *Middleware) Admit() { m.admitted.Add(1) }

// Refuse counts one request the middleware rejected for reason: a
// request, and a rejection.
func (m *Middleware) Refuse(ctx context.Context, reason string) {
	m.rejected.Add(1)
	m.Reject(ctx, reason)
}

// Reject counts one rejection (a 503 written, or a request passed on
// without a client), not a request: a handler's WriteUnavailable counts a
// request the middleware admitted.
func (m *Middleware) Reject(ctx context.Context, reason string) {
	opt, ok := m.reasons[reason]
	if !ok {
		opt = metric.WithAttributes(telemetry.AttrReason.String(reason))
	}
	m.rejections.Add(ctx, 1, opt)
}
