// Package instrument is the machinery behind redismw's telemetry: the
// instruments and span helpers the connector and the middleware call. The
// names it records — metrics, attributes, spans, events — are package
// telemetry's, which users read.
package instrument

import (
	"context"
	"runtime/debug"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ankitoon/redismw/telemetry"
)

// durationBuckets are the semantic conventions' advised boundaries for
// database client durations, in seconds.
var durationBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}

// Version returns the version of the redismw module in this binary, or
// "devel" when it is built from its own source tree.
var Version = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == telemetry.ScopeName {
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

// reasons are every rejection reason, created at 0.
var reasons = []string{telemetry.ReasonCircuitOpen, telemetry.ReasonConnectFailed, telemetry.ReasonWaitBudget,
	telemetry.ReasonClosed, telemetry.ReasonDeadline, telemetry.ReasonCommandFailed}

// Middleware is the telemetry of one middleware.
type Middleware struct {
	rejections metric.Int64Counter
	reasons    map[string]metric.AddOption
}

// NewMiddleware makes the middleware's instruments from mp, or from the
// global provider if mp is nil; poolName, if not empty, is the name of its
// connector (db.client.connection.pool.name) on every series. Every
// reason's series exists from the start, at 0.
func NewMiddleware(mp metric.MeterProvider, poolName string) *Middleware {
	m := &Middleware{reasons: map[string]metric.AddOption{}}
	m.rejections = counter(Meter(mp), telemetry.MetricRejections, "{request}",
		"Requests answered 503 by redismw (by the middleware, or by WriteUnavailable in a handler), or passed on without a client when failing open, by reason.")
	for _, r := range reasons {
		kv := []attribute.KeyValue{telemetry.AttrReason.String(r)}
		if poolName != "" {
			kv = append(kv, semconv.DBClientConnectionPoolName(poolName))
		}
		m.reasons[r] = metric.WithAttributeSet(attribute.NewSet(kv...))
		m.rejections.Add(context.Background(), 0, m.reasons[r])
	}
	return m
}

// Reject counts one rejected request.
func (m *Middleware) Reject(ctx context.Context, reason string) {
	opt, ok := m.reasons[reason]
	if !ok {
		opt = metric.WithAttributes(telemetry.AttrReason.String(reason))
	}
	m.rejections.Add(ctx, 1, opt)
}
