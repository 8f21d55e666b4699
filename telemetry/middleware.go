package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Reasons for a middleware rejection ([AttrReason]).
const (
	ReasonCircuitOpen   = "circuit_open"
	ReasonConnectFailed = "connect_failed"
	ReasonWaitBudget    = "wait_budget"
	ReasonClosed        = "closed"
	ReasonDeadline      = "deadline"
)

// Middleware is the telemetry of one middleware.
type Middleware struct {
	rejections metric.Int64Counter
	reasons    map[string]metric.AddOption
}

// NewMiddleware makes the middleware's instruments from mp, or from the
// global provider if mp is nil.
func NewMiddleware(mp metric.MeterProvider) *Middleware {
	c, err := Meter(mp).Int64Counter(MetricRejections,
		metric.WithUnit("{request}"),
		metric.WithDescription("Requests the middleware answered as unavailable (or passed on without a client when failing open), by reason."))
	handle(err)
	m := &Middleware{rejections: c, reasons: map[string]metric.AddOption{}}
	for _, r := range []string{ReasonCircuitOpen, ReasonConnectFailed, ReasonWaitBudget, ReasonClosed, ReasonDeadline} {
		m.reasons[r] = metric.WithAttributeSet(attribute.NewSet(AttrReason.String(r)))
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
