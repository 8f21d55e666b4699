package circuit

import (
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/internal/errkind"
)

// listener is how the connector's check hears that Redis answered one of
// the commands in flight on the connections the service has (see
// [Breaker.Listen]).
type listener struct {
	on    atomic.Bool
	heard chan struct{} // capacity 1
	gone  chan struct{} // capacity 1: a command's dial refused (nothing listens)
}

// Listen starts listening for answers: from now until [Breaker.Unlisten],
// every command or pipeline a [Hook] of b sees answered by Redis — a
// reply, an error reply included — sends on heard, and every one whose
// new connection was refused (nothing listens: Redis is gone) on gone (at
// most one pending signal each). At most one check listens at a time.
func (b *Breaker) Listen() (heard, gone <-chan struct{}) {
	for _, c := range []chan struct{}{b.listen.heard, b.listen.gone} {
		select {
		case <-c: // a signal left from an earlier check
		default:
		}
	}
	b.listen.on.Store(true)
	return b.listen.heard, b.listen.gone
}

// Unlisten stops what [Breaker.Listen] started.
func (b *Breaker) Unlisten() { b.listen.on.Store(false) }

// replied notes that Redis answered a command: one atomic load unless a
// check listens.
func (b *Breaker) replied() {
	if b.listen.on.Load() {
		select {
		case b.listen.heard <- struct{}{}:
		default:
		}
	}
}

// repliedTo reports whether Redis answered a pipeline that ended with
// err: all of it, or one of its commands with a reply (an error reply or
// a nil). A failed pipeline's command without an error may never have
// been sent (go-redis sets no error on the commands of a pipeline that
// found no connection).
func repliedTo(cmds []redis.Cmder, err error) bool {
	if err == nil {
		return true
	}
	for _, cmd := range cmds {
		if k := errkind.Of(cmd.Err()); k == errkind.Reply || k == errkind.NilReply {
			return true
		}
	}
	return false
}

// refusedDial notes that a command's dial was refused.
func (b *Breaker) refusedDial() {
	if b.listen.on.Load() {
		select {
		case b.listen.gone <- struct{}{}:
		default:
		}
	}
}
