package connector

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCheckErrorText: a check that met a refused connection says so, and
// not that Redis "did not answer within read_timeout" (nothing timed out);
// only a check that timed out names read_timeout.
func TestCheckErrorText(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	timedOut := fmt.Errorf("i/o: %w", context.DeadlineExceeded)
	for _, tt := range []struct {
		name      string
		err       error
		want      []string
		forbidden []string
	}{
		{"refused", refused, []string{"failed the connector's check", "connection refused"}, []string{"read_timeout", "did not answer", "timed out"}},
		{"timeout", timedOut, []string{"did not answer", "within read_timeout (5s)", "deadline exceeded"}, []string{"failed the"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := (&checkError{timeout: 5 * time.Second, err: tt.err}).Error()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, f := range tt.forbidden {
				if strings.Contains(got, f) {
					t.Errorf("%q says %q", got, f)
				}
			}
		})
	}
}
