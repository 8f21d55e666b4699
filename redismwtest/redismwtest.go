// Package redismwtest helps you test your own handlers that use redismw:
// a connector backed by an in-process miniredis in one call, and a way to
// put a given client into a request.
//
//	func TestVisits(t *testing.T) {
//		c, mr := redismwtest.NewConnector(t)
//		h := redismw.Middleware(c)(visitsHandler)
//		rec := httptest.NewRecorder()
//		h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), "GET", "/visits", nil))
//		// assert on rec, and on mr (mr.Get("visits"), mr.SetError(…) to simulate failures)
//	}
package redismwtest

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
)

// NewConnector starts a miniredis server and returns a connector to it,
// with the server for assertions and fault injection (SetError, Close …).
// Both are closed when the test ends. The connector uses short timeouts
// (AttemptTimeout 1s, one attempt, a circuit open for 1s without jitter)
// so that failure tests stay fast, and logs nothing. mod, if any, changes
// the Config before the connector is made.
func NewConnector(t testing.TB, mod ...func(*connector.Config)) (*connector.Connector, *miniredis.Miniredis) {
	t.Helper()
	mr := miniredis.RunT(t)
	cfg := connector.Config{
		URL:            "redis://" + mr.Addr(),
		AttemptTimeout: time.Second,
		MaxAttempts:    1,
		Breaker:        breaker.Settings{Timeout: time.Second, DisableJitter: true},
		Logger:         slog.New(slog.DiscardHandler),
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := connector.New(cfg)
	if err != nil {
		t.Fatalf("redismwtest: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, mr
}

// WithClient returns a shallow copy of r whose context carries rdb, as the
// middleware would give it to a handler: redismw.FromContext returns rdb.
func WithClient(r *http.Request, rdb redis.UniversalClient) *http.Request {
	return r.WithContext(redismw.NewContext(r.Context(), rdb))
}
