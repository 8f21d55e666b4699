package telemetry

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
