package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Reasons for a middleware rejection ([AttrReason]).
const (
	ReasonCircuitOpen   = "circuit_open"
	ReasonConnectFailed = "connect_failed"
	ReasonWaitBudget    = "wait_budget"
	ReasonClosed        = "closed"
	ReasonDeadline      = "deadline"
	// ReasonCommandFailed is a 503 that a handler wrote with
	// WriteUnavailable for a failed command.
	ReasonCommandFailed = "command_failed"
)

// reasons are every rejection reason, created at 0.
var reasons = []string{ReasonCircuitOpen, ReasonConnectFailed, ReasonWaitBudget, ReasonClosed, ReasonDeadline, ReasonCommandFailed}

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
	c, err := Meter(mp).Int64Counter(MetricRejections,
		metric.WithUnit("{request}"),
		metric.WithDescription("Requests answered 503 by redismw (by the middleware, or by WriteUnavailable in a handler), or passed on without a client when failing open, by reason."))
	handle(err)
	m := &Middleware{rejections: c, reasons: map[string]metric.AddOption{}}
	for _, r := range reasons {
		kv := []attribute.KeyValue{AttrReason.String(r)}
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
		opt = metric.WithAttributes(AttrReason.String(reason))
	}
	m.rejections.Add(ctx, 1, opt)
}
