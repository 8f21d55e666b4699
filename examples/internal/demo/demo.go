// Package demo holds what the examples share: where Redis comes from, the
// /visits handler, and serving with a graceful shutdown.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/connector"
)

// RedisConfig returns the connector configuration from REDIS_URL, or one for
// an embedded miniredis when REDIS_URL is unset; a description of the
// source that carries no password; and a cleanup function.
func RedisConfig() (connector.Config, string, func(), error) {
	if os.Getenv(connector.EnvURL) != "" {
		cfg, err := connector.ConfigFromEnv()
		if err != nil {
			return cfg, "", nil, err
		}
		u, _ := url.Parse(cfg.URL) // ConfigFromEnv has parsed it
		return cfg, "REDIS_URL " + u.Redacted(), func() {}, nil
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return connector.Config{}, "", nil, fmt.Errorf("start embedded Redis: %w", err)
	}
	cfg := connector.Config{URL: "redis://" + mr.Addr()}
	return cfg, "embedded miniredis at " + mr.Addr() + ", REDIS_URL is unset", mr.Close, nil
}

// Visits counts a visit and answers {"visits": n}. Without a client
// (failing open) or when the INCR fails while failOpen, it answers
// {"visits": null, "degraded": true}; when the INCR fails otherwise, the
// middleware's 503.
func Visits(failOpen bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var n *int64
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

// Live is a liveness handler: it answers 200 whatever Redis does.
func Live(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// Serve serves h on ln until ctx ends, then shuts down gracefully: the
// server stops accepting, in-flight requests finish (at most 10s), and
// Serve returns. It prints "<name>: listening on http://addr (note)" first
// and "<name>: shutting down" at the end.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, stdout io.Writer, name, note string) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	_, _ = fmt.Fprintf(stdout, "%s: listening on http://%s (%s)\n", name, ln.Addr(), note)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	_, _ = fmt.Fprintf(stdout, "%s: shutting down\n", name)
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ParseFlags parses args into fs and reports whether the program goes on:
// not after -h (the usage is printed; asking for it is no failure, err is
// nil), nor after a bad flag (err).
func ParseFlags(fs *flag.FlagSet, args []string) (bool, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
