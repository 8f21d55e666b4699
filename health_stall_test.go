package redismw_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// stallScript keeps a real Redis busy for ARGV[1] microseconds: every
// other client waits, none is refused (busy-reply-threshold is 5 s).
const stallScript = `local s = redis.call('TIME') local start = s[1] * 1000000 + s[2]
while true do local n = redis.call('TIME') if n[1] * 1000000 + n[2] - start > tonumber(ARGV[1]) then return 1 end end`

// TestHealthDuringAStall pins the documented decision on readiness
// (docs/operating.md, "Readiness during a stall"): a 2 s stall of a real
// Redis — a slow script — is ridden out by the connector (the circuit
// stays closed, redismw.unusable stays 0, commands wait and succeed), but
// readiness with the default probe timeout (1 s) answers 503 while it
// lasts: it asks "does a PING come back within the probe timeout", not
// "is the circuit closed". With WithProbeTimeout above the stall (as
// above read_timeout), readiness rides it out too.
func TestHealthDuringAStall(t *testing.T) {
	srv := redistest.Start(t)
	c, err := connector.New(connector.Config{URL: srv.URL() + "?read_timeout=3s", Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	stall := func() <-chan error {
		done := make(chan error, 1)
		stalled := redis.NewClient(&redis.Options{Addr: srv.Addr, ReadTimeout: 10 * time.Second})
		go func() {
			defer func() { _ = stalled.Close() }()
			done <- stalled.Eval(t.Context(), stallScript, nil, (2 * time.Second).Microseconds()).Err()
		}()
		// Wait until the script runs: a PING of a client of the test's
		// own (not the connector's) then gets no answer within 50ms.
		probe := redis.NewClient(&redis.Options{Addr: srv.Addr, ReadTimeout: 50 * time.Millisecond, MaxRetries: -1})
		defer func() { _ = probe.Close() }()
		for start := time.Now(); probe.Ping(t.Context()).Err() == nil; {
			if time.Since(start) > 10*time.Second {
				t.Fatal("the script did not start within 10s")
			}
		}
		return done
	}
	for _, tt := range []struct {
		name string
		opts []redismw.HealthOption
		want int
	}{
		{"default probe timeout (1s)", nil, http.StatusServiceUnavailable},
		{"WithProbeTimeout(4s)", []redismw.HealthOption{redismw.WithProbeTimeout(4 * time.Second)}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := redismw.HealthHandler(c, tt.opts...)
			done := stall()
			// The script has just begun: the health probe's PING waits for
			// the rest of it (more than a second of 2).
			rec := get(t, h, "/healthz")
			if err := <-done; err != nil {
				t.Fatalf("the script: %v", err)
			}
			if rec.Code != tt.want {
				t.Errorf("/healthz during a 2 s stall: %d %s, want %d", rec.Code, rec.Body, tt.want)
			}
			// The connector rode it out either way.
			if err := rdb.Incr(t.Context(), "after").Err(); err != nil {
				t.Errorf("a command after the stall: %v", err)
			}
			if s := c.Stats(); s.Circuit != breaker.Closed || s.Failures != 0 {
				t.Errorf("after the stall: circuit %v, %d failures; want closed, none", s.Circuit, s.Failures)
			}
		})
	}
}
