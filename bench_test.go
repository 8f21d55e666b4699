package redismw_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/oteltest"
)

// readyConnector returns a connected connector to an in-process miniredis.
func readyConnector(b *testing.B) *connector.Connector {
	b.Helper()
	mr := miniredis.RunT(b)
	c, err := connector.New(connector.Config{URL: "redis://" + mr.Addr(), Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	if _, err := c.Client(b.Context()); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkClientReady: Connector.Client on a ready connector, from every
// core at once. Target ≤ 5 ns/op, 0 allocs/op.
func BenchmarkClientReady(b *testing.B) {
	c := readyConnector(b)
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Client(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// sink is a ResponseWriter that keeps nothing, so that the benchmarks
// measure the middleware rather than a recorder.
type sink struct{ h http.Header }

func (s *sink) Header() http.Header         { return s.h }
func (s *sink) Write(p []byte) (int, error) { return len(p), nil }
func (s *sink) WriteHeader(int)             {}

type benchKey struct{}

// bare is the least a middleware could do to hand rdb on: one
// context.WithValue and one r.WithContext, with next behind an interface as
// in any real chain.
func bare(rdb any) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), benchKey{}, rdb)))
		})
	}
}

// BenchmarkMiddleware compares the middleware with the least a handler
// could do to hand a client on (bare: r.WithContext(context.WithValue(…))),
// on a ready connector without and with an OpenTelemetry SDK installed,
// and the 503 path of an open circuit. Target: ready ≤ 1.1 × bare, ≤ 2
// allocs/op.
func BenchmarkMiddleware(b *testing.B) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	run := func(b *testing.B, h http.Handler) {
		w := &sink{h: http.Header{}}
		r := httptest.NewRequestWithContext(b.Context(), http.MethodGet, "/visits", nil)
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
	}
	b.Run("bare", func(b *testing.B) {
		rdb, _ := readyConnector(b).Client(b.Context())
		run(b, bare(rdb)(next))
	})
	b.Run("ready", func(b *testing.B) {
		run(b, redismw.Middleware(readyConnector(b))(next))
	})
	b.Run("ready-telemetry", func(b *testing.B) {
		p := oteltest.New(b)
		mr := miniredis.RunT(b)
		c, err := connector.New(connector.Config{
			URL: "redis://" + mr.Addr(), Logger: discard,
			TracerProvider: p.Tracer, MeterProvider: p.Meter,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		if _, err := c.Client(b.Context()); err != nil {
			b.Fatal(err)
		}
		run(b, redismw.Middleware(c, redismw.WithMeterProvider(p.Meter))(next))
	})
	b.Run("open", func(b *testing.B) {
		c, err := connector.New(connector.Config{
			URL: "redis://127.0.0.1:1", MaxAttempts: 1, Logger: discard,
			Breaker: breaker.Settings{FailureThreshold: 1},
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		_, _ = c.Client(b.Context()) // nothing listens: the circuit opens
		run(b, redismw.Middleware(c)(next))
	})
}

// strategy is a handler to measure, by name.
type strategy struct {
	name string
	h    http.Handler
	c    *connector.Connector // redismw's; nil for plain
}

// sideBySide returns the handler that handler makes twice: "plain", with a
// shared go-redis client to srv, and "redismw", behind the middleware of a
// connector to srv (defaults everywhere) with the client from the context.
func sideBySide(b *testing.B, srv *benchRedis, handler func(rdb func(*http.Request) redis.UniversalClient) http.Handler) []strategy {
	b.Helper()
	plain := redis.NewClient(&redis.Options{Addr: srv.Addr})
	b.Cleanup(func() { _ = plain.Close() })
	c, err := connector.New(connector.Config{URL: "redis://" + srv.Addr, Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return []strategy{
		{"plain", handler(func(*http.Request) redis.UniversalClient { return plain }), nil},
		{"redismw", redismw.Middleware(c)(handler(func(r *http.Request) redis.UniversalClient {
			rdb, _ := redismw.FromContext(r.Context())
			return rdb
		})), c},
	}
}

// BenchmarkServe: an INCR handler served over real HTTP on loopback,
// against a real redis-server (miniredis without one), from every core:
// plain is a handler with a shared go-redis client, redismw the same
// handler behind the middleware with the client from the context. Target:
// redismw's throughput ≥ 0.95 × plain's. Reported: req/s.
func BenchmarkServe(b *testing.B) {
	srv := startBenchRedis(b)
	incr := func(rdb func(*http.Request) redis.UniversalClient) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := rdb(r).Incr(r.Context(), "serve").Result()
			if err != nil {
				redismw.WriteUnavailable(w, r, err)
				return
			}
			_, _ = w.Write(strconv.AppendInt(nil, n, 10))
		})
	}
	handlers := sideBySide(b, srv, incr)
	for _, hh := range handlers {
		b.Run(hh.name, func(b *testing.B) {
			ts := httptest.NewServer(hh.h)
			defer ts.Close()
			client := ts.Client()
			client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
			b.ReportAllocs()
			b.SetParallelism(8)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(ts.URL)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
