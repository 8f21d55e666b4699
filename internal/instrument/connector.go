package instrument

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/telemetry"
)

// Server describes the Redis a connector talks to, and names the
// connector.
type Server struct {
	Address   string // server.address: host name, IP or socket path
	Port      int    // server.port; 0 for a unix socket
	Namespace string // db.namespace: the database index, "" for a cluster
	// PoolName is db.client.connection.pool.name, on every series and
	// span of the connector: unique within the process, so that two
	// connectors never share a series.
	PoolName string
}

// Pool is what the pool metrics observe: the connector's client's pool
// statistics (nil when there is no client) and its limits. A limit of 0 is
// not observed: IdleMax 0 is go-redis' "no limit", and a cluster's Max is
// per node while its statistics sum every node.
type Pool struct {
	Stats   func() *redis.PoolStats
	Max     int
	IdleMax int
	IdleMin int
}

// open are the telemetry of the process's open connectors by name
// (Server.PoolName, unique in the process): a middleware's series carry
// its connector's attributes too.
var open sync.Map // string → *Connector

// Health is what the connector's gauges observe at a collection.
type Health struct {
	Circuit   breaker.State
	Unusable  bool      // redismw.unusable
	Since     time.Time // when the outage began; zero while usable
	NextProbe time.Time // when the open circuit's next probe is due; zero when none is armed
	Overload  *Overload // nil when load shedding is disabled
}

// Overload is what the load-shedding gauges observe.
type Overload struct {
	Limit, Inflight int
	Shed            uint64
}

// Connector is the telemetry of one connector. Its methods are safe for
// concurrent use and never run on the ready path.
type Connector struct {
	tracer      trace.Tracer
	attrs       []attribute.KeyValue // every series' and span's
	spanAttrs   []attribute.KeyValue // the redis.connect span's, attrs included
	attrSet     metric.MeasurementOption
	duration    metric.Float64Histogram
	attempts    metric.Int64Counter
	waiting     metric.Int64UpDownCounter
	transitions metric.Int64Counter
	failures    metric.Int64Counter
	reg         metric.Registration
	name        string // the connector's: Server.PoolName
}

// with returns the measurement option of the connector's attributes and
// more.
func (t *Connector) with(more ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(append(t.attrs[:len(t.attrs):len(t.attrs)], more...)...))
}

// outcomeAttrs are the attributes of a connect's or an attempt's outcome:
// error.type too when it failed.
func outcomeAttrs(outcome string, err error) []attribute.KeyValue {
	kv := []attribute.KeyValue{telemetry.AttrOutcome.String(outcome)}
	if err != nil && outcome != telemetry.OutcomeSuccess {
		kv = append(kv, semconv.ErrorTypeKey.String(telemetry.ErrorType(err)))
	}
	return kv
}

// Outcomes of a connect attempt ([telemetry.AttrOutcome]) without an
// error.type, created at 0; a failure's series are created at 0 for each
// of telemetry.FailureTypes.
var attemptOutcomes = []string{telemetry.OutcomeSuccess, telemetry.OutcomeClosed}

// transitions are the circuit's possible transitions, created at 0.
var transitions = [][2]breaker.State{
	{breaker.Closed, breaker.Open}, {breaker.Open, breaker.HalfOpen},
	{breaker.HalfOpen, breaker.Closed}, {breaker.HalfOpen, breaker.Open},
}

// NewConnector makes the instruments of a connector to server, and
// registers the observers of its health (health: the circuit's state,
// whether Redis is unusable, since when, the next probe) and pool (pool).
// Call Close to unregister them.
func NewConnector(tp trace.TracerProvider, mp metric.MeterProvider, server Server, health func() Health, pool Pool) *Connector {
	m := Meter(mp)
	attrs := []attribute.KeyValue{
		semconv.DBSystemNameRedis,
		semconv.ServerAddress(server.Address),
		semconv.DBClientConnectionPoolName(server.PoolName),
	}
	if server.Port > 0 {
		attrs = append(attrs, semconv.ServerPort(server.Port))
	}
	t := &Connector{
		tracer:    Tracer(tp),
		attrs:     attrs,
		spanAttrs: attrs,
		attrSet:   metric.WithAttributeSet(attribute.NewSet(attrs...)),
	}
	if server.Namespace != "" {
		t.spanAttrs = append(attrs[:len(attrs):len(attrs)], semconv.DBNamespace(server.Namespace))
	}
	var err error
	t.duration, err = m.Float64Histogram(telemetry.MetricConnectDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Duration of shared connects to Redis, from the first attempt to a ready client or giving up."),
		metric.WithExplicitBucketBoundaries(ConnectBuckets...))
	handle(err)
	t.attempts = counter(m, telemetry.MetricConnectAttempts, "{attempt}",
		"Connect attempts (dial, handshake, PING), by outcome.")
	t.waiting, err = m.Int64UpDownCounter(telemetry.MetricConnectWaiting,
		metric.WithUnit("{caller}"),
		metric.WithDescription("Callers waiting on the shared connect."))
	handle(err)
	t.transitions = counter(m, telemetry.MetricCircuitTransitions, "{transition}",
		"Transitions of the circuit breaker, by from and to state.")
	t.failures = counter(m, telemetry.MetricCircuitFailures, "{failure}",
		"Failures the circuit counted (commands, connect attempts, the connector's checks), by error.type.")
	circuit, err := m.Int64ObservableGauge(telemetry.MetricCircuitState,
		metric.WithUnit("{state}"),
		metric.WithDescription("State of the circuit breaker: 1 for the current state, 0 for the others."))
	handle(err)
	unusable, err := m.Int64ObservableGauge(telemetry.MetricUnusable,
		metric.WithUnit("{connector}"),
		metric.WithDescription("1 while Redis is unusable for the connector (circuit open or half-open, or no client and the last connect attempt failed), 0 otherwise."))
	handle(err)
	since, err := m.Float64ObservableGauge(telemetry.MetricUnusableStart,
		metric.WithUnit("s"),
		metric.WithDescription("Unix time the current outage began (the first failed attempt of a connect without a client, or the circuit leaving closed); 0 while Redis is usable."))
	handle(err)
	nextProbe, err := m.Float64ObservableGauge(telemetry.MetricNextProbe,
		metric.WithUnit("s"),
		metric.WithDescription("Unix time of the open circuit's next probe; 0 when none is armed (closed, or half-open with the probe in flight)."))
	handle(err)
	limit, err := m.Int64ObservableGauge(telemetry.MetricOverloadLimit, metric.WithUnit("{command}"),
		metric.WithDescription("How many commands may be in flight to Redis at once now: the adaptive limit of load shedding (absent when it is disabled)."))
	handle(err)
	inflight, err := m.Int64ObservableGauge(telemetry.MetricOverloadInflight, metric.WithUnit("{command}"),
		metric.WithDescription("Commands admitted by load shedding and in flight to Redis now (absent when it is disabled)."))
	handle(err)
	shed, err := m.Int64ObservableCounter(telemetry.MetricOverloadShed, metric.WithUnit("{command}"),
		metric.WithDescription("Commands and requests refused at once because Redis served more slowly than they arrived (load shedding; absent when it is disabled)."))
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

	// Every counter series exists from the start, at 0: a dashboard's
	// increase() and an alert see the process's first event.
	ctx := context.Background()
	for _, o := range attemptOutcomes {
		t.attempts.Add(ctx, 0, t.with(telemetry.AttrOutcome.String(o)))
	}
	for _, e := range telemetry.FailureTypes() {
		t.attempts.Add(ctx, 0, t.with(telemetry.AttrOutcome.String(telemetry.OutcomeFailure), semconv.ErrorTypeKey.String(e)))
		t.failures.Add(ctx, 0, t.with(semconv.ErrorTypeKey.String(e)))
	}
	for _, tr := range transitions {
		t.transitions.Add(ctx, 0, t.with(telemetry.AttrFrom.String(tr[0].String()), telemetry.AttrTo.String(tr[1].String())))
	}

	// The pool's series carry the connector's attributes too, so that
	// every series of a connector joins on the same labels.
	poolAttrs := t.attrSet
	idle := t.with(count.AttrClientConnectionState(dbconv.ClientConnectionStateIdle))
	used := t.with(count.AttrClientConnectionState(dbconv.ClientConnectionStateUsed))
	states := [...]breaker.State{breaker.Closed, breaker.HalfOpen, breaker.Open}
	var stateAttrs [len(states)]metric.ObserveOption
	for i, s := range states {
		stateAttrs[i] = metric.WithAttributeSet(attribute.NewSet(append(attrs[:len(attrs):len(attrs)], telemetry.AttrCircuitCurrent.String(s.String()))...))
	}

	t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		h := health()
		for i, s := range states {
			v := int64(0)
			if s == h.Circuit {
				v = 1
			}
			o.ObserveInt64(circuit, v, stateAttrs[i])
		}
		var bad int64
		if h.Unusable {
			bad = 1
		}
		o.ObserveInt64(unusable, bad, t.attrSet)
		o.ObserveFloat64(since, unixSeconds(h.Since), t.attrSet)
		o.ObserveFloat64(nextProbe, unixSeconds(h.NextProbe), t.attrSet)
		if ov := h.Overload; ov != nil {
			o.ObserveInt64(limit, int64(ov.Limit), t.attrSet)
			o.ObserveInt64(inflight, int64(ov.Inflight), t.attrSet)
			o.ObserveInt64(shed, int64(ov.Shed), t.attrSet)
		}
		if pool.Max > 0 {
			o.ObserveInt64(maxConns.Inst(), int64(pool.Max), poolAttrs)
		}
		if pool.IdleMax > 0 {
			o.ObserveInt64(idleMax.Inst(), int64(pool.IdleMax), poolAttrs)
		}
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
	}, circuit, unusable, since, nextProbe, limit, inflight, shed, count.Inst(), maxConns.Inst(), idleMax.Inst(), idleMin.Inst(), timeouts.Inst())
	handle(err)
	t.name = server.PoolName
	open.Store(t.name, t)
	return t
}

// attributesOf returns the attributes of every series of the open
// connector named name, or none if there is no such connector.
func attributesOf(name string) ([]attribute.KeyValue, bool) {
	if v, ok := open.Load(name); ok {
		return v.(*Connector).attrs, true
	}
	return nil, false
}

// unixSeconds is t in unix seconds, 0 for the zero time.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// Close unregisters the observers.
func (t *Connector) Close() {
	open.CompareAndDelete(t.name, t)
	if t.reg != nil {
		handle(t.reg.Unregister())
	}
}

// StartConnect starts the redis.connect span of a shared connect, as a
// child of the span in caller (the request that started the connect), and
// returns base (the connect's own, detached context) carrying it.
func (t *Connector) StartConnect(base, caller context.Context) (context.Context, trace.Span) {
	ctx := trace.ContextWithSpanContext(base, trace.SpanContextFromContext(caller))
	return t.tracer.Start(ctx, telemetry.SpanConnect,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(t.spanAttrs...))
}

// AttemptFailed records a failed attempt: an event on the connect span with
// its number, error.type and the pause that follows (zero after the last).
func (t *Connector) AttemptFailed(ctx context.Context, attempt int, err error, backoff time.Duration) {
	trace.SpanFromContext(ctx).AddEvent(telemetry.EventAttemptFailed, trace.WithAttributes(
		telemetry.AttrAttempt.Int(attempt),
		semconv.ErrorTypeKey.String(telemetry.ErrorType(err)),
		telemetry.AttrBackoff.Float64(backoff.Seconds()),
	))
}

// Attempt counts one attempt by its outcome ([Outcome] of err: nil for
// success, ErrClosed when Close cut it short, its error when it failed),
// with error.type when it failed.
func (t *Connector) Attempt(ctx context.Context, err error) {
	outcome := Outcome(err)
	if outcome != telemetry.OutcomeFailure {
		err = nil // closed is no failure: the series created at 0 has no error.type
	}
	t.attempts.Add(ctx, 1, t.with(outcomeAttrs(outcome, err)...))
}

// Failure counts one failure the circuit counted, by error.type.
func (t *Connector) Failure(ctx context.Context, err error) {
	t.failures.Add(ctx, 1, t.with(semconv.ErrorTypeKey.String(telemetry.ErrorType(err))))
}

// EndConnect ends the connect span and records the connect's duration,
// took (the one measurement the log line shows too). err is nil on
// success; its text (already redacted) becomes the span's status
// description.
func (t *Connector) EndConnect(ctx context.Context, span trace.Span, took time.Duration, attempts int, outcome string, circuit breaker.State, err error) {
	span.SetAttributes(
		telemetry.AttrAttemptCount.Int(attempts),
		telemetry.AttrOutcome.String(outcome),
		telemetry.AttrCircuitCurrent.String(circuit.String()),
	)
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(telemetry.ErrorType(err)))
		var reply redis.Error
		if errors.As(err, &reply) {
			// A Redis error reply: its prefix (WRONGPASS, LOADING …) is
			// the database's status code.
			span.SetAttributes(semconv.DBResponseStatusCode(telemetry.ErrorType(reply)))
		}
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	t.duration.Record(ctx, took.Seconds(), t.with(outcomeAttrs(outcome, err)...))
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
	span.AddEvent(telemetry.EventWaited, trace.WithAttributes(
		telemetry.AttrWaitDuration.Float64(waited.Seconds()),
		telemetry.AttrOutcome.String(outcome),
	))
}

// Transition records a circuit transition: the transitions counter, and an
// event on the span in ctx, if any.
func (t *Connector) Transition(ctx context.Context, from, to breaker.State) {
	t.transitions.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(append(t.attrs[:len(t.attrs):len(t.attrs)],
		telemetry.AttrFrom.String(from.String()), telemetry.AttrTo.String(to.String()))...)))
	TransitionEvent(ctx, from, to)
}

// TransitionEvent adds a circuit-transition event to the span in ctx.
func TransitionEvent(ctx context.Context, from, to breaker.State) {
	trace.SpanFromContext(ctx).AddEvent(telemetry.EventTransition, trace.WithAttributes(
		telemetry.AttrFrom.String(from.String()), telemetry.AttrTo.String(to.String())))
}
