// Command jaeger is the basic example with tracing: every request is a
// server span (otelhttp), every Redis command a client span (go-redis'
// extra/redisotel), and every shared connect a redis.connect span under the
// request that started it. Traces go by OTLP/HTTP to
// OTEL_EXPORTER_OTLP_ENDPOINT (default http://127.0.0.1:4318), where a
// Jaeger all-in-one listens: see docker-compose.yml and docs/telemetry.md
// ("In Jaeger").
//
//	go run ./examples/jaeger -addr 127.0.0.1:8080
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/examples/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "jaeger:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("jaeger", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "localhost:8080", "address to listen on")
	if ok, err := demo.ParseFlags(fs, args); !ok {
		return err
	}

	tp, err := tracerProvider(ctx)
	if err != nil {
		return err
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(flush) // sends the last spans
	}()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})

	cfg, source, cleanup, err := demo.RedisConfig()
	if err != nil {
		return err
	}
	defer cleanup()
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	cfg.OnNewClient = func(rdb redis.UniversalClient) error {
		// No db.statement: the connection handshake (HELLO … AUTH user
		// password) goes through the hooks too, and would put the
		// password into a span.
		return redisotel.InstrumentTracing(rdb, redisotel.WithDBStatement(false))
	}
	c, err := connector.New(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /visits", visits)
	mux.Handle("GET /readyz", redismw.HealthHandler(c))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, "ok") })
	handler := redismw.Middleware(c, redismw.WithSkip(func(r *http.Request) bool {
		return r.URL.Path == "/readyz" || r.URL.Path == "/livez"
	}))(mux)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	note := fmt.Sprintf("Redis: %s; traces to %s", source, endpoint())
	return demo.Serve(ctx, ln, otelhttp.NewHandler(handler, "http.server"), stdout, "redismw jaeger example", note)
}

// visits counts a visit in Redis and answers {"visits":n}, or the
// middleware's 503 when the INCR fails. Fail-closed: the middleware put a
// client in the request, or answered 503 itself.
func visits(w http.ResponseWriter, r *http.Request) {
	rdb, _ := redismw.FromContext(r.Context())
	n, err := rdb.Incr(r.Context(), "visits").Result()
	if err != nil {
		redismw.WriteUnavailable(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, "{\"visits\":%d}\n", n)
}

// endpoint is where traces go, for the banner: the exporter reads the
// standard variables itself (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, then
// OTEL_EXPORTER_OTLP_ENDPOINT); without them, a local Jaeger.
func endpoint() string {
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if e := os.Getenv(v); e != "" {
			return e
		}
	}
	return "http://127.0.0.1:4318"
}

// tracerProvider exports spans by OTLP/HTTP, configured by the standard
// OTEL_EXPORTER_OTLP_* variables (a local Jaeger on 127.0.0.1:4318 when
// no endpoint is set); the service is named by OTEL_SERVICE_NAME, or
// "redismw-example".
func tracerProvider(ctx context.Context) (*sdktrace.TracerProvider, error) {
	var opts []otlptracehttp.Option
	if os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		opts = append(opts, otlptracehttp.WithEndpoint("127.0.0.1:4318"), otlptracehttp.WithInsecure())
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, err
	}
	name := os.Getenv("OTEL_SERVICE_NAME")
	if name == "" {
		name = "redismw-example"
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(name)))
	if err != nil {
		return nil, err
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(500*time.Millisecond)),
		sdktrace.WithResource(res),
	), nil
}
