package instrument

import (
	"errors"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/telemetry"
)

// Outcome labels err in the one vocabulary of spans, metrics, logs and the
// middleware (telemetry.Outcome*, whose values the rejection reasons
// share): success for nil; the label of the first error in err's chain
// that names its own (see [NewError]: the connector's ErrClosed and
// panics, the middleware's wait budget); circuit_open for the open
// circuit's refusal; failure for any other error. It is the one place
// that decides those labels; what an error means to the circuit is
// breaker.Classify's, and its error.type is telemetry.ErrorType's.
func Outcome(err error) string {
	var named interface{ Outcome() string }
	var ue *breaker.UnavailableError
	switch {
	case err == nil:
		return telemetry.OutcomeSuccess
	case errors.As(err, &named):
		return named.Outcome()
	case errors.As(err, &ue) && ue.CircuitOpen:
		return telemetry.OutcomeCircuitOpen
	}
	return telemetry.OutcomeFailure
}

// NewError returns a sentinel error with text whose [Outcome] is outcome.
func NewError(text, outcome string) error { return &labeled{text, outcome} }

type labeled struct{ text, outcome string }

func (e *labeled) Error() string   { return e.text }
func (e *labeled) Outcome() string { return e.outcome }
