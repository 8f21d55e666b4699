package breaker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Classify says what err, returned by a Redis command or connect attempt,
// tells about the health of Redis. It is the one place where that is
// decided:
//
//   - Success: nil, [redis.Nil], and every error reply that is not about
//     the server's state (WRONGTYPE, NOSCRIPT, NOPERM, ERR …, TRYAGAIN):
//     Redis answered.
//   - Failure: network errors (refused, reset, broken pipe, EOF) and
//     replies that say the server cannot serve now: LOADING, MASTERDOWN,
//     CLUSTERDOWN, READONLY, BUSY, NOREPLICAS and "max number of clients
//     reached". Counted; FailureThreshold in a row trip the circuit.
//   - Fatal: a failure that retrying cannot fix: refused credentials
//     (WRONGPASS, NOAUTH) or a server certificate the client cannot
//     verify. It trips the circuit at once.
//   - Suspect: a timeout, whoever's deadline it was (the connection's
//     read_timeout or the caller's context), and local pool saturation
//     ([redis.ErrPoolTimeout], [redis.ErrPoolExhausted]). It proves
//     nothing about Redis (the caller may have allowed too little time, or
//     the pool be busy with legitimate blocking commands), so it is not
//     counted: the connector confirms it with a PING of its own, bounded by
//     read_timeout, and trips the circuit only if that fails too.
//   - Ignored: the caller's own [context.Canceled], [redis.ErrClosed] (the
//     client was closed locally), a refusal of this package
//     ([ErrUnavailable]), and every other error, such as one returned by a
//     user's hook: it says nothing about Redis.
//
// Classify never panics, whatever err is.
func Classify(err error) Outcome {
	switch {
	case err == nil, errors.Is(err, redis.Nil):
		return Success
	case errors.Is(err, context.Canceled),
		errors.Is(err, ErrUnavailable),
		errors.Is(err, redis.ErrClosed):
		return Ignored
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, redis.ErrPoolExhausted):
		return Suspect
	case untrusted(err), redis.IsAuthError(err):
		return Fatal
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		if serverCannotServe(err) {
			return Failure
		}
		return Success
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return Suspect
	}
	switch {
	case netErr != nil,
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE):
		return Failure
	}
	return Ignored
}

// untrusted reports whether err says the server's certificate cannot be
// verified, or that the server does not speak TLS.
func untrusted(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var record tls.RecordHeaderError
	return errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &record)
}

// serverCannotServe reports whether an error reply says the server is not in
// a state to serve, rather than that the command was wrong.
func serverCannotServe(err error) bool {
	return redis.IsLoadingError(err) ||
		redis.IsMasterDownError(err) ||
		redis.IsClusterDownError(err) ||
		redis.IsReadOnlyError(err) ||
		redis.IsMaxClientsError(err) ||
		redis.IsNoReplicasError(err) ||
		redis.HasErrorPrefix(err, "BUSY ")
}
