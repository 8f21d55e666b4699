// Package testmain is the TestMain of every package of this module: it
// silences go-redis' own logger (failed dials are expected in these tests)
// and fails the run if a goroutine outlives the tests.
package testmain

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// silent drops go-redis' log lines.
type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}

// Run runs the tests of m with go-redis silenced, then checks for leaked
// goroutines; it exits the process.
func Run(m *testing.M, opts ...goleak.Option) {
	redis.SetLogger(silent{})
	goleak.VerifyTestMain(m, opts...)
}

// Eventually polls cond every 2ms until it holds, and fails t if it still
// does not after timeout: for states reached in the background (a probe,
// a check, a connect going on after its first failure).
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
