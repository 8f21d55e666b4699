// Package telemetry names what redismw records with OpenTelemetry — its
// metrics, attributes, spans and events — for dashboards, alerts and tests
// that read them, and classifies errors for error.type ([ErrorType]). The
// connector and the middleware record them (the machinery is internal).
//
// Providers are the global ones (otel.GetTracerProvider,
// otel.GetMeterProvider) unless the connector's Config or the middleware's
// options name others; the instrumentation scope is [ScopeName] with the
// module's version. Instrument-creation errors go to otel.Handle. A ready
// connector records nothing; the middleware's ready path counts the
// admitted request (redismw.middleware.requests) with one atomic add, which
// the meter observes at collection.
// Command latency and pool waits are go-redis' own measurements, recorded
// by redismw.CommandRecorder once it is installed.
//
// The metrics, in the README's table:
//
//	redismw.unusable                 gauge          1 while Redis is unusable for the connector, 0 otherwise
//	redismw.unusable.start_time      gauge, s       unix time the current outage started, 0 when usable
//	redismw.circuit.next_probe_time  gauge, s       unix time of the open circuit's next probe, 0 when none is armed
//	redismw.connect.duration         histogram, s   {redismw.outcome, error.type}
//	redismw.connect.attempts         counter        {redismw.outcome, error.type}
//	redismw.connect.waiting          updown counter (callers waiting on the shared connect)
//	redismw.circuit.state            gauge          {redismw.circuit.current} 1 for the current state, 0 for the others
//	redismw.circuit.failures         counter        {error.type}
//	redismw.circuit.transitions      counter        {redismw.circuit.from, redismw.circuit.to}
//	redismw.middleware.requests      counter        {redismw.request.outcome}
//	redismw.middleware.rejections    counter        {redismw.rejection.reason}
//	db.client.connection.count       {db.client.connection.state=idle|used}
//	db.client.connection.max, .idle.max, .idle.min, .timeouts
//
// Every series carries db.client.connection.pool.name, the connector's
// unique name, and db.system.name=redis, server.address and server.port —
// the pool's and the middleware's too (not the rejections counted outside
// any middleware, which have no connector). Counters are
// created at 0 with the labels they will have: a failed attempt's and a
// circuit failure's for every error.type of [FailureTypes]; histograms
// are born at their first observation.
package telemetry

import (
	"errors"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/errkind"
)

// ScopeName is the instrumentation scope of every tracer and meter of
// redismw: its import path.
const ScopeName = "github.com/ankitoon/redismw"

// Metric names.
const (
	MetricConnectDuration    = "redismw.connect.duration"
	MetricConnectAttempts    = "redismw.connect.attempts"
	MetricConnectWaiting     = "redismw.connect.waiting"
	MetricCircuitState       = "redismw.circuit.state"
	MetricCircuitTransitions = "redismw.circuit.transitions"
	MetricCircuitFailures    = "redismw.circuit.failures"
	MetricRejections         = "redismw.middleware.rejections"
	MetricRequests           = "redismw.middleware.requests"
	// MetricUnusable is 1 while Redis is unusable for the connector: the
	// circuit is open or half-open (a probe in flight), or there is no
	// client and the last connect attempt failed (a cold start against a
	// Redis that does not answer). 0 otherwise, before the first connect
	// and after Close included.
	MetricUnusable = "redismw.unusable"
	// MetricUnusableStart is the unix time (s) the current outage began:
	// the first failed attempt of a connect that has no client, or the
	// circuit leaving Closed, whichever came first; 0 while usable.
	MetricUnusableStart = "redismw.unusable.start_time"
	// MetricNextProbe is the unix time (s) of the open circuit's next
	// probe; 0 when none is armed (closed, or half-open: the probe is in
	// flight).
	MetricNextProbe = "redismw.circuit.next_probe_time"
	// MetricOverloadLimit is the adaptive limit of load shedding: how many
	// commands may be in flight to Redis at once now.
	MetricOverloadLimit = "redismw.overload.limit"
	// MetricOverloadInflight is how many commands load shedding admitted
	// are in flight now.
	MetricOverloadInflight = "redismw.overload.inflight"
	// MetricOverloadShed counts the commands and requests load shedding
	// refused (a request refused by the middleware also counts in
	// redismw.middleware.rejections, reason overload).
	MetricOverloadShed = "redismw.overload.shed"
)

// FailureTypes returns the error.type values of a failed connect attempt
// (redismw.connect.attempts{redismw.outcome=failure}) and of a circuit
// failure (redismw.circuit.failures) whose series exist from the start,
// at 0. Other values — other first words of a Redis error reply, say —
// are born at their first failure.
func FailureTypes() []string {
	return []string{"timeout", "connection_refused", "connection_reset", "connection_closed",
		"LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "READONLY", "WRONGPASS", "NOAUTH", "_OTHER"}
}

// Attribute keys of redismw's own spans and metrics.
const (
	// AttrOutcome is a connect's, an attempt's or a caller's wait's
	// outcome: one of the Outcome* values.
	AttrOutcome = attribute.Key("redismw.outcome")
	// AttrAttemptCount is how many attempts a connect made (a span
	// attribute; the metric redismw.connect.attempts counts attempts).
	AttrAttemptCount = attribute.Key("redismw.connect.attempt_count")
	// AttrAttempt is the number of an attempt, from 1.
	AttrAttempt = attribute.Key("redismw.connect.attempt")
	// AttrBackoff is the pause after a failed attempt, in seconds.
	AttrBackoff = attribute.Key("redismw.connect.backoff")
	// AttrCircuitCurrent is the circuit's state: closed, half-open or
	// open (an attribute; the metric redismw.circuit.state is the gauge).
	AttrCircuitCurrent = attribute.Key("redismw.circuit.current")
	// AttrFrom and AttrTo are the states of a circuit transition.
	AttrFrom = attribute.Key("redismw.circuit.from")
	AttrTo   = attribute.Key("redismw.circuit.to")
	// AttrReason is why a request got a 503 (or no client when failing
	// open): circuit_open, connect_failed, wait_budget, deadline (the
	// request's own), closed, or, from a handler's WriteUnavailable,
	// command_failed or pool_timeout.
	AttrReason = attribute.Key("redismw.rejection.reason")
	// AttrRequestOutcome is what the middleware did with a request:
	// admitted or rejected (redismw.middleware.requests).
	AttrRequestOutcome = attribute.Key("redismw.request.outcome")
	// AttrWaitDuration is how long a caller waited on the shared connect,
	// in seconds (an attribute of the event redismw.connect.waited).
	AttrWaitDuration = attribute.Key("redismw.connect.wait_duration")
)

// The values of [AttrOutcome]. One vocabulary serves spans, metrics, logs
// and the middleware: the circuit's refusal is "circuit_open" as an
// outcome, an error.type ([ErrorType]) and a rejection reason alike.
const (
	OutcomeSuccess     = "success"
	OutcomeFailure     = "failure"
	OutcomeCircuitOpen = "circuit_open" // the circuit was open: no I/O
	OutcomeClosed      = "closed"       // the connector was closed
	OutcomePanic       = "panic"        // user code panicked during the connect
	OutcomeLeft        = "left"         // a caller's context ended while it waited
)

// Span and event names.
const (
	SpanConnect        = "redis.connect"
	EventAttemptFailed = "redismw.connect.attempt_failed"
	EventTransition    = "redismw.circuit.transition"
	EventWaited        = "redismw.connect.waited"
)

// ErrorType returns a low-cardinality error.type for err: the outcome an
// error of redismw names itself ("closed": the connector was closed;
// "panic": user code panicked during the connect; "wait_budget": the
// middleware's), "circuit_open", "canceled", "timeout", "pool_timeout"
// (the pool had no free connection), the first word of a Redis error
// reply (LOADING, WRONGPASS …), "connection_refused", "connection_reset",
// "connection_closed", or "_OTHER". It never includes the error's text.
func ErrorType(err error) string {
	var unavailable *breaker.UnavailableError
	if err == nil {
		return ""
	}
	if label, ok := errkind.Label(err); ok {
		return label
	}
	if errors.As(err, &unavailable) && unavailable.CircuitOpen {
		return OutcomeCircuitOpen
	}
	switch kind := errkind.Of(err); kind {
	case errkind.Reply:
		if word := errkind.ReplyWord(err); word != "" {
			return word
		}
	case errkind.Timeout, errkind.Canceled, errkind.Refused, errkind.Reset, errkind.Closed, errkind.PoolTimeout:
		return string(kind)
	}
	return semconv.ErrorTypeOther.Value.AsString()
}
