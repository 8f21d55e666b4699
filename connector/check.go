package connector

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/internal/circuit"
	"github.com/ankitoon/redismw/internal/errkind"
)

// A check confirms a suspicion. What a command meets on one connection
// proves nothing about Redis: a timeout may be its caller's deadline,
// shorter than the command's legitimate server time (a slow script, a
// BLPOP); a saturated pool may be busy with blocking commands; a network
// error may be one connection's (CLIENT KILL, an idle timeout, a sticky
// Conn's stored error, which go-redis repeats without any I/O); a new
// connection may be refused by Redis itself (maxclients, a rotated
// password) while the established ones serve. So the hook counts no
// failure for these; it asks for a check instead, which asks Redis whether
// it serves the connections this service has, in two ways at once:
//
//   - a PING on the connector's own client, when its pool has an idle
//     connection: an established connection, already authenticated, that
//     needs no free client slot of Redis;
//   - a PING on a fresh connection of a lean client, so that a pool
//     without an idle connection (held by blocking commands) or with only
//     dead ones is not in the way.
//
// Each gets read_timeout for each of its round trips (the fresh
// connection's dial and handshake, then the PING), as a command's read
// does. Any answer of Redis dismisses the suspicion — a PONG, and an error
// reply just as well (max number of clients reached, WRONGPASS, NOPERM,
// LOADING: Redis is alive, and an error reply costs a caller no waiting);
// a reply that says Redis cannot serve counts on the commands that get it.
// If neither way gets an answer, Redis failed to serve within the
// connection's own deadline: the circuit opens at once.
//
// At most one check runs at a time, and they start at most one
// read_timeout apart: a suspicion during a check asks for one more after
// it. So a hang is confirmed within 2 × read_timeout of its start (the
// first command to time out, then the check), at any traffic level, and a
// storm of suspicions on a healthy Redis costs it one connection per
// read_timeout.

// suspect asks for a check; it is the hooks' Suspect event and returns at
// once. A network error asks for it at once (urgent): a killed server
// must cost no more dials than it takes to tell, and a check on a healthy
// Redis costs a PING on an idle connection. A timeout waits for the
// check interval (see checkLoop).
func (c *Connector) suspect(err error) {
	if errkind.Of(err).Broken() {
		c.urgent.Store(true)
		select {
		case c.wake <- struct{}{}: // a check waiting for its interval starts now
		default:
		}
	}
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
	c.spawn(c.checkLoop)
}

// checkLoop runs checks while they are asked for: one at a time, and at
// most one per read_timeout — but a network error's check starts at once,
// unless a check found Redis answering within the last read_timeout: so a
// kill is told at once, and a storm of network errors on a healthy Redis
// (a stale Conn's repeated error, killed connections) costs it one check
// per read_timeout.
func (c *Connector) checkLoop() {
	for {
		interval := c.dep.checkTimeout(c.cfg.AttemptTimeout)
		for {
			calm := time.Since(c.lastAnswered) >= interval
			wait := time.Until(c.lastCheck.Add(interval))
			if wait <= 0 || calm && c.urgent.Load() {
				break
			}
			var wake <-chan struct{}
			if calm {
				wake = c.wake
			}
			if !c.pause(wait, wake) {
				c.checks.Store(0)
				return
			}
		}
		c.lastCheck = time.Now()
		if c.check(interval, c.urgent.Swap(false)) {
			c.lastAnswered = c.lastCheck
		}
		if c.checks.CompareAndSwap(1, 0) {
			return
		}
		c.checks.Store(1) // it was 2: one more
	}
}

// check runs one check while the circuit is closed, opens the circuit if
// Redis answers neither of its asks within timeout, and reports whether
// Redis answered.
//
// A network error's check (urgent) asks on an idle connection first, and
// on a fresh one only if that did not answer within freshDelay: on a
// healthy Redis whose connections are being closed (CLIENT KILL, an idle
// timeout, a stale Conn) it costs a PING and no connection. A timeout's
// check asks both ways at once, so that a hang is told within read_timeout
// of the check's start.
func (c *Connector) check(timeout time.Duration, urgent bool) bool {
	epoch := c.brk.Epoch()
	if c.brk.Refuse() != nil {
		return false // open already: the probe decides
	}
	end := time.Now().Add(min(timeout, servedWait))
	// An answer to a command in flight while the check runs is an answer
	// too (heard), unless a command's dial was refused meanwhile (gone) or
	// the fresh connection was: a reply read just after a kill was written
	// before it.
	heardCh, gone := c.brk.Listen()
	defer c.brk.Unlisten()
	heard, heardAny := heardCh, false
	idle := c.askIdle(circuit.Unjudged(c.ctx), timeout)
	asked := idle != nil
	var last error // what the asks got; the fresh connection's error says most
	if idle != nil && urgent {
		t := time.NewTimer(freshDelay)
		select {
		case last = <-idle:
			idle = nil
		case <-heard:
			heard, heardAny = nil, true
		case <-t.C:
		}
		t.Stop()
		if idle == nil && answered(last) {
			c.checksRun.Add(1)
			return true
		}
	}
	fresh := c.askFresh(timeout)
	asked = asked || fresh != nil
	for idle != nil || fresh != nil {
		var err error
		select {
		case err = <-idle:
			idle = nil
			if last == nil {
				last = err
			}
		case err = <-fresh:
			fresh, last = nil, err
			if answered(err) {
				c.brk.FreshServed() // new connections are served: the commands may dial again
			}
		case <-heard:
			heard, heardAny = nil, true
			continue
		}
		if answered(err) {
			c.checksRun.Add(1)
			return true // the other ask ends on its own, within timeout
		}
	}
	if c.ctx.Err() != nil || !asked {
		return false
	}
	killed := errkind.Of(last) == errkind.Refused
	select {
	case <-gone:
		killed = true
	default:
	}
	if !killed && (heardAny || c.awaitServed(heardCh, gone, last, end)) {
		c.checksRun.Add(1)
		return true
	}
	c.checksRun.Add(1)
	if !c.brk.Trip(epoch) {
		return false // the circuit moved meanwhile: this check opened nothing
	}
	c.setLastErr(&checkError{timeout: timeout, err: redactErr(last, c.dep.secrets...)})
	c.tel.Failure(c.ctx, last)
	c.checksFailed.Add(1)
	return false
}

// awaitServed waits until end (at most servedWait after the check began)
// for an answer to one of the commands in
// flight (heard) when the fresh connection was closed or reset by Redis
// without a reply it could read (last) and the connector's client has
// connections in use: at maxclients Redis closes a new connection after
// its refusal, and the reset may reach the socket before the reply is read
// (with TLS the reply is never readable), while the established
// connections serve. A killed Redis refuses the dial instead, and a hung
// one closes nothing: neither waits here; and if the fresh connection was
// accepted just before a kill, the first command whose dial is refused
// (gone) ends the wait. Redis killed behind a proxy that closes the
// connections it cannot serve looks like a full Redis until servedWait.
func (c *Connector) awaitServed(heard, gone <-chan struct{}, last error, end time.Time) bool {
	if k := errkind.Of(last); k != errkind.Reset && k != errkind.Closed {
		return false
	}
	c.mu.Lock()
	h := c.client
	c.mu.Unlock()
	if h == nil {
		return false
	}
	s := h.client.PoolStats()
	if s.IdleConns > 0 { // freed since the check began: ask it
		if idle := c.askIdle(circuit.Unjudged(c.ctx), time.Until(end)); idle != nil {
			select {
			case err := <-idle:
				return answered(err)
			case <-heard:
				return true
			case <-gone:
				return false
			}
		}
	}
	if s.TotalConns <= s.IdleConns {
		return false
	}
	t := time.NewTimer(time.Until(end))
	defer t.Stop()
	for {
		select {
		case <-heard:
			return true
		case <-gone: // a command's dial refused: Redis is gone (killed just after the fresh connection was accepted)
			return false
		case <-t.C:
			return false
		case <-c.ctx.Done():
			return false
		}
	}
}

// servedWait bounds awaitServed from the check's start (and read_timeout
// does): behind a proxy that accepts and closes while Redis is down, the
// check cannot tell Redis gone from a full Redis until then.
const servedWait = time.Second

// freshDelay is how long an urgent check waits for its PING on an idle
// connection before it asks on a fresh one too.
const freshDelay = 5 * time.Millisecond

// answered reports whether err, a check's PING's result, is an answer of
// Redis: no error, or any error reply.
func answered(err error) bool {
	return err == nil || errkind.Of(err) == errkind.Reply
}

// askIdle PINGs Redis on an idle connection of the connector's client,
// an established one, with ctx (which says how the circuit's hook treats
// it: circuit.Unjudged for a check, circuit.Own for a probe) bounded by
// timeout when it is positive, and returns the channel its result comes
// on; nil, asking nothing, when there is no client or no idle connection
// (they are all in use, or dead and gone). It does not wait for one: while
// commands fail on a dead server, every wait would cost Redis their dials.
// An established connection needs no free client slot of Redis and no
// connect-time credentials: Redis at maxclients, or after a password
// rotation, refuses a new connection while it serves the ones the service
// has.
func (c *Connector) askIdle(ctx context.Context, timeout time.Duration) <-chan error {
	c.mu.Lock()
	h := c.client
	c.mu.Unlock()
	if h == nil || h.client.PoolStats().IdleConns == 0 {
		return nil
	}
	result := make(chan error, 1)
	c.spawn(func() {
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		result <- ping(ctx, h.client)
	})
	return result
}

// askFresh PINGs Redis on a fresh connection of a lean client, whose dial,
// handshake and PING each get timeout, and returns the channel its result
// comes on; nil when the connector is closed.
func (c *Connector) askFresh(timeout time.Duration) <-chan error {
	client := c.dep.newClient(true, timeout)
	// The circuit's hook in pass-through mode: the check judges its own
	// PING, and a failed dial is reported as the PING's error, not
	// printed by go-redis (see circuit.Hook.DialHook).
	h := c.brk.NewHook(circuit.HookEvents{})
	h.SetBypass(true)
	install(client, h, false)
	client.AddHook(greeting{})
	c.mu.Lock()
	if c.isClosed() {
		c.mu.Unlock()
		_ = client.Close()
		return nil
	}
	if c.checking == nil {
		c.checking = map[redis.UniversalClient]struct{}{}
	}
	c.checking[client] = struct{}{} // Close closes it: a blocked read ends at once
	c.mu.Unlock()
	result := make(chan error, 1)
	c.spawn(func() {
		defer func() {
			c.mu.Lock()
			delete(c.checking, client)
			c.mu.Unlock()
			_ = client.Close()
		}()
		result <- ping(c.ctx, client)
	})
	return result
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
	what := "the connector's check (a PING on an established connection and on a fresh one)"
	if errkind.Of(e.err) == errkind.Timeout {
		return "redis did not answer " + what + " within read_timeout (" + e.timeout.String() + "): " + e.err.Error()
	}
	return "redis failed " + what + ": " + e.err.Error()
}

func (e *checkError) Unwrap() error { return e.err }
