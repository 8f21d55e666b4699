package circuit

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/errkind"
)

// dialHold keeps a closed circuit's commands from dialing while new
// connections are closed or reset during their handshake: a server killed
// behind a proxy, which accepts and then closes what it cannot serve (or
// Redis at maxclients, which may reset before its refusal is read). Each
// command that needs a new connection would otherwise dial one, see it
// closed and, finding no established connection to run on, fail and come
// back: with 100 callers, 1 000–1 600 dials a second (the chaos suite's
// kill-restart-x5), for as long as the connector's check takes to tell a
// full Redis from a gone one (up to servedWait).
//
// Redis' "max number of clients reached" reply begins no hold: the
// established connections serve then, and the commands that wait for one
// (Hook.again) are served; failed at once instead, held dials made
// pipelines at maxclients serve a seventh of a plain client's.
//
// A closed HELLO on a dialed connection begins a hold; while it lasts, a
// command's dial is not made: the command meets the last refusal's error
// at once, as if Redis had refused it again, and waits for an established
// connection as a refused one does (see Hook.again). A trial dial goes
// through firstRedial after the hold began, then at gaps that double up
// to redialEvery, to see whether new connections are served again. A
// HELLO that succeeds ends the hold, and so do any move of the circuit (a
// hold belongs to the epoch it began in: after an outage, the probe's
// fresh connection was served) and the connector's check answered on a
// fresh connection ([Breaker.FreshServed]). So while Redis refuses new
// connections the commands dial at most one every redialEvery. A command
// whose dial was held and that waits for an established connection runs
// again as soon as the hold ends (see Hook.rerun).
//
// A PubSub's dial waits for the hold's next trial instead of failing at
// once: a subscription has no established connection to wait for, and
// held it failed where, a few milliseconds after a proxy passed again, it
// would have been served (20 of 20 subscriptions in a review). It dials
// if it takes that trial, or if the hold has ended meanwhile; else it
// fails as held. Dialing at every Subscribe or reconnect instead (how a
// plain client does) let subscription loops dial 6 000–7 000 times a
// second behind a proxy that reset new connections, with the circuit
// closed on the established connections, and 50 PubSubs' reconnect loops
// 500–600 times a second (a review; 22–80 when held).
type dialHold struct {
	epoch atomic.Uint64         // the breaker's epoch + 1 when the hold began; 0: none
	next  atomic.Int64          // when the next trial dial may go (unix nanoseconds)
	gap   atomic.Int64          // the wait after the next trial dial (nanoseconds)
	err   atomic.Pointer[error] // the last refusal
}

// The first trial dial comes soon: a server killed just after it accepted
// a connection refuses the next dial, and that refusal tells the
// connector's check that Redis is gone rather than full (see
// Breaker.Listen).
const (
	firstRedial = 5 * time.Millisecond
	redialEvery = 100 * time.Millisecond
)

// heldError is the error of a command whose dial a hold kept from being
// made: it wraps the refusal the hold began with (or was renewed by), so
// that the command is judged, and waits for an established connection,
// as that refusal's was.
type heldError struct{ err error }

func (e *heldError) Error() string {
	return "redismw: no new connection dialed: redis refused the last one: " + e.err.Error()
}

func (e *heldError) Unwrap() error { return e.err }

// hello notes the outcome of a new connection's HELLO: err nil ends a
// hold; the connection closed or reset, when it was really dialed,
// begins one, or is the hold's last refusal from then on (the trial dial
// that met it set the next trial already, in held).
func (b *Breaker) hello(err error) {
	if err == nil {
		if b.hold.epoch.Load() != 0 {
			b.hold.epoch.Store(0)
		}
		return
	}
	if k := errkind.Of(err); k != errkind.Reset && k != errkind.Closed {
		return // a maxclients reply: see dialHold
	}
	var held *heldError
	if errors.As(err, &held) {
		return // not dialed: it says nothing new
	}
	b.hold.err.Store(&err)
	if e := b.Epoch() + 1; b.hold.epoch.Load() != e {
		b.hold.gap.Store(int64(2 * firstRedial))
		b.hold.next.Store(time.Now().Add(firstRedial).UnixNano())
		b.hold.epoch.Store(e)
	}
}

// held returns the error a command's dial meets instead of being made,
// or nil when it may dial: no hold in this epoch, or the hold's trial
// dial is due.
func (b *Breaker) held() error {
	if !b.holding() {
		return nil
	}
	now := time.Now().UnixNano()
	if next := b.hold.next.Load(); now >= next {
		gap := b.hold.gap.Load()
		if b.hold.next.CompareAndSwap(next, now+gap) {
			b.hold.gap.Store(min(2*gap, int64(redialEvery)))
			return nil // the trial dial
		}
	}
	p := b.hold.err.Load()
	if p == nil {
		return nil
	}
	return &heldError{err: *p}
}

// holding reports whether a hold on dials is on in this epoch.
func (b *Breaker) holding() bool {
	e := b.hold.epoch.Load()
	return e != 0 && e == b.Epoch()+1
}

// FreshServed ends a hold on new connections (see dialHold): the
// connector's check was answered on a fresh connection.
func (b *Breaker) FreshServed() { b.hello(nil) }

// awaitTrial waits, not past ctx, until the hold's next trial dial is due
// (at most redialEvery), and reports whether the dial may then be made:
// the circuit is still closed, and the dial takes that trial or the hold
// has ended.
func (b *Breaker) awaitTrial(ctx context.Context) bool {
	wait := time.Duration(b.hold.next.Load() - time.Now().UnixNano())
	t := time.NewTimer(min(max(wait, 0), redialEvery))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	return b.State() == breaker.Closed && b.held() == nil
}

// pubSubDial reports whether the dial being made is a PubSub's: go-redis
// dials a subscription's connection in its PubSubPool's NewConn, with the
// caller's context and nothing that tells it from a pool's dial but its
// caller. It is asked only of a dial a hold would keep from being made.
// It looks 32 frames deep: the dial hooks a client's OnNewClient adds
// before the circuit's sit between (with 12, eleven pass-through hooks
// hid it, in a review).
func pubSubDial() bool {
	var pcs [32]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs[:])])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, "/internal/pool.(*PubSubPool).NewConn") {
			return true
		}
		if !more {
			return false
		}
	}
}
