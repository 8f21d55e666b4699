// Command basic is the runnable example of redismw: an HTTP server whose
// handlers get a ready Redis client from the middleware.
//
//	go run ./examples/basic                     # embedded in-process Redis (miniredis)
//	REDIS_URL=redis://localhost:6379/0 go run ./examples/basic
//
// Routes: GET /visits counts visits in Redis and answers {"visits": n};
// GET /healthz is readiness (Redis answers); GET /livez is liveness (always
// 200); GET /metrics is redismw's metrics in the Prometheus text format. While Redis is unavailable /visits answers 503 with Retry-After, or,
// with -fail-open, 200 {"visits": null, "degraded": true}. Ctrl-C shuts the
// server down gracefully.
package main

import (
	"context"
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

	mux := http.NewServeMux()
	mux.HandleFunc("GET /visits", demo.Visits(*failOpen))
	mux.Handle("GET /healthz", redismw.HealthHandler(c))
	mux.HandleFunc("GET /livez", demo.Live)
	mux.Handle("GET /metrics", metrics)
	opts := []redismw.Option{
		redismw.WithMeterProvider(mp),
		redismw.WithSkip(func(r *http.Request) bool {
			return r.URL.Path == "/healthz" || r.URL.Path == "/livez" || r.URL.Path == "/metrics"
		}),
	}
	mode := "fail-closed"
	if *failOpen {
		opts = append(opts, redismw.WithFailOpen())
		mode = "fail-open"
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	note := fmt.Sprintf("Redis: %s; %s", source, mode)
	if err := demo.Serve(ctx, ln, redismw.Middleware(c, opts...)(mux), stdout, "redismw example", note); err != nil {
		return err
	}
	return c.Close()
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
