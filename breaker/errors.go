package breaker

import (
	"errors"
	"strings"
	"time"
)

// ErrUnavailable is the [errors.Is] target for every error that means
// "Redis cannot be used right now": the circuit is open, or a connect failed.
// The connector package re-exports it as connector.ErrUnavailable.
var ErrUnavailable = errors.New("redismw: redis unavailable")

// UnavailableError is the error returned while Redis is unusable. It matches
// [ErrUnavailable] with [errors.Is], and says when it is worth trying again.
// The connector package re-exports it as connector.UnavailableError.
type UnavailableError struct {
	// RetryAfter is how long until the circuit lets its next probe through.
	// Zero means unknown: the circuit is not open, and a new call may try at
	// once.
	RetryAfter time.Duration

	// CircuitOpen reports that the circuit refused the call without any
	// network I/O. A connect that tried and failed (and may have opened the
	// circuit by failing) reports false, with its failure in Err.
	CircuitOpen bool

	// Err is the failure behind the refusal, such as the last connect
	// attempt's error, or nil. It never contains a password.
	Err error
}

// Error describes the refusal: "redismw: redis unavailable: circuit open,
// next probe in 3s", or "redismw: redis unavailable, next probe in 3s: "
// followed by the failure behind it.
func (e *UnavailableError) Error() string {
	var b strings.Builder
	b.WriteString(ErrUnavailable.Error())
	if e.CircuitOpen {
		b.WriteString(": circuit open")
	}
	if e.RetryAfter > 0 {
		b.WriteString(", next probe in ")
		b.WriteString(roundUp(e.RetryAfter).String())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Is reports whether target is [ErrUnavailable].
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the failure behind the refusal, if any.
func (e *UnavailableError) Unwrap() error { return e.Err }

// roundUp rounds d up to a tenth of a second (d > 0) for messages.
func roundUp(d time.Duration) time.Duration {
	const step = 100 * time.Millisecond
	return (d + step - 1) / step * step
}
