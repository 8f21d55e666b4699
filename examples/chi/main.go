// Command chi shows redismw on a chi router, used per route: only the
// routes that need Redis are wrapped, so static files and the probes never
// wait for it.
//
//	go run ./examples/chi   # embedded miniredis unless REDIS_URL is set
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/examples/internal/demo"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		log.Fatal(err) // after run's deferred calls: the connector is closed
	}
}

// run serves until SIGINT or SIGTERM, then shuts down gracefully: the
// server stops accepting, in-flight requests finish, then the connector
// closes.
func run(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, source, cleanup, err := demo.RedisConfig()
	if err != nil {
		return err
	}
	defer cleanup()
	c, err := connector.New(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if err := demo.Serve(ctx, ln, newRouter(c), os.Stdout, "redismw chi example", "Redis: "+source); err != nil {
		return err
	}
	return c.Close()
}

// newRouter wires the routes: the Redis middleware wraps only the group of
// routes that use Redis.
func newRouter(c *connector.Connector) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Get("/livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, "ok") }) // liveness never depends on Redis
	r.Method(http.MethodGet, "/readyz", redismw.HealthHandler(c))                                  // readiness
	r.Get("/static/*", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "static file %s\n", chi.URLParam(r, "*"))
	})
	r.Group(func(r chi.Router) {
		r.Use(redismw.Middleware(c))
		r.Get("/visits", visits)
	})
	return r
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
