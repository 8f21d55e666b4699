// Package testmain is the TestMain of every package of this module: it
// silences go-redis' own logger (failed dials are expected in these tests)
// and fails the run if a goroutine outlives the tests.
package testmain

import (
	"context"
	"testing"

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
