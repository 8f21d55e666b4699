package redismw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/errkind"
	"github.com/ankitoon/redismw/internal/instrument"
	"github.com/ankitoon/redismw/telemetry"
)

// contextKey is the type of this package's context keys.
type contextKey struct{ name string }

// scopeKey is a pointer so that storing it in a context does not allocate.
var scopeKey = &contextKey{"redismw scope"}

// scope is what the middleware puts in a request's context: the client,
// and the telemetry that counts a 503 a handler writes with
// [WriteUnavailable]. The middleware keeps one per client, so that the
// ready path allocates no more than context.WithValue does.
type scope struct {
	client  redis.UniversalClient  // nil when failing open
	conn    *connector.Connector   // the middleware's; nil from NewContext
	tel     *instrument.Middleware // nil from NewContext
	counted bool                   // the middleware counted this request's 503 already
}

// connKey finds the scope of one connector's middleware ([ClientFor]).
type connKey struct{ c *connector.Connector }

// scopeCtx is the context the middleware gives a request: its parent,
// plus the middleware's scope, found under scopeKey (the innermost
// middleware's, for FromContext) and under its connector's connKey (for
// ClientFor). One allocation, as context.WithValue's.
type scopeCtx struct {
	context.Context
	s *scope
}

func (c *scopeCtx) Value(key any) any {
	switch k := key.(type) {
	case *contextKey:
		if k == scopeKey {
			return c.s
		}
	case connKey:
		if k.c == c.s.conn {
			return c.s
		}
	}
	return c.Context.Value(key)
}

func (c *scopeCtx) String() string { return fmt.Sprintf("%v.WithValue(redismw scope)", c.Context) }

// withScope returns r with s in its context.
func withScope(r *http.Request, s *scope) *http.Request {
	return r.WithContext(&scopeCtx{Context: r.Context(), s: s})
}

// NewContext returns a copy of ctx that carries c, for [FromContext].
func NewContext(ctx context.Context, c redis.UniversalClient) context.Context {
	return context.WithValue(ctx, scopeKey, &scope{client: c})
}

// FromContext returns the client that [Middleware] (or [NewContext]) put
// in ctx, and false if there is none: outside the middleware, or in a
// fail-open request while Redis is unavailable ([WithFailOpen]).
func FromContext(ctx context.Context) (redis.UniversalClient, bool) {
	s, _ := ctx.Value(scopeKey).(*scope)
	if s == nil || s.client == nil {
		return nil, false
	}
	return s.client, true
}

// ClientFor returns the client that c's [Middleware] put in ctx, and false
// if there is none. A handler behind the middlewares of two deployments —
// a cache and a session store, each with its connector — gets each client
// with ClientFor; [FromContext] returns the innermost middleware's.
func ClientFor(ctx context.Context, c *connector.Connector) (redis.UniversalClient, bool) {
	s, _ := ctx.Value(connKey{c}).(*scope)
	if s == nil || s.client == nil {
		return nil, false
	}
	return s.client, true
}

// ErrWaitBudget is the cause, inside a [connector.UnavailableError], of a
// request that stopped waiting for a connect in progress because its wait
// budget ran out ([WithWaitBudget]). The connect goes on for other requests.
var ErrWaitBudget = errkind.New("redismw: wait budget for the connect in progress exhausted", telemetry.ReasonWaitBudget)

// Middleware returns a middleware that puts a ready Redis client from c
// into each request's context ([FromContext]) before calling the handler.
//
// When c has no ready client, the request waits for the shared connect, at
// most the wait budget ([WithWaitBudget]). When Redis is unavailable — the
// circuit is open (answered at once, without waiting), the connect failed,
// the budget ran out, or c is closed — the middleware by default answers
// 503 Service Unavailable with a Retry-After header in whole seconds (at
// least 1; absent once c is closed) and an RFC 9457 application/problem+json
// body whose detail is generic: the internal error never reaches the
// client. [WithErrorHandler] replaces that answer, and [WithFailOpen] calls
// the handler without a client instead.
//
// While Redis serves more slowly than requests arrive (load shedding,
// connector.Config.Overload), a command shed inside a handler fails with
// [connector.ErrOverloaded], which [WriteUnavailable] answers 503 with
// Retry-After: 1; while Redis has stalled (a hang before the circuit
// opens), a request is refused before its handler runs
// ([connector.Connector.Admit]) with the same answer, or passed on
// without a client when failing open.
//
// A panic in the connect (user code in OnNewClient, say), which the
// connector logs once, gets the same answer as an unavailable Redis.
//
// A request whose own context ends while it waits counts as no Redis
// failure. A cancelled request gets nothing written: its client is gone,
// or whoever cancelled it owns the answer. A request whose deadline ended
// gets the unavailable answer (503, or the error handler), never an empty
// 200; writing it after an http.TimeoutHandler has answered is harmless.
//
// Every request it handles is counted in redismw.middleware.requests, as
// admitted (with a client) or rejected; every request answered as
// unavailable, or passed on without a client when failing open, also in
// redismw.middleware.rejections by reason (circuit_open, connect_failed,
// wait_budget, deadline, closed, overload); see [WithMeterProvider]. Counting an
// admitted request is one atomic add, observed at each collection.
//
// The middleware never mutates the request: it passes a copy with the new
// context. Mistakes in setting it up (a nil c) panic.
func Middleware(c *connector.Connector, opts ...Option) func(http.Handler) http.Handler {
	if c == nil {
		panic("redismw: Middleware: nil *connector.Connector")
	}
	cfg := newConfig(opts)
	tel := instrument.NewMiddleware(cfg.meter, c.Name())
	var ready atomic.Pointer[scope] // the scope of the ready client
	readyScope := func(rdb redis.UniversalClient) *scope {
		if s := ready.Load(); s != nil && s.client == rdb {
			return s
		}
		s := &scope{client: rdb, conn: c, tel: tel}
		ready.Store(s)
		return s
	}
	// Requests answered as unavailable, or passed on without a client,
	// are counted here; they carry a scope that says so, and
	// WriteUnavailable does not count the same request again.
	counted := &scope{conn: c, tel: tel, counted: true}
	return func(next http.Handler) http.Handler {
		if next == nil {
			panic("redismw: Middleware: nil next handler")
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if cfg.skip != nil && cfg.skip(r) {
				next.ServeHTTP(w, r)
				return
			}
			if rdb, ok := c.Ready(); ok {
				if err := c.Admit(r.Context()); err != nil {
					// Redis is overloaded and this request would be
					// shed: refused before its handler runs.
					tel.Refuse(r.Context(), telemetry.ReasonOverload)
					if cfg.failOpen {
						next.ServeHTTP(w, withScope(r, counted))
					} else {
						cfg.onError(w, withScope(r, counted), err)
					}
					return
				}
				tel.Admit()
				next.ServeHTTP(w, withScope(r, readyScope(rdb)))
				return
			}
			rdb, err := wait(r.Context(), c, cfg.waitBudget)
			switch {
			case err == nil:
				tel.Admit()
				next.ServeHTTP(w, withScope(r, readyScope(rdb)))
			case errors.Is(r.Context().Err(), context.Canceled):
				// The request was cancelled: its client is gone, or the
				// canceller owns the answer. Write nothing.
			case r.Context().Err() != nil:
				// The request's deadline ended while it waited: it gets
				// the unavailable answer, never an empty 200.
				tel.Refuse(r.Context(), telemetry.ReasonDeadline)
				cfg.onError(w, withScope(r, counted), &connector.UnavailableError{Err: err})
			default:
				tel.Refuse(r.Context(), reason(err, telemetry.ReasonConnectFailed))
				if cfg.failOpen {
					next.ServeHTTP(w, withScope(r, counted))
				} else {
					cfg.onError(w, withScope(r, counted), err)
				}
			}
		})
	}
}

// wait gets a client from c, waiting at most budget for a connect in
// progress.
func wait(ctx context.Context, c *connector.Connector, budget time.Duration) (rdb redis.UniversalClient, err error) {
	bctx, cancel := context.WithTimeoutCause(ctx, budget, ErrWaitBudget)
	defer cancel()
	defer func() {
		// A panic in the connect (user code in OnNewClient, say) is
		// re-raised in every caller waiting on it; the connector has
		// logged it once. A request still gets the answer for an
		// unavailable Redis: the 503, or the handler without a client.
		if v := recover(); v != nil {
			perr, ok := v.(error)
			if !ok {
				perr = fmt.Errorf("%v", v)
			}
			rdb, err = nil, &connector.UnavailableError{Err: perr}
		}
	}()
	rdb, err = c.Client(bctx)
	if err != nil && errors.Is(context.Cause(bctx), ErrWaitBudget) && ctx.Err() == nil {
		// Client left on bctx's end, and the request's own context is
		// alive: the budget ran out.
		return nil, &connector.UnavailableError{Err: ErrWaitBudget}
	}
	return rdb, err
}

// reason names why Redis is unavailable to a request, for the rejections
// metric: the circuit, Close or the wait budget (their outcomes, see
// instrument.Outcome), a command that found no free connection in its
// pool (pool_timeout: the service's concurrency, not Redis), or otherwise.
func reason(err error, otherwise string) string {
	switch o := instrument.Outcome(err); o {
	case telemetry.ReasonClosed, telemetry.ReasonWaitBudget, telemetry.ReasonCircuitOpen, telemetry.ReasonOverload:
		return o
	}
	if errkind.Of(err) == errkind.PoolTimeout {
		return telemetry.ReasonPoolTimeout
	}
	return otherwise
}
