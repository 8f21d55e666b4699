// Command basic is the runnable example of redismw: an HTTP server whose
// handler gets a ready Redis client from the middleware. It is the
// README's Quick start, plus metrics and a fail-open switch.
//
//	go run ./examples/basic                     # embedded in-process Redis (miniredis)
//	REDIS_URL=redis://localhost:6379/0 go run ./examples/basic
//
// Routes (on -addr, default localhost:8080):
//
//	GET /visits   counts a visit in Redis (the handler visits, below): 200 {"visits":n};
//	              while Redis is unavailable 503 with Retry-After, or with -fail-open
//	              200 {"visits":null,"degraded":true}
//	GET /readyz   readiness (redismw.HealthHandler): 200 {"status":"up",…} when Redis
//	              answers, 503 {"status":"down","reason":…} otherwise
//	GET /livez    liveness: 200 whatever Redis does
//	GET /metrics  redismw's metrics, and the Go runtime's, in the Prometheus text format
//
// Ctrl-C or SIGTERM shuts down gracefully: the server stops accepting,
// in-flight requests finish, then the connector closes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/examples/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "basic:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("basic", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "localhost:8080", "address to listen on")
	failOpen := fs.Bool("fail-open", false, "serve /visits without Redis (degraded) instead of answering 503")
	if ok, err := demo.ParseFlags(fs, args); !ok {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	cfg, source, cleanup, err := demo.RedisConfig()
	if err != nil {
		return err
	}
	defer cleanup()
	cfg.Logger = logger
	metrics, mp, err := prometheusMetrics()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, mp.Shutdown(context.Background())) }()
	defer recordCommands(mp)() // command latency and pool waits (metrics.go)
	cfg.MeterProvider = mp
	c, err := connector.New(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	opts := []redismw.Option{redismw.WithMeterProvider(mp)}
	mode := "fail-closed"
	if *failOpen {
		opts = append(opts, redismw.WithFailOpen())
		mode = "fail-open"
	}
	app := http.NewServeMux() // the routes that use Redis: behind the middleware
	app.HandleFunc("GET /visits", visits(*failOpen))

	mux := http.NewServeMux()
	mux.Handle("GET /readyz", redismw.HealthHandler(c)) // readiness: outside the middleware
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "ok") // liveness never depends on Redis
	})
	mux.Handle("GET /metrics", metrics)
	mux.Handle("/", redismw.Middleware(c, opts...)(app))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	note := fmt.Sprintf("Redis: %s; %s", source, mode)
	if err := demo.Serve(ctx, ln, mux, stdout, "redismw example", note); err != nil {
		return err
	}
	return c.Close() // after the in-flight requests: its client, probes and goroutines
}

// visits counts a visit in Redis and answers {"visits":n}. The client
// comes from the middleware; FromContext reports none only when failing
// open while Redis is unavailable. A failed INCR gets the middleware's 503
// (WriteUnavailable), or, failing open, the degraded answer. The INCR is
// not idempotent: a 503 after a timeout may mean it was applied (see the
// README's "Handling errors in handlers").
func visits(failOpen bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var n *int64 // nil: degraded, no count
		if rdb, ok := redismw.FromContext(r.Context()); ok {
			v, err := rdb.Incr(r.Context(), "visits").Result()
			switch {
			case err == nil:
				n = &v
			case !failOpen:
				redismw.WriteUnavailable(w, r, err)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Visits   *int64 `json:"visits"`
			Degraded bool   `json:"degraded,omitempty"`
		}{n, n == nil})
	}
}

// prometheusMetrics returns a /metrics handler in the Prometheus text
// format, fed by an OpenTelemetry meter provider through the OTel
// Prometheus exporter.
func prometheusMetrics() (http.Handler, *sdkmetric.MeterProvider, error) {
	reg := prometheus.NewRegistry()
	// The Go runtime's and the process's metrics, next to the library's.
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, err
	}
	// service.name: OTEL_SERVICE_NAME, or "redismw-basic" (target_info).
	name := os.Getenv("OTEL_SERVICE_NAME")
	if name == "" {
		name = "redismw-basic"
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(name)))
	if err != nil {
		return nil, nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), mp, nil
}
