package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ankitoon/redismw/internal/testkit/testmain"

	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/redismwtest"
)

func TestMain(m *testing.M) { testmain.Run(m) }

func serve(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
	return rec
}

func TestPerRouteMiddleware(t *testing.T) {
	c, _ := redismwtest.NewConnector(t)
	h := newRouter(c)
	if rec := serve(t, h, "/visits"); rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"visits":1}` {
		t.Fatalf("/visits: %d %s", rec.Code, rec.Body)
	}

	// A second service whose Redis is gone before its first request.
	c, mr := redismwtest.NewConnector(t, func(cfg *connector.Config) { cfg.Breaker.FailureThreshold = 1 })
	mr.Close()
	h = newRouter(c)
	if rec := serve(t, h, "/visits"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/visits with Redis down: %d, want 503", rec.Code)
	}
	for _, path := range []string{"/livez", "/static/app.css"} {
		start := time.Now()
		if rec := serve(t, h, path); rec.Code != 200 || time.Since(start) > 100*time.Millisecond {
			t.Errorf("%s with Redis down: %d after %v; unwrapped routes must answer at once", path, rec.Code, time.Since(start))
		}
	}
	if rec := serve(t, h, "/readyz"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis down: %d, want 503", rec.Code)
	}
}
