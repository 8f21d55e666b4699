package telemetry

// Reasons for a middleware rejection ([AttrReason]).
const (
	ReasonCircuitOpen   = OutcomeCircuitOpen
	ReasonConnectFailed = "connect_failed"
	ReasonWaitBudget    = "wait_budget"
	ReasonClosed        = OutcomeClosed
	ReasonDeadline      = "deadline"
	// ReasonCommandFailed is a 503 that a handler wrote with
	// WriteUnavailable for a failed command (a timeout, a network error,
	// the circuit's refusal is circuit_open).
	ReasonCommandFailed = "command_failed"
	// ReasonPoolTimeout is a 503 that a handler wrote with
	// WriteUnavailable for a command that found no free connection in the
	// pool within pool_timeout (go-redis' ErrPoolTimeout): the service's
	// own concurrency, not a failure of Redis.
	ReasonPoolTimeout = "pool_timeout"
)

// The values of [AttrRequestOutcome]. Adaptive load shedding (reason
// overload) will add its own.
const (
	RequestAdmitted = "admitted" // the request got a client
	RequestRejected = "rejected" // answered 503, or passed on without a client when failing open
)
