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
	// ReasonOverload is a request or command shed because Redis serves
	// more slowly than the load asks (adaptive load shedding): refused at
	// once, before it waited, and never counted by the circuit.
	ReasonOverload = "overload"
)

// The values of [AttrRequestOutcome]. A request shed by adaptive load
// shedding is rejected, with reason overload.
const (
	RequestAdmitted = "admitted" // the request got a client
	RequestRejected = "rejected" // answered 503, or passed on without a client when failing open
)
