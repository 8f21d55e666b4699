package breaker

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Classify says what err, returned by a Redis command or connect attempt,
// tells about the health of Redis:
//
//   - Failure: network errors (refused, reset, broken pipe, EOF), timeouts
//     (including [context.DeadlineExceeded]), [redis.ErrPoolTimeout] and
//     [redis.ErrPoolExhausted], and replies that say the server cannot serve
//     now: LOADING, MASTERDOWN, CLUSTERDOWN, READONLY, BUSY, NOREPLICAS and
//     "max number of clients reached".
//   - Success: nil, [redis.Nil], and every other error reply (WRONGTYPE,
//     NOSCRIPT, ERR …, TRYAGAIN): the server answered.
//   - Ignored: the caller's own [context.Canceled], [redis.ErrClosed] (the
//     client was closed locally), a refusal of this package
//     ([ErrUnavailable]), and errors that say nothing about Redis.
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
		return Failure
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		if serverCannotServe(err) {
			return Failure
		}
		return Success
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
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
