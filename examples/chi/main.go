// Command chi shows redismw on a chi router, used per route: only the
// routes that need Redis are wrapped, so static files and the probes never
// wait for it.
//
//	go run ./examples/chi   # embedded miniredis unless REDIS_URL is set
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/examples/internal/demo"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()
	cfg, source, cleanup, err := demo.RedisConfig()
	if err != nil {
		log.Fatal(err)
	}
	defer cleanup()
	c, err := connector.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = c.Close() }()

	srv := &http.Server{Addr: *addr, Handler: newRouter(c), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Printf("redismw chi example: listening on http://%s (Redis: %s)\n", *addr, source)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// newRouter wires the routes: the Redis middleware wraps only the group of
// routes that use Redis.
func newRouter(c *connector.Connector) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Get("/livez", demo.Live)
	r.Method(http.MethodGet, "/healthz", redismw.HealthHandler(c))
	r.Get("/static/*", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "static file %s\n", chi.URLParam(r, "*"))
	})
	r.Group(func(r chi.Router) {
		r.Use(redismw.Middleware(c))
		r.Get("/visits", demo.Visits(false))
	})
	return r
}
