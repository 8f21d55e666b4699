package instrument

import (
	"errors"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/errkind"
	"github.com/ankitoon/redismw/telemetry"
)

// Outcome labels err in the one vocabulary of spans, metrics, logs and the
// middleware (telemetry.Outcome*, and the rejection reasons, which share
// it): success for nil; the label of an error of redismw that names its
// own (errkind.Label: the connector's ErrClosed and panics, the
// middleware's wait budget, telemetry.ReasonWaitBudget); circuit_open for
// the open circuit's refusal; failure for any other error. It is the one
// place that decides those labels; what an error means to the circuit is
// breaker.Classify's, and its error.type is telemetry.ErrorType's.
func Outcome(err error) string {
	var ue *breaker.UnavailableError
	if err == nil {
		return telemetry.OutcomeSuccess
	}
	if label, ok := errkind.Label(err); ok {
		return label
	}
	if errors.As(err, &ue) && ue.CircuitOpen {
		return telemetry.OutcomeCircuitOpen
	}
	return telemetry.OutcomeFailure
}
