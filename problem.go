package redismw

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/instrument"
	"github.com/ankitoon/redismw/telemetry"
)

// problemBody is the RFC 9457 body of every 503 this package writes. Its
// detail is deliberately generic: internal error text never reaches clients.
var problemBody = []byte(`{"type":"about:blank","title":"Service Unavailable","status":503,` +
	`"detail":"A backing service is temporarily unavailable. Please retry later."}` + "\n")

// WriteUnavailable writes the answer [Middleware] gives when Redis is
// unavailable: 503 Service Unavailable, Content-Type
// application/problem+json with a generic RFC 9457 body, Cache-Control
// no-store, and a Retry-After header in whole seconds: for an
// [*connector.UnavailableError] its RetryAfter rounded up, 1 when that is
// unknown or for any other error, and none for [connector.ErrClosed] (the
// service is shutting down). err itself is never written.
//
// Handlers may call it when a command fails because Redis did not serve
// (a timeout, a network error, or [connector.ErrUnavailable] once the
// circuit has opened), to answer like the middleware. Not for
// [redis.Nil]: a missing key is an answer, and a 503 for it tells the
// client to retry what will not change. A 503 after a timeout may mean
// the command was applied (Redis may have read it before it stalled):
// make writes that clients retry idempotent, or once-only per request id
// (see the README, "Handling errors in handlers"). Every 503 it writes is counted in
// redismw.middleware.rejections — with the middleware's meter provider and
// connector name when r came through [Middleware], with the global
// provider otherwise — by reason: circuit_open, closed, pool_timeout (no
// free connection in the pool within pool_timeout), or command_failed;
// a request the middleware already counted (answered as unavailable, or
// passed on without a client when failing open) is not counted twice.
// Behind several middlewares it is counted under the innermost one's
// connector.
func WriteUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	h := w.Header()
	if secs := retryAfter(err); secs > 0 {
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(problemBody)))
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(problemBody)

	var s *scope
	if r != nil {
		s, _ = r.Context().Value(scopeKey).(*scope)
	}
	switch {
	case s != nil && s.counted:
	case s != nil && s.tel != nil:
		s.tel.Reject(r.Context(), reason(err, telemetry.ReasonCommandFailed))
	default:
		ctx := context.Background()
		if r != nil {
			ctx = r.Context()
		}
		globalTelemetry().Reject(ctx, reason(err, telemetry.ReasonCommandFailed))
	}
}

// globalTelemetry counts the 503s of handlers outside any middleware,
// with the global meter provider.
var globalTelemetry = sync.OnceValue(func() *instrument.Middleware { return instrument.NewMiddleware(nil, "") })

// retryAfter is the Retry-After, in whole seconds, of every answer that
// Redis is unavailable because of err (WriteUnavailable's, the health
// handler's): for an [*connector.UnavailableError] its RetryAfter rounded
// up, at least 1; 1 for any other error (nobody knows when Redis will be
// back); 0, no header, for [connector.ErrClosed], which is for good.
func retryAfter(err error) int {
	var ue *connector.UnavailableError
	switch {
	case errors.As(err, &ue):
		return max(int((ue.RetryAfter+time.Second-1)/time.Second), 1) // rounded up
	case errors.Is(err, connector.ErrClosed):
		return 0
	}
	return 1
}
