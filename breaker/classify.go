package breaker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/internal/errkind"
)

// What an error is (a timeout, a reply, a refused connection …) is decided
// in internal/errkind, which telemetry.ErrorType shares: the two never
// disagree on a kind.

// Classify says what err, returned by a Redis command or connect attempt,
// tells about the health of Redis. It is the one place where that is
// decided for commands; a connect attempt's readiness PING adds only what
// the attempt alone knows (its deadline is its own, so a timeout there is
// a Failure; NOPERM on what the configuration needs, such as SELECT of
// the URL's database, is Fatal; see the connector's documentation):
//
//   - Success: nil, [redis.Nil], and every error reply that is not about
//     the server's state (WRONGTYPE, NOSCRIPT, NOPERM, ERR …, TRYAGAIN):
//     Redis answered. So are the write refusals READONLY and NOREPLICAS:
//     a replica (or a master short of replicas) that refuses a write
//     serves reads, an error reply costs its caller no waiting, and its
//     PING answers, so counting them would open the circuit, lose the
//     reads and reopen it after every probe. go-redis closes a connection
//     that answered READONLY, so that the next dial reaches the new
//     primary (after a failover that moved a DNS name).
//   - Failure: replies that say the server cannot serve now: LOADING,
//     MASTERDOWN, CLUSTERDOWN, BUSY. Counted; FailureThreshold in a row
//     trip the circuit.
//   - Fatal: a failure that retrying cannot fix: refused credentials
//     (WRONGPASS, NOAUTH) or a server certificate the client cannot
//     verify. It is fatal for a connect that has no client yet, and trips
//     the circuit at once; a command on a live client (a new pooled
//     connection after a password rotation) treats it as a Suspect.
//   - Suspect: what proves nothing about Redis by itself: a timeout,
//     whoever's deadline it was (the connection's read_timeout or the
//     caller's context); local pool saturation ([redis.ErrPoolTimeout],
//     [redis.ErrPoolExhausted]); a network error (refused, reset, broken
//     pipe, EOF: a connection killed by CLIENT KILL or an idle timeout, or
//     the stored error of a sticky Conn, breaks while Redis serves the
//     others); and "max number of clients reached" (Redis refuses a new
//     connection, and serves the ones it has). It is not counted: the
//     connector checks whether Redis answers, and trips the circuit only
//     if it does not. A connect attempt, whose deadline and connection are
//     its own, counts a Suspect as a Failure.
//   - Ignored: the caller's own [context.Canceled], [redis.ErrClosed] (the
//     client was closed locally), a refusal of this package
//     ([ErrUnavailable]), and every other error, such as one returned by a
//     user's hook: it says nothing about Redis.
//
// An error that wraps several (errors.Join: a Sentinel deployment joins
// its sentinels' errors) is judged by the first that applies of: Success
// for nil or redis.Nil; Ignored; Suspect for any timeout; Fatal; a reply;
// a network error.
//
// Classify never panics, whatever err is.
func Classify(err error) Outcome {
	kind := errkind.Of(err)
	switch {
	case kind == errkind.None, kind == errkind.NilReply:
		return Success
	case kind == errkind.Canceled, kind == errkind.ClientGone, errors.Is(err, ErrUnavailable):
		return Ignored // the caller's, the client's or this package's own doing
	case kind == errkind.PoolTimeout, kind == errkind.Timeout:
		// A timeout proves nothing, even beside another error (a Sentinel
		// deployment joins the errors of its sentinels).
		return Suspect
	case untrusted(err), redis.IsAuthError(err):
		return Fatal
	}
	switch {
	case kind == errkind.Reply && redis.IsMaxClientsError(err):
		return Suspect
	case kind == errkind.Reply && serverCannotServe(err):
		return Failure
	case kind == errkind.Reply:
		return Success
	case kind.Broken():
		return Suspect
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
// a state to serve, rather than that the command was wrong or refused a
// write.
func serverCannotServe(err error) bool {
	return redis.IsLoadingError(err) ||
		redis.IsMasterDownError(err) ||
		redis.IsClusterDownError(err) ||
		redis.HasErrorPrefix(err, "BUSY ")
}
