package breaker

import (
	"errors"
	"net"
	"time"
)

// errNotDialed is the cause of every failure of a refusedConn.
var errNotDialed = errors.New("redismw: connection not dialed: the circuit was open")

// refusedConn is what [Hook.DialHook] returns instead of dialing while the
// circuit is not closed: a connection to nowhere whose reads and writes
// fail with the circuit's refusal, so that nothing is ever sent on it.
// go-redis closes it after the first failed write — unless it keeps it
// idle first (MinIdleConns), in which case the command that draws it after
// the circuit has closed again is sent anew (see unsent).
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

// maxUnsent bounds how many refused connections one command may draw from
// its pool before it gives up: each is removed as it fails.
const maxUnsent = 64

// unsent reports whether err says a command was not sent because its
// connection was one the circuit refused to dial, and the circuit is closed
// now: sending it again on another connection is safe.
func (b *Breaker) unsent(err error) bool {
	return err != nil && errors.Is(err, errNotDialed) && b.State() == Closed
}
