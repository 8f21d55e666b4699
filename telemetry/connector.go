package telemetry

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/ankitoon/redismw/breaker"
)

// Server describes the Redis a connector talks to.
type Server struct {
	Address  string // server.address: host name, IP or socket path
	Port     int    // server.port; 0 for a unix socket
	PoolName string // db.client.connection.pool.name: "address:port/db"
}

// Pool is what the pool metrics observe: the connector's client's pool
// statistics (nil when there is no client) and its limits.
type Pool struct {
	Stats   func() *redis.PoolStats
	Max     int
	IdleMax int
	IdleMin int
}

// Connector is the telemetry of one connector. Its methods are safe for
// concurrent use and never run on the ready path.
type Connector struct {
	tracer      trace.Tracer
	attrs       []attribute.KeyValue
	attrSet     metric.MeasurementOption
	duration    metric.Float64Histogram
	attempts    metric.Int64Counter
	waiting     metric.Int64UpDownCounter
	transitions metric.Int64Counter
	reg         metric.Registration
}

// NewConnector makes the instruments of a connector to server, and
// registers the observers of its circuit state (state) and pool (pool).
// Call Close to unregister them.
func NewConnector(tp trace.TracerProvider, mp metric.MeterProvider, server Server, state func() breaker.State, pool Pool) *Connector {
	m := Meter(mp)
	attrs := []attribute.KeyValue{
		semconv.DBSystemNameRedis,
		semconv.ServerAddress(server.Address),
	}
	if server.Port > 0 {
		attrs = append(attrs, semconv.ServerPort(server.Port))
	}
	t := &Connector{
		tracer:  Tracer(tp),
		attrs:   attrs,
		attrSet: metric.WithAttributeSet(attribute.NewSet(attrs...)),
	}
	var err error
	t.duration, err = m.Float64Histogram(MetricConnectDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Duration of shared connects to Redis, from the first attempt to a ready client or giving up."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	handle(err)
	t.attempts, err = m.Int64Counter(MetricConnectAttempts,
		metric.WithUnit("{attempt}"),
		metric.WithDescription("Connect attempts (dial, handshake, PING), by outcome."))
	handle(err)
	t.waiting, err = m.Int64UpDownCounter(MetricConnectWaiting,
		metric.WithUnit("{caller}"),
		metric.WithDescription("Callers waiting on the shared connect."))
	handle(err)
	t.transitions, err = m.Int64Counter(MetricCircuitTransitions,
		metric.WithUnit("{transition}"),
		metric.WithDescription("Transitions of the circuit breaker, by from and to state."))
	handle(err)
	circuit, err := m.Int64ObservableGauge(MetricCircuitState,
		metric.WithUnit("{state}"),
		metric.WithDescription("State of the circuit breaker: 1 for the current state, 0 for the others."))
	handle(err)

	count, err := dbconv.NewClientConnectionCountObservable(m)
	handle(err)
	maxConns, err := dbconv.NewClientConnectionMaxObservable(m)
	handle(err)
	idleMax, err := dbconv.NewClientConnectionIdleMaxObservable(m)
	handle(err)
	idleMin, err := dbconv.NewClientConnectionIdleMinObservable(m)
	handle(err)
	timeouts, err := dbconv.NewClientConnectionTimeoutsObservable(m)
	handle(err)

	poolName := count.AttrClientConnectionPoolName(server.PoolName)
	poolAttrs := metric.WithAttributeSet(attribute.NewSet(poolName))
	idle := metric.WithAttributeSet(attribute.NewSet(poolName, count.AttrClientConnectionState(dbconv.ClientConnectionStateIdle)))
	used := metric.WithAttributeSet(attribute.NewSet(poolName, count.AttrClientConnectionState(dbconv.ClientConnectionStateUsed)))
	states := [...]breaker.State{breaker.Closed, breaker.HalfOpen, breaker.Open}
	var stateAttrs [len(states)]metric.ObserveOption
	for i, s := range states {
		stateAttrs[i] = metric.WithAttributeSet(attribute.NewSet(append(attrs[:len(attrs):len(attrs)], AttrCircuitState.String(s.String()))...))
	}

	t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		now := state()
		for i, s := range states {
			v := int64(0)
			if s == now {
				v = 1
			}
			o.ObserveInt64(circuit, v, stateAttrs[i])
		}
		o.ObserveInt64(maxConns.Inst(), int64(pool.Max), poolAttrs)
		o.ObserveInt64(idleMax.Inst(), int64(pool.IdleMax), poolAttrs)
		o.ObserveInt64(idleMin.Inst(), int64(pool.IdleMin), poolAttrs)
		var idleN, usedN, timeoutN int64
		if st := pool.Stats(); st != nil {
			idleN = int64(st.IdleConns)
			usedN = int64(st.TotalConns) - idleN
			timeoutN = int64(st.Timeouts)
		}
		o.ObserveInt64(count.Inst(), idleN, idle)
		o.ObserveInt64(count.Inst(), max(usedN, 0), used)
		o.ObserveInt64(timeouts.Inst(), timeoutN, poolAttrs)
		return nil
	}, circuit, count.Inst(), maxConns.Inst(), idleMax.Inst(), idleMin.Inst(), timeouts.Inst())
	handle(err)
	return t
}

// Close unregisters the observers.
func (t *Connector) Close() {
	if t.reg != nil {
		handle(t.reg.Unregister())
	}
}

// StartConnect starts the redis.connect span of a shared connect, as a
// child of the span in caller (the request that started the connect), and
// returns base (the connect's own, detached context) carrying it.
func (t *Connector) StartConnect(base, caller context.Context) (context.Context, trace.Span) {
	ctx := trace.ContextWithSpanContext(base, trace.SpanContextFromContext(caller))
	return t.tracer.Start(ctx, SpanConnect,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(t.attrs...))
}

// AttemptFailed records a failed attempt: an event on the connect span with
// its number, error.type and the pause that follows (zero after the last).
func (t *Connector) AttemptFailed(ctx context.Context, attempt int, err error, backoff time.Duration) {
	trace.SpanFromContext(ctx).AddEvent(EventAttemptFailed, trace.WithAttributes(
		AttrAttempt.Int(attempt),
		semconv.ErrorTypeKey.String(ErrorType(err)),
		AttrBackoff.Float64(backoff.Seconds()),
	))
}

// Attempt counts one attempt with its outcome.
func (t *Connector) Attempt(ctx context.Context, outcome string) {
	t.attempts.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(append(t.attrs[:len(t.attrs):len(t.attrs)], AttrOutcome.String(outcome))...)))
}

// EndConnect ends the connect span and records the connect's duration.
// err is nil on success; its text (already redacted) becomes the span's
// status description.
func (t *Connector) EndConnect(ctx context.Context, span trace.Span, start time.Time, attempts int, outcome string, circuit breaker.State, err error) {
	span.SetAttributes(
		AttrAttempts.Int(attempts),
		AttrOutcome.String(outcome),
		AttrCircuitState.String(circuit.String()),
	)
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(ErrorType(err)))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	t.duration.Record(ctx, time.Since(start).Seconds(),
		metric.WithAttributeSet(attribute.NewSet(append(t.attrs[:len(t.attrs):len(t.attrs)], AttrOutcome.String(outcome))...)))
}

// Waiting adds delta to the callers waiting on the shared connect.
func (t *Connector) Waiting(ctx context.Context, delta int64) {
	t.waiting.Add(ctx, delta, t.attrSet)
}

// Waited records, on the span in ctx (a caller's request), that it waited
// for the shared connect whose span is connect: an event with how long and
// how it ended, and a link to the connect span.
func (t *Connector) Waited(ctx context.Context, connect trace.SpanContext, waited time.Duration, outcome string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if connect.IsValid() {
		span.AddLink(trace.Link{SpanContext: connect})
	}
	span.AddEvent(EventWaited, trace.WithAttributes(
		AttrWaited.Float64(waited.Seconds()),
		AttrOutcome.String(outcome),
	))
}

// Transition records a circuit transition: the transitions counter, and an
// event on the span in ctx, if any.
func (t *Connector) Transition(ctx context.Context, from, to breaker.State) {
	t.transitions.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(append(t.attrs[:len(t.attrs):len(t.attrs)],
		AttrFrom.String(from.String()), AttrTo.String(to.String()))...)))
	TransitionEvent(ctx, from, to)
}

// TransitionEvent adds a circuit-transition event to the span in ctx.
func TransitionEvent(ctx context.Context, from, to breaker.State) {
	trace.SpanFromContext(ctx).AddEvent(EventTransition, trace.WithAttributes(
		AttrFrom.String(from.String()), AttrTo.String(to.String())))
}
