package breaker_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// timeoutDial is a dial's timeout as net returns it: it matches
// context.DeadlineExceeded.
func timeoutDial() error {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	_, err := d.DialContext(ctx, "tcp", "127.0.0.1:1")
	return err
}

func TestClassify(t *testing.T) {
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	tests := []struct {
		name string
		err  error
		want breaker.Outcome
	}{
		{"nil", nil, breaker.Success},
		{"redis.Nil", redis.Nil, breaker.Success},
		{"wrapped redis.Nil", fmt.Errorf("get: %w", redis.Nil), breaker.Success},
		{"WRONGTYPE", redistest.Reply("WRONGTYPE Operation against a key holding the wrong kind of value"), breaker.Success},
		{"NOSCRIPT", redis.ErrNoScript, breaker.Success},
		{"ERR", redistest.Reply("ERR unknown command 'FOO'"), breaker.Success},
		{"TRYAGAIN", redistest.Reply("TRYAGAIN Multiple keys request during rehashing of slot"), breaker.Success},
		{"OOM", redistest.Reply("OOM command not allowed when used memory > 'maxmemory'."), breaker.Success},
		{"caller canceled", context.Canceled, breaker.Ignored},
		{"wrapped caller canceled", fmt.Errorf("get: %w", context.Canceled), breaker.Ignored},
		{"client closed", redis.ErrClosed, breaker.Ignored},
		{"our refusal", &breaker.UnavailableError{CircuitOpen: true}, breaker.Ignored},
		{"unrelated local error", errors.New("redis: can't marshal map[string]int"), breaker.Ignored},
		{"deadline exceeded", context.DeadlineExceeded, breaker.Suspect},
		{"read timeout", timeout, breaker.Suspect},
		{"connection refused", refused, breaker.Suspect},
		{"connection reset", reset, breaker.Suspect},
		{"bare ECONNRESET", syscall.ECONNRESET, breaker.Suspect},
		{"broken pipe", syscall.EPIPE, breaker.Suspect},
		{"EOF", io.EOF, breaker.Suspect},
		{"unexpected EOF", fmt.Errorf("reading reply: %w", io.ErrUnexpectedEOF), breaker.Suspect},
		{"use of closed connection", net.ErrClosed, breaker.Suspect},
		{"pool timeout", redis.ErrPoolTimeout, breaker.Suspect},
		{"pool exhausted", redis.ErrPoolExhausted, breaker.Suspect},
		{"caller deadline, wrapped", fmt.Errorf("get: %w", context.DeadlineExceeded), breaker.Suspect},
		{"WRONGPASS", redistest.Reply("WRONGPASS invalid username-password pair or user is disabled."), breaker.Fatal},
		{"NOAUTH", redistest.Reply("NOAUTH Authentication required."), breaker.Fatal},
		{"NOPERM", redistest.Reply("NOPERM User app has no permissions to run the 'flushall' command"), breaker.Success},
		{"untrusted certificate", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, breaker.Fatal},
		{"user hook error", errors.New("tracing: exporter queue full"), breaker.Ignored},
		{"LOADING", redistest.Reply("LOADING Redis is loading the dataset in memory"), breaker.Failure},
		{"MASTERDOWN", redistest.Reply("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), breaker.Failure},
		{"CLUSTERDOWN", redistest.Reply("CLUSTERDOWN The cluster is down"), breaker.Failure},
		{"READONLY", redistest.Reply("READONLY You can't write against a read only replica."), breaker.Success},
		{"BUSY", redistest.Reply("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT."), breaker.Failure},
		{"max clients", redistest.Reply("ERR max number of clients reached"), breaker.Suspect},
		{"NOREPLICAS", redistest.Reply("NOREPLICAS Not enough good replicas to write."), breaker.Success},
		{"ECONNABORTED", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ECONNABORTED)}, breaker.Suspect},
		{"DNS failure", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "redis.invalid"}}, breaker.Suspect},
		// Several errors at once, as a Sentinel deployment joins its
		// sentinels': a deadline proves nothing whatever comes with it, and
		// the client's own closing or the caller's cancellation is nobody's
		// failure.
		{"timeout joined with WRONGPASS", errors.Join(timeoutDial(), redistest.Reply("WRONGPASS invalid username-password pair")), breaker.Suspect},
		{"deadline joined with an untrusted certificate", errors.Join(context.DeadlineExceeded, &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), breaker.Suspect},
		{"deadline joined with client closed", errors.Join(context.DeadlineExceeded, redis.ErrClosed), breaker.Ignored},
		{"pool timeout joined with client closed", errors.Join(redis.ErrPoolTimeout, redis.ErrClosed), breaker.Ignored},
		{"canceled joined with WRONGPASS", errors.Join(context.Canceled, redistest.Reply("WRONGPASS x")), breaker.Ignored},
		{"redis.Nil joined with our refusal", errors.Join(redis.Nil, &breaker.UnavailableError{}), breaker.Success},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := breaker.Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
