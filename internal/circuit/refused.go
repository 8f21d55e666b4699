package circuit

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ankitoon/redismw/breaker"
)

// errNotDialed is the cause of the failures of a deferredConn used while
// the circuit is not closed.
var errNotDialed = errors.New("redismw: connection not dialed: the circuit is open")

// deferredDialTimeout bounds a deferred dial when go-redis set no deadline
// on the connection before its first use.
const deferredDialTimeout = 10 * time.Second

// deferredConn is what [Hook.DialHook] returns instead of dialing while the
// circuit is not closed: a connection that dials only when it is first
// used with the circuit closed. Used while the circuit is still open, its
// reads and writes fail with the circuit's refusal, so nothing is sent.
//
// go-redis dials in the background (idle connections for MinIdleConns, a
// pool's redial after PoolSize dial errors, PubSub reconnects) and keeps
// what it dialed: a dial error here would count towards the pool's
// dial-error limit (past PoolSize of them it fails every command for up to
// a second after recovery), and a dead connection kept idle would fail the
// command — or the transaction, or the Conn — that draws it after
// recovery. A deferred connection is neither: it costs Redis nothing while
// the circuit is open, and it is a fresh connection once it has closed.
type deferredConn struct {
	b    *Breaker
	dial func(ctx context.Context) (net.Conn, error)

	real atomic.Pointer[net.Conn] // set once dialed

	mu sync.Mutex
	// Guarded by mu.
	closed        bool
	readDeadline  time.Time
	writeDeadline time.Time
}

var _ net.Conn = (*deferredConn)(nil)

// conn returns the real connection, dialing it if the circuit is closed.
func (c *deferredConn) conn() (net.Conn, error) {
	if p := c.real.Load(); p != nil {
		return *p, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.real.Load(); p != nil {
		return *p, nil
	}
	if c.closed {
		return nil, net.ErrClosed
	}
	if err := c.b.Refuse(); err != nil {
		return nil, &breaker.UnavailableError{CircuitOpen: true, Err: errNotDialed}
	}
	deadline := time.Now().Add(deferredDialTimeout)
	for _, d := range []time.Time{c.readDeadline, c.writeDeadline} {
		if !d.IsZero() && d.Before(deadline) {
			deadline = d
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	nc, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	_ = nc.SetReadDeadline(c.readDeadline)
	_ = nc.SetWriteDeadline(c.writeDeadline)
	c.real.Store(&nc)
	return nc, nil
}

func (c *deferredConn) Read(p []byte) (int, error) {
	nc, err := c.conn()
	if err != nil {
		return 0, err
	}
	return nc.Read(p)
}

func (c *deferredConn) Write(p []byte) (int, error) {
	nc, err := c.conn()
	if err != nil {
		return 0, err
	}
	return nc.Write(p)
}

func (c *deferredConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if p := c.real.Load(); p != nil {
		return (*p).Close()
	}
	return nil
}

func (c *deferredConn) LocalAddr() net.Addr {
	if p := c.real.Load(); p != nil {
		return (*p).LocalAddr()
	}
	return deferredAddr{}
}

func (c *deferredConn) RemoteAddr() net.Addr {
	if p := c.real.Load(); p != nil {
		return (*p).RemoteAddr()
	}
	return deferredAddr{}
}

func (c *deferredConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

func (c *deferredConn) SetReadDeadline(t time.Time) error {
	return c.setDeadline(&c.readDeadline, t, net.Conn.SetReadDeadline)
}

func (c *deferredConn) SetWriteDeadline(t time.Time) error {
	return c.setDeadline(&c.writeDeadline, t, net.Conn.SetWriteDeadline)
}

// setDeadline records a deadline for the dial to come (field, guarded by
// mu), or sets it on the real connection once dialed.
func (c *deferredConn) setDeadline(field *time.Time, t time.Time, set func(net.Conn, time.Time) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	*field = t
	if p := c.real.Load(); p != nil {
		return set(*p, t)
	}
	return nil
}

type deferredAddr struct{}

func (deferredAddr) Network() string { return "redismw" }
func (deferredAddr) String() string  { return "not-dialed" }

// failedConn is what [Hook.DialHook] returns for a dial that failed: its
// reads and writes fail with the dial's error, so the command that needed
// the connection fails with it, as it would have from the dial. go-redis
// logs every failed dial through its process-wide logger (redis.SetLogger,
// stderr by default) and, past PoolSize of them, fails every command for
// up to a second after Redis is back: a connection that fails on use is
// neither logged nor counted, and go-redis drops it as a bad connection.
type failedConn struct{ err error }

var _ net.Conn = failedConn{}

func (c failedConn) Read([]byte) (int, error)         { return 0, c.err }
func (c failedConn) Write([]byte) (int, error)        { return 0, c.err }
func (c failedConn) Close() error                     { return nil }
func (c failedConn) LocalAddr() net.Addr              { return deferredAddr{} }
func (c failedConn) RemoteAddr() net.Addr             { return deferredAddr{} }
func (c failedConn) SetDeadline(time.Time) error      { return nil }
func (c failedConn) SetReadDeadline(time.Time) error  { return nil }
func (c failedConn) SetWriteDeadline(time.Time) error { return nil }

// SyscallConn fails, so that go-redis' health check of an idle connection
// discards a failedConn: one is idle only when go-redis dialed it in the
// background (MinIdleConns), and a command that draws it later, Redis
// back, must get a fresh connection, not the old dial's error.
func (c failedConn) SyscallConn() (syscall.RawConn, error) { return nil, c.err }

// dialError is a failedConn's error: the dial's, as it is. go-redis
// unwraps the error of a connection's handshake once, expecting its own
// wrapping: this layer is the one it removes.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }
