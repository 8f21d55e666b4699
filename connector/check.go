package connector

import (
	"time"

	"github.com/ankitoon/redismw/internal/circuit"
	"github.com/ankitoon/redismw/internal/errkind"
)

// A check confirms a suspicion. A command that timed out, or found its
// pool saturated, proves nothing about Redis: the caller's deadline may be
// shorter than the command's legitimate server time (a slow script, a
// BLPOP), or the pool busy with blocking commands. So the hook counts no
// failure for it; it asks for a check instead: a PING of the connector's
// own, on a fresh connection (so no pool and no caller's deadline are in
// the way), bounded by read_timeout. If Redis does not answer it, Redis
// failed to serve within the connection's own deadline: the circuit opens
// at once. If it answers, the suspicion is dismissed. Each round trip of
// the check (the fresh connection's handshake, then the PING) gets
// read_timeout, as a command's read does: a Redis that answers every
// command slowly, but within read_timeout, passes.
//
// At most one check runs at a time, and they start at most one
// checkInterval apart: a suspicion during a check asks for one more after
// it. So a hang is confirmed within 2 × read_timeout of its start (the
// first command to time out, then the check), at any traffic level, and a
// storm of callers' deadlines on a healthy Redis costs it one connection
// per read_timeout.

// suspect asks for a check; it is the hooks' Suspect event and returns at
// once.
func (c *Connector) suspect() {
	for {
		switch n := c.checks.Load(); n {
		case 0:
			if c.checks.CompareAndSwap(0, 1) {
				c.startCheck()
				return
			}
		case 1:
			if c.checks.CompareAndSwap(1, 2) {
				return
			}
		default:
			return
		}
	}
}

// startCheck starts the check goroutine, unless the connector is closed.
func (c *Connector) startCheck() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed() {
		c.checks.Store(0)
		return
	}
	c.wg.Add(1)
	go c.checkLoop()
}

// checkLoop runs checks while they are asked for.
func (c *Connector) checkLoop() {
	defer c.wg.Done()
	for {
		interval := c.dep.checkTimeout(c.cfg.AttemptTimeout)
		if !c.pause(time.Until(c.lastCheck.Add(interval))) {
			c.checks.Store(0)
			return
		}
		c.lastCheck = time.Now()
		c.check(interval)
		if c.checks.CompareAndSwap(1, 0) {
			return
		}
		c.checks.Store(1) // it was 2: one more
	}
}

// check runs one check while the circuit is closed, and opens the circuit
// if Redis does not answer a PING within timeout.
func (c *Connector) check(timeout time.Duration) {
	epoch := c.brk.Epoch()
	if c.brk.Refuse() != nil {
		return // open already: the probe decides
	}
	client := c.dep.newClient(true, timeout)
	// The circuit's hook in pass-through mode: the check judges its own
	// PING, and a failed dial is reported as the PING's error, not
	// printed by go-redis (see circuit.Hook.DialHook).
	h := c.brk.NewHook(circuit.HookEvents{})
	h.SetBypass(true)
	install(client, h, false)
	c.mu.Lock()
	if c.isClosed() {
		c.mu.Unlock()
		_ = client.Close()
		return
	}
	c.checking = client // Close closes it: a blocked read ends at once
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.checking = nil
		c.mu.Unlock()
		_ = client.Close()
	}()

	err := ping(c.ctx, client)
	switch {
	case c.ctx.Err() != nil:
		return
	case errkind.PingAnswered(err):
		c.checksRun.Add(1)
		return
	}
	c.setLastErr(&checkError{timeout: timeout, err: redactErr(err, c.dep.secrets...)})
	c.brk.Trip(epoch)
	c.tel.Failure(c.ctx, err)
	c.checksFailed.Add(1)
	c.checksRun.Add(1)
}

// checkError is why a check opened the circuit.
type checkError struct {
	timeout time.Duration
	err     error
}

// Error says what the check met: no answer within read_timeout only when
// it timed out; otherwise the failure itself (a refused connection is
// not a timeout). What raised the suspicion — a timeout, a network error,
// a saturated pool — is not the check's to say.
func (e *checkError) Error() string {
	if errkind.Of(e.err) == errkind.Timeout {
		return "redis did not answer the connector's check (a PING on a fresh connection) within read_timeout (" + e.timeout.String() + "): " + e.err.Error()
	}
	return "redis failed the connector's check (a PING on a fresh connection): " + e.err.Error()
}

func (e *checkError) Unwrap() error { return e.err }
