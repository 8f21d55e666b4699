package telemetry_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
	"github.com/ankitoon/redismw/internal/testkit/testmain"
	"github.com/ankitoon/redismw/telemetry"
)

func TestMain(m *testing.M) { testmain.Run(m) }

// TestErrorType: error.type for every kind of error, and for the errors
// of redismw that name their own outcome; every network error the circuit
// counts as a failure has a kind of its own, not _OTHER.
func TestErrorType(t *testing.T) {
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{context.DeadlineExceeded, "timeout"},
		{timeout, "timeout"},
		{context.Canceled, "canceled"},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "connection_refused"},
		{syscall.ECONNRESET, "connection_reset"},
		{&net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.ECONNABORTED)}, "connection_reset"},
		{&net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}, "connection_reset"},
		{io.EOF, "connection_closed"},
		{redis.ErrPoolTimeout, "pool_timeout"},
		{&breaker.UnavailableError{CircuitOpen: true}, "circuit_open"},
		{&breaker.UnavailableError{RetryAfter: time.Second, Err: fmt.Errorf("connect failed: %w", timeout)}, "timeout"},
		{redistest.Reply("WRONGPASS invalid username-password pair or user is disabled."), "WRONGPASS"},
		{redistest.Reply("LOADING Redis is loading the dataset in memory"), "LOADING"},
		{redistest.Reply("weird lower-case reply"), "_OTHER"},
		{errors.New("something s3cret"), "_OTHER"},
		{connector.ErrClosed, "closed"},
		{&breaker.UnavailableError{Err: redismw.ErrWaitBudget}, "wait_budget"},
		{redis.Nil, "_OTHER"},
		{redis.ErrClosed, "_OTHER"},
	}
	for _, tt := range tests {
		if got := telemetry.ErrorType(tt.err); got != tt.want {
			t.Errorf("ErrorType(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestErrorTypeAgreesWithClassify: over single errors and every pair of
// them joined (as a Sentinel deployment joins its sentinels' errors), the
// label never contradicts the circuit's verdict: a suspicion is a
// timeout, a pool timeout or a network error, a counted failure is none
// of them, a cancellation is not counted.
func TestErrorTypeAgreesWithClassify(t *testing.T) {
	corpus := []error{
		context.DeadlineExceeded, context.Canceled,
		&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded},
		&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)},
		&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)},
		&net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.ECONNABORTED)},
		io.EOF, redis.ErrPoolTimeout, redis.ErrPoolExhausted, redis.ErrClosed, redis.Nil,
		redistest.Reply("LOADING Redis is loading the dataset in memory"), redistest.Reply("WRONGTYPE x"), redistest.Reply("WRONGPASS x"),
		&breaker.UnavailableError{CircuitOpen: true}, errors.New("a hook's error"),
		&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}},
	}
	errs := slices.Clone(corpus)
	for _, a := range corpus {
		for _, b := range corpus {
			errs = append(errs, errors.Join(a, b))
		}
	}
	for _, err := range errs {
		o, et := breaker.Classify(err), telemetry.ErrorType(err)
		suspicious := et == "timeout" || et == "pool_timeout" || strings.HasPrefix(et, "connection_")
		switch {
		case o == breaker.Suspect && !suspicious:
			t.Errorf("%q: a suspicion labelled %s", err, et)
		case (et == "timeout" || et == "pool_timeout") && o != breaker.Suspect:
			t.Errorf("%q: labelled %s but judged %v", err, et, o)
		case o == breaker.Failure && (suspicious || et == "canceled"):
			t.Errorf("%q: a counted failure labelled %s", err, et)
		case strings.HasPrefix(et, "connection_") && o != breaker.Suspect && o != breaker.Fatal:
			t.Errorf("%q: labelled %s but judged %v", err, et, o)
		case et == "canceled" && o != breaker.Ignored:
			t.Errorf("%q: a cancellation judged %v", err, o)
		}
	}
}
