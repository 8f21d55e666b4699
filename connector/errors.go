package connector

import (
	"errors"
	"fmt"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/admit"
	"github.com/ankitoon/redismw/internal/errkind"
	"github.com/ankitoon/redismw/telemetry"
)

// ErrUnavailable is the [errors.Is] target while Redis is unusable: the
// circuit is open, or a connect failed. Such errors are
// [*UnavailableError]s, which say when to try again.
var ErrUnavailable = breaker.ErrUnavailable

// UnavailableError is the error returned while Redis is unusable. Its
// RetryAfter says how long until the circuit lets its next probe through:
//
//	var ue *connector.UnavailableError
//	if errors.As(err, &ue) && ue.RetryAfter > 0 { … }
type UnavailableError = breaker.UnavailableError

// ErrOverloaded is the cause, inside an [*UnavailableError] (so it matches
// [ErrUnavailable] too), of a command refused because Redis serves more
// slowly than commands arrive ([Config.Overload]): it was refused at
// once, without network I/O, and the circuit did not count it. Its
// RetryAfter is 1s.
var ErrOverloaded = admit.ErrOverloaded

// ErrClosed is returned by [Connector.Client] after [Connector.Close].
var ErrClosed = errkind.New("redismw: connector closed", telemetry.OutcomeClosed)

// errReopened is the cause when a connect succeeded but the circuit had
// opened again meanwhile, so its client was not published.
var errReopened = errors.New("the circuit opened again during the connect")

// errGoexit is the error of a connect whose goroutine was ended by
// runtime.Goexit in user code (OnNewClient, a hook, Backoff).
var errGoexit = errors.New("redismw: the connect's goroutine exited (runtime.Goexit in user code) before it ended")

// panicError carries a panic raised during a shared connect to every caller
// waiting on it, with the stack of the goroutine that panicked. Its text
// has the passwords removed: a panic's value may quote the URL.
type panicError struct {
	value any
	stack []byte
	text  string
}

func newPanicError(value any, stack []byte, secrets []string) *panicError {
	return &panicError{value: value, stack: stack,
		text: redact(fmt.Sprintf("redismw: panic during connect: %v\n\n%s", value, stack), secrets...)}
}

func (p *panicError) Error() string { return p.text }

// errPanic is in every panicError's chain: it labels it (see
// instrument.Outcome).
var errPanic = errkind.New("redismw: panic during connect", telemetry.OutcomePanic)

// Unwrap returns errPanic, and the panic's value if it is an error.
func (p *panicError) Unwrap() []error {
	if err, ok := p.value.(error); ok {
		return []error{errPanic, err}
	}
	return []error{errPanic}
}

// connectError is the failure of a whole connect: its attempts, and the
// last attempt's error (password removed).
type connectError struct {
	attempts int
	err      error
	fatal    bool // breaker.Fatal: a certificate, credentials, permission or TLS problem, not retried
}

func (e *connectError) Error() string {
	if e.fatal {
		return fmt.Sprintf("connect failed, not retried (a certificate, credentials, permission or TLS problem that retrying cannot fix): %v", e.err)
	}
	return fmt.Sprintf("connect failed after %d attempt(s): %v", e.attempts, e.err)
}

func (e *connectError) Unwrap() error { return e.err }
