package connector_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
)

// New validates the configuration and never dials; Client connects on
// first use, once for all its concurrent callers, and then returns the
// same ready client.
func ExampleNew() {
	mr := miniredis.NewMiniRedis() // an in-process Redis stands in for yours
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()

	c, err := connector.New(connector.Config{
		URL:    "redis://" + mr.Addr() + "/0",
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err) // a bad URL, named in the error, without its password
	}
	defer func() { _ = c.Close() }()
	fmt.Println("before the first call:", c.State())

	ctx := context.Background()
	rdb, err := c.Client(ctx)
	if errors.Is(err, connector.ErrUnavailable) {
		fmt.Println("Redis is unavailable; retry later")
		return
	}
	fmt.Println(rdb.Incr(ctx, "n").Val(), c.State())
	// Output:
	// before the first call: idle
	// 1 ready
}

// New's errors name what is wrong and never contain the password.
func ExampleNew_badURL() {
	_, err := connector.New(connector.Config{URL: "redis://app:s3cret@localhost:6379/not-a-db"})
	fmt.Println(err)
	// Output: redismw: connector.Config.URL: redis: invalid database number (details withheld: the URL carries credentials)
}

// ConfigFromEnv reads REDIS_URL and the documented REDIS_* knobs; unset
// ones select the defaults.
func ExampleConfigFromEnv() {
	for k, v := range map[string]string{
		"REDIS_URL":             "redis://localhost:6379/0\n", // a mounted secret's trailing newline is trimmed
		"REDIS_ATTEMPT_TIMEOUT": "500ms",
	} {
		if err := os.Setenv(k, v); err != nil {
			panic(err)
		}
		defer func() { _ = os.Unsetenv(k) }()
	}

	cfg, err := connector.ConfigFromEnv()
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q %v %d\n", cfg.URL, cfg.AttemptTimeout, cfg.MaxAttempts)
	// Output: "redis://localhost:6379/0" 500ms 0
}

// The circuit's settings: the zero value is ready to use; here, a fixed
// open period of 2s, and a callback on every transition.
func ExampleConfig_breaker() {
	transitions := make(chan string, 10)
	c, err := connector.New(connector.Config{
		URL:         "redis://127.0.0.1:1", // nothing listens there
		MaxAttempts: 1,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Breaker: breaker.Settings{
			Name:             "sessions",
			FailureThreshold: 1,               // open at the first failure
			BaseTimeout:      2 * time.Second, // equal to Timeout: a fixed open period
			Timeout:          2 * time.Second,
			OnStateChange: func(name string, from, to breaker.State) {
				transitions <- fmt.Sprint(name, " ", from, " → ", to) // called in order, on a goroutine of its own
			},
		},
	})
	if err != nil {
		panic(err)
	}
	_, err = c.Client(context.Background())
	var ue *connector.UnavailableError
	fmt.Println(errors.As(err, &ue), ue.RetryAfter > time.Second)
	_ = c.Close() // runs the callbacks still queued
	close(transitions)
	for t := range transitions {
		fmt.Println(t)
	}
	// Output:
	// true true
	// sessions closed → open
}
