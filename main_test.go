package redismw_test

import (
	"testing"
	"time"

	"github.com/ankitoon/redismw/internal/testmain"
)

func TestMain(m *testing.M) { testmain.Run(m) }

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
