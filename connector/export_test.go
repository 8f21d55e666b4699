package connector

import "time"

// InFlight reports whether a shared connect (a first connect, a reconnect
// or a probe) is under way: for tests that must wait for one to end, which
// Stats().State does not always show (a probe is circuit_open).
func InFlight(c *Connector) bool { return c.inflight.Load() != nil }

// AskFresh runs a check's ask on a fresh connection (see askFresh) and
// reports whether Redis answered it, and the ask's error.
func AskFresh(c *Connector, timeout time.Duration) (bool, error) {
	err := <-c.askFresh(timeout)
	return answered(err), err
}
