package connector

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// greeting is the hook of a check's fresh client that keeps what Redis
// says when it refuses a new connection: at maxclients it writes
// "-ERR max number of clients reached" as it accepts, and closes. go-redis
// reads it as HELLO's reply, takes it for an old server's, and goes on
// with the handshake, whose write or read then fails (a broken pipe, a
// reset, EOF): the reply is lost. The connection greeting dials remembers
// the last error reply it read, or reads one still buffered, and fails
// such a write or read with it: an answer of Redis. (If the reset reaches
// the socket before go-redis has read the reply, the kernel drops the
// reply: then nothing can tell it, and the check listens for answers on
// the connections in use; see Connector.check.)
type greeting struct{}

func (greeting) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &greetedConn{Conn: nc}, nil
	}
}

func (greeting) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (greeting) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// greetedConn is a check's connection; see greeting.
type greetedConn struct {
	net.Conn
	reply string // the last error reply read, without its '-'
}

func (c *greetedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 1 && b[0] == '-' {
		c.reply, _, _ = strings.Cut(string(b[1:n]), "\r\n")
	}
	if n == 0 && c.reply != "" && closedByPeer(err) {
		// go-redis read the refusal as HELLO's reply, went on with the
		// handshake, and Redis had closed the connection meanwhile.
		return 0, &replyBeforeClose{reply: c.reply, err: err}
	}
	return n, err
}

// closedByPeer reports whether err says that the other side closed or
// reset the connection.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (c *greetedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err == nil || !closedByPeer(err) {
		return n, err
	}
	if c.reply == "" { // still in the socket's buffer
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		_, _ = c.Read(make([]byte, 128))
	}
	if c.reply != "" {
		return n, &replyBeforeClose{reply: c.reply, err: err}
	}
	return n, err
}

// replyBeforeClose is an error reply Redis wrote before it closed a new
// connection; it is a redis.Error.
type replyBeforeClose struct {
	reply string
	err   error
}

func (e *replyBeforeClose) Error() string { return e.reply + " (then closed: " + e.err.Error() + ")" }
func (e *replyBeforeClose) Unwrap() error { return e.err }

// RedisError marks the error as a reply of Redis.
func (e *replyBeforeClose) RedisError() {}
