package redismw

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
)

// TestHealthSharedProbe: requests that come while a probe is under way
// share it — one that can wait gets its result, one whose deadline ends
// first gets 503 down at its deadline, not when the probe ends.
func TestHealthSharedProbe(t *testing.T) {
	mr := miniredis.RunT(t)
	proxy := faultproxy.New(t, mr.Addr())
	c, err := connector.New(connector.Config{URL: proxy.URL(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Client(t.Context()); err != nil {
		t.Fatal(err)
	}
	base := mr.CommandCount()         // the connect's
	proxy.SetLatency(2 * time.Second) // a slow Redis: every reply takes two seconds
	h := HealthHandler(c, WithProbeTimeout(30*time.Second)).(*health)
	probing := func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.probing != nil
	}
	serve := func(ctx context.Context) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/readyz", nil))
		return rec.Code
	}

	first := make(chan int, 1)
	go func() { first <- serve(t.Context()) }()
	for deadline := time.Now().Add(10 * time.Second); !probing(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first request started no probe")
		}
	}
	second := make(chan int, 1)
	go func() { second <- serve(t.Context()) }() // joins the probe under way

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !probing() {
		t.Errorf("a request whose deadline ended during the probe: %d, probe under way %v; want 503 before the probe ends", rec.Code, probing())
	}
	if !strings.Contains(rec.Body.String(), `"reason":"deadline"`) {
		t.Errorf("a request whose deadline ended during the probe: %s, want the reason deadline", rec.Body)
	}
	if a, b := <-first, <-second; a != http.StatusOK || b != http.StatusOK {
		t.Errorf("the probe's requests: %d and %d, want 200 (Redis is slow, not down)", a, b)
	}
	if n := mr.CommandCount() - base; n != 1 {
		t.Errorf("%d commands at Redis for three requests, want one: the probe's PING, shared", n)
	}
}
