// Package errkind sorts errors by kind: the one place that tells a
// timeout from a refused connection, a Redis reply or a pool timeout (as
// go-redis keeps isBadConn and its Is*Error functions in one error.go),
// that says whether a PING was answered, and that carries the labels of
// redismw's own errors. What each kind means for the health of Redis is
// breaker.Classify's (which adds the certificate and credential checks);
// telemetry.ErrorType uses the kinds' names as error.type.
package errkind

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Kind is what an error is. Its value is the error's error.type where
// telemetry.ErrorType uses it.
type Kind string

// The kinds, in the order [Of] tests them (an error that wraps several,
// errors.Join's, is of the first), but for Timeout: a context deadline is
// tested before PoolTimeout, a network timeout after Reply.
const (
	None        Kind = ""                   // nil
	NilReply    Kind = "nil"                // redis.Nil: the key does not exist
	Canceled    Kind = "canceled"           // the caller's context.Canceled
	ClientGone  Kind = "client_closed"      // redis.ErrClosed: the client was closed locally
	Timeout     Kind = "timeout"            // a deadline, the caller's or the connection's
	PoolTimeout Kind = "pool_timeout"       // the pool had no free connection in time, or none at all
	Reply       Kind = "reply"              // an error reply of Redis; see [ReplyWord]
	Refused     Kind = "connection_refused" // nothing listens
	Reset       Kind = "connection_reset"   // reset, aborted or a broken pipe
	Closed      Kind = "connection_closed"  // EOF: the server closed the connection
	Network     Kind = "network"            // any other network error (DNS, …)
	Other       Kind = "_OTHER"             // none of the above: user code's, say
)

// Broken reports whether k is a network error — refused, reset, closed
// or any other: a connection broke, which one command cannot tell from
// Redis being gone.
func (k Kind) Broken() bool {
	switch k {
	case Refused, Reset, Closed, Network:
		return true
	}
	return false
}

// Of returns the kind of err.
func Of(err error) Kind {
	var reply redis.Error
	var netErr net.Error
	switch {
	case err == nil:
		return None
	case errors.Is(err, redis.Nil):
		return NilReply
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, redis.ErrClosed):
		return ClientGone
	case errors.Is(err, context.DeadlineExceeded):
		return Timeout
	case errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted):
		return PoolTimeout
	case errors.As(err, &reply):
		return Reply
	case errors.As(err, &netErr) && netErr.Timeout():
		return Timeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return Reset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return Closed
	case netErr != nil:
		return Network
	}
	return Other
}

// ReplyWord returns the first word of err's Redis error reply (LOADING,
// WRONGPASS …) if err holds one and that word is an upper-case prefix of
// at most 32 characters, as Redis writes them; "" otherwise.
func ReplyWord(err error) string {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return ""
	}
	word, _, _ := strings.Cut(reply.Error(), " ")
	if word != "" && word == strings.ToUpper(word) && len(word) <= 32 {
		return word
	}
	return ""
}

// PingAnswered reports whether err, the result of a PING (with the
// handshake of the connection it may have needed), says that Redis serves:
// no error, or NOPERM for PING itself (an ACL user without +ping is
// authenticated and served). Any other error reply, one to the handshake
// (AUTH, SELECT …) included, is not an answer to the PING. It is the one
// definition of "Redis answered" for the connector's readiness PING, its
// checks and the health handler's probe.
func PingAnswered(err error) bool {
	return err == nil || redis.IsPermissionError(err) && strings.Contains(err.Error(), "'ping'")
}

// New returns a sentinel error with text that names its own outcome,
// label (see [Label]): redismw's ErrClosed, ErrWaitBudget, a connect's
// panic. Only this package makes such errors: an error of user code can
// never choose a label.
func New(text, label string) error { return &labeled{text, label} }

type labeled struct{ text, label string }

func (e *labeled) Error() string { return e.text }

// Label returns the label of the first error in err's chain made by
// [New], and whether there is one.
func Label(err error) (string, bool) {
	var l *labeled
	if errors.As(err, &l) {
		return l.label, true
	}
	return "", false
}
