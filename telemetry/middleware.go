package telemetry

// Reasons for a middleware rejection ([AttrReason]).
const (
	ReasonCircuitOpen   = OutcomeCircuitOpen
	ReasonConnectFailed = "connect_failed"
	ReasonWaitBudget    = "wait_budget"
	ReasonClosed        = OutcomeClosed
	ReasonDeadline      = "deadline"
	// ReasonCommandFailed is a 503 that a handler wrote with
	// WriteUnavailable for a failed command.
	ReasonCommandFailed = "command_failed"
)
