package connector

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// TestJudge: what a connect attempt's readiness PING says, every case of
// judge, and that a failure always comes with an error (an answer that
// came as the attempt's deadline passed once reached the connector as a
// Failure with a nil error).
func TestJudge(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tt := range []struct {
		name    string
		err     error
		expired time.Duration
		closing bool
		want    breaker.Outcome
		wantErr error // matched with errors.Is; nil: the error must be nil
	}{
		{"answered", nil, 0, false, breaker.Success, nil},
		{"NOPERM for PING itself", redistest.Reply("NOPERM User app has no permissions to run the 'ping' command"), 0, false, breaker.Success, nil},
		{"answered as the deadline passed", nil, time.Second, false, breaker.Failure, context.DeadlineExceeded},
		{"timed out", context.DeadlineExceeded, 0, false, breaker.Failure, context.DeadlineExceeded},
		{"refused", refused, 0, false, breaker.Failure, syscall.ECONNREFUSED},
		{"Close cut it short", refused, 0, true, breaker.Ignored, syscall.ECONNREFUSED},
		{"NOPERM for SELECT", redistest.Reply("NOPERM User app has no permissions to run the 'select' command"), 0, false, breaker.Fatal, nil},
		{"WRONGPASS", redistest.Reply("WRONGPASS invalid username-password pair"), 0, false, breaker.Fatal, nil},
		{"a plain server's reply to TLS", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, 0, false, breaker.Fatal, errPlainServer},
		{"a hook's error", errors.New("instrumentation unavailable"), 0, false, breaker.Ignored, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o, err := judge(tt.err, tt.expired, tt.closing, nil)
			if o != tt.want {
				t.Errorf("judge(%v) = %v, want %v", tt.err, o, tt.want)
			}
			switch {
			case o == breaker.Success && err != nil:
				t.Errorf("success with error %v", err)
			case o != breaker.Success && err == nil:
				t.Errorf("%v with a nil error", o)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("error %v, want it to match %v", err, tt.wantErr)
			}
		})
	}
}
