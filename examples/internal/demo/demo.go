// Package demo holds the plumbing the examples share, none of it about
// redismw: where Redis comes from, flags, and serving with a graceful
// shutdown. Each example's handlers are in its own main.go.
package demo

import (
	"context"
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
