package errkind_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/internal/errkind"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// TestOf: every kind, from the errors go-redis, the network and contexts
// really return, wrapped as go-redis and the connector wrap them.
func TestOf(t *testing.T) {
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tt := range []struct {
		err  error
		want errkind.Kind
	}{
		{nil, errkind.None},
		{redis.Nil, errkind.NilReply},
		{context.Canceled, errkind.Canceled},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), errkind.Timeout},
		{timeout, errkind.Timeout},
		{redis.ErrPoolTimeout, errkind.PoolTimeout},
		{redis.ErrPoolExhausted, errkind.PoolTimeout},
		{redis.ErrClosed, errkind.ClientGone},
		{redistest.Reply("LOADING Redis is loading the dataset in memory"), errkind.Reply},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, errkind.Refused},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, errkind.Reset},
		{&net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.ECONNABORTED)}, errkind.Reset},
		{&net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}, errkind.Reset},
		{io.EOF, errkind.Closed},
		{io.ErrUnexpectedEOF, errkind.Closed},
		{net.ErrClosed, errkind.Closed},
		{&net.DNSError{Err: "no such host", Name: "redis.invalid"}, errkind.Network},
		{errors.New("a hook's own error"), errkind.Other},
	} {
		if got := errkind.Of(tt.err); got != tt.want {
			t.Errorf("Of(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestReplyWord(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{redistest.Reply("WRONGPASS invalid username-password pair"), "WRONGPASS"},
		{fmt.Errorf("connect: %w", redistest.Reply("BUSY Redis is busy running a script")), "BUSY"},
		{redistest.Reply("weird lower-case reply"), ""},
		{redistest.Reply("THISISAVERYLONGWORDOFMORETHANTHIRTYTWOCHARACTERS x"), ""},
		{io.EOF, ""},
		{nil, ""},
	} {
		if got := errkind.ReplyWord(tt.err); got != tt.want {
			t.Errorf("ReplyWord(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestPingAnswered(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{nil, true},
		{redistest.Reply("NOPERM User app has no permissions to run the 'ping' command"), true},
		{redistest.Reply("NOPERM User app has no permissions to run the 'select' command"), false},
		{redistest.Reply("ERR DB index is out of range"), false},
		{redistest.Reply("LOADING Redis is loading the dataset in memory"), false},
		{context.DeadlineExceeded, false},
		{io.EOF, false},
	} {
		if got := errkind.PingAnswered(tt.err); got != tt.want {
			t.Errorf("PingAnswered(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
