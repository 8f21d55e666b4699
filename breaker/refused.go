package breaker

import (
	"net"
	"time"
)

// refusedConn is what [Hook.DialHook] returns instead of dialing while the
// circuit is not closed: a connection to nowhere whose reads and writes
// fail with the circuit's refusal. go-redis closes it after the first
// failed write.
type refusedConn struct{ err error }

var _ net.Conn = refusedConn{}

func (c refusedConn) Read([]byte) (int, error)       { return 0, c.err }
func (c refusedConn) Write([]byte) (int, error)      { return 0, c.err }
func (refusedConn) Close() error                     { return nil }
func (refusedConn) LocalAddr() net.Addr              { return refusedAddr{} }
func (refusedConn) RemoteAddr() net.Addr             { return refusedAddr{} }
func (refusedConn) SetDeadline(time.Time) error      { return nil }
func (refusedConn) SetReadDeadline(time.Time) error  { return nil }
func (refusedConn) SetWriteDeadline(time.Time) error { return nil }

type refusedAddr struct{}

func (refusedAddr) Network() string { return "redismw" }
func (refusedAddr) String() string  { return "circuit-open" }
