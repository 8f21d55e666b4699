package connector_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
)

// quiet is the logger of every test connector.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newConnector returns a connector to url with test-friendly timings,
// changed by mod, closed when the test ends.
func newConnector(t *testing.T, url string, mod func(*connector.Config)) *connector.Connector {
	t.Helper()
	cfg := connector.Config{
		URL:            url,
		AttemptTimeout: 500 * time.Millisecond,
		MaxAttempts:    3,
		Backoff:        func(int) time.Duration { return 10 * time.Millisecond },
		Breaker:        breaker.Settings{Timeout: 400 * time.Millisecond, DisableJitter: true},
		Logger:         quiet,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := connector.New(cfg)
	if err != nil {
		t.Fatalf("connector.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func itoa(n int) string { return strconv.Itoa(n) }

// goexit ends the calling goroutine, as a misbehaving callback might.
func goexit() { runtime.Goexit() }

// slogPanicking returns a logger whose every line panics.
func slogPanicking() *slog.Logger { return slog.New(panicHandler{}) }

type panicHandler struct{}

func (panicHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (panicHandler) Handle(context.Context, slog.Record) error { panic("logger bug") }
func (h panicHandler) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h panicHandler) WithGroup(string) slog.Handler           { return h }

// watch makes cfg's OnStateChange send every state the circuit moves to
// on the channel it returns (buffered; a move that finds it full is
// dropped, and await, missing it, fails loudly).
func watch(cfg *connector.Config) <-chan breaker.State {
	ch := make(chan breaker.State, 64)
	cfg.Breaker.OnStateChange = func(_ string, _, to breaker.State) {
		select {
		case ch <- to:
		default:
		}
	}
	return ch
}

// await waits for the circuit's move to want, as watch reports it, passing
// over the moves before it; it fails t after a generous 15s.
func await(t *testing.T, moves <-chan breaker.State, want breaker.State) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case to := <-moves:
			if to == want {
				return
			}
		case <-timeout:
			t.Fatalf("the circuit did not move to %v within 15s", want)
		}
	}
}

// settle waits until the connector's connect under way, if any, has ended:
// callers get its first attempt's failure, the rest goes on in the
// background.
func settle(t *testing.T, c *connector.Connector) {
	t.Helper()
	eventually(t, 10*time.Second, "the connect ending", func() bool { return !connector.InFlight(c) })
}
