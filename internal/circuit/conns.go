package circuit

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/internal/admit"
	"github.com/ankitoon/redismw/internal/errkind"
)

// slotWait is how long a command whose new connection Redis refused waits
// for an established one to free up before it fails; see Hook.again.
const slotWait = 50 * time.Millisecond

// maxAgain bounds how often a command whose new connection Redis refused
// runs again (go-redis' default retries: 3): an idle connection may be a
// new one too (MinIdleConns), which a Redis that refuses connections
// closes as well.
const maxAgain = 3

// unsentError is the error of a command that was never sent: Redis
// refused the new connection it needed, with "max number of clients
// reached" or by closing it during the handshake (at maxclients Redis
// writes the refusal and closes; the reset may reach the socket before the
// reply is read, and with TLS the reply is never readable). It is what
// the hook makes of the connection's HELLO error (see Hook.handshake),
// and carries it back to the command: go-redis returns a handshake's error
// to the command that needed the connection, unwrapped once (the
// dialError layer).
//
// A refused reply is hidden from errors.As (no Unwrap): go-redis would
// take it for an old server's answer to HELLO and go on with the
// handshake, whose next write fails with a broken pipe, and the reply
// would be lost.
type unsentError struct {
	err   error
	reply bool
}

func (e *unsentError) Error() string { return e.err.Error() }

func (e *unsentError) Unwrap() error {
	if e.reply {
		return nil
	}
	return e.err
}

// refusedNew reports whether err, a new connection's HELLO's error, says
// that Redis refused the connection: the maxclients reply, or the
// connection closed or reset by Redis (not refused: nothing listens then,
// and no established connection will free up).
func refusedNew(err error) (unsent *unsentError, ok bool) {
	switch k := errkind.Of(err); {
	case k == errkind.Reply && redis.IsMaxClientsError(err):
		return &unsentError{err: err, reply: true}, true
	case k == errkind.Reset || k == errkind.Closed:
		return &unsentError{err: err}, true
	}
	return nil, false
}

// handshake runs a connection-initialisation command that go-redis sends
// through the hooks of the command that needed the connection (which is
// judged already). A HELLO that finds the new connection refused fails
// with an unsentError, so that the command can tell it was not sent.
func (h *Hook) handshake(ctx context.Context, cmd redis.Cmder, next redis.ProcessHook) error {
	err := next(ctx, cmd)
	if !isHello(cmd) {
		return err
	}
	h.b.hello(err)
	if err == nil || h.ev.Idle == nil {
		return err
	}
	if unsent, ok := refusedNew(err); ok {
		err = &dialError{unsent} // the layer go-redis removes
		cmd.SetErr(err)
	}
	return err
}

// again handles a command that failed with err: if its new connection
// was refused (an unsentError), it waits up to slotWait for an idle
// established connection (or for new connections to be served again, see
// rerun) and runs the command on it, as often as one
// frees up and is taken by another command first, at most maxAgain times. A plain go-redis client
// retries such a command (a refused connection up to three times, 8 to
// 512 ms apart); the connector's clients retry nothing that may have run,
// but this command never ran. While it waits it holds no permit (permit,
// if not nil, is its own): permits are for commands Redis can serve now,
// and a full Redis serves only the connections it has. It returns whether
// the command waited, and its error: the original one if it failed again.
func (h *Hook) again(ctx context.Context, cmd redis.Cmder, next redis.ProcessHook, err error, permit *admit.Permit) (bool, error) {
	waited, err := h.rerun(ctx, err, permit, func() error { return next(ctx, cmd) })
	if waited {
		cmd.SetErr(err)
	}
	return waited, err
}

// rerun is again's loop, for a command or a pipeline (run sends it again):
// it returns whether it waited, and the error of the last run, the
// original one of a refused connection restored. A shed while it waits
// for its permit again is its error. It runs the command again when an
// established connection is idle, or when a hold on dials (see dialHold)
// ends.
func (h *Hook) rerun(ctx context.Context, err error, permit *admit.Permit, run func() error) (bool, error) {
	var unsent *unsentError
	if h.ev.Idle == nil || !errors.As(err, &unsent) {
		return false, err
	}
	deadline := time.Now().Add(slotWait)
	for range maxAgain {
		if permit != nil { // (the zero Permit's release is a no-op)
			h.ev.Admit.Release(*permit, answered(unsent.err), false)
			*permit = admit.Permit{}
		}
		// A hold on dials that was on when the command failed (its own
		// closed HELLO began it, or its dial was held) and has ended
		// since says new connections are served again: the command runs
		// again at once, and dials.
		ready := h.ev.Idle
		if h.b.holding() {
			ready = func() bool { return h.ev.Idle() || !h.b.holding() }
		}
		if !awaitIdle(ctx, ready, deadline) {
			break
		}
		if permit != nil {
			p, err := h.ev.Admit.Acquire(ctx, exempt)
			if err != nil {
				return true, err
			}
			*permit = p
		}
		err = run()
		if !errors.As(err, &unsent) {
			return true, err
		}
	}
	return true, unsent.err
}

// awaitIdle waits until deadline, and not past ctx, for idle to report an
// idle established connection. It looks every millisecond rather than
// when a command ends: woken at once, the commands that wait would take
// the connections in turns with the commands that have just ended and
// come back, each losing the race dialing a connection Redis refuses
// (at maxclients, 20 callers on 3 connections served half as much).
func awaitIdle(ctx context.Context, idle func() bool, deadline time.Time) bool {
	for {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
		if idle() {
			return true
		}
		time.Sleep(time.Millisecond)
	}
}

// unwrapUnsent returns the original error of an unsentError, or err.
func unwrapUnsent(err error) error {
	var unsent *unsentError
	if errors.As(err, &unsent) {
		return unsent.err
	}
	return err
}

// isHello reports whether cmd is the HELLO go-redis begins a handshake
// with.
func isHello(cmd redis.Cmder) bool {
	if args := cmd.Args(); len(args) > 0 {
		name, _ := args[0].(string)
		return name == "hello"
	}
	return false
}
