package connector

// InFlight reports whether a shared connect (a first connect, a reconnect
// or a probe) is under way: for tests that must wait for one to end, which
// Stats().State does not always show (a probe is circuit_open).
func InFlight(c *Connector) bool { return c.inflight.Load() != nil }
