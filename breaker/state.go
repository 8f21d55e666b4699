package breaker

// State is the state of a circuit.
type State int32

// The states of a circuit, in gobreaker's order.
const (
	// Closed: requests flow; failures are counted.
	Closed State = iota
	// HalfOpen: the open period is over and one probe is in flight; other
	// requests are refused until it ends.
	HalfOpen
	// Open: every request is refused at once until the open period ends.
	Open
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	default:
		return "unknown"
	}
}

// Outcome is what a finished request says about the health of Redis; see
// [Classify].
type Outcome int8

const (
	// Success: Redis answered. Resets the consecutive-failure count, and
	// closes a half-open circuit.
	Success Outcome = iota
	// Failure: Redis did not answer, or answered that it cannot serve.
	Failure
	// Ignored: the request says nothing about Redis (for example, the caller
	// gave up, or user code failed). It is not counted.
	Ignored
	// Fatal: a failure that retrying cannot fix (refused credentials, an
	// untrusted certificate). It is counted, and opens the circuit at once,
	// so that the next attempt waits for the open period.
	Fatal
	// Suspect: a timeout or a saturated pool, which may be the caller's or
	// the pool's doing rather than Redis': not counted, but confirmed by
	// the connector's own check.
	Suspect
)

// String returns "success", "failure", "ignored", "fatal" or "suspect".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Ignored:
		return "ignored"
	case Fatal:
		return "fatal"
	case Suspect:
		return "suspect"
	default:
		return "unknown"
	}
}
