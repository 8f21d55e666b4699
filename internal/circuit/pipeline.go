package circuit

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
)

// A pipeline's or transaction's handshake, as the hooks see it.

// pipelineKey marks the context of a pipeline or transaction with its
// pipelineState.
type pipelineKey struct{}

// pipelineState is what the hooks know of one pipeline or transaction
// while go-redis runs it. go-redis gives a pipeline a connection from a
// pool of its own and, if initialising a new one fails, falls back on the
// main pool: against a hung Redis, a handshake of read_timeout and then a
// pipeline of read_timeout more. A handshake that fails for lack of an
// answer ends the pipeline instead (its context is cancelled, so the
// fallback fails at once), so that a pipeline waits at most one
// read_timeout, like a command.
type pipelineState struct {
	cancel context.CancelCauseFunc
	failed atomic.Pointer[error]
}

// handshake runs a connection-initialisation command of the pipeline's
// through h, the hook that sees it; a new connection's HELLO's outcome
// begins or ends a hold on dials (see dialHold) unless h is a cluster
// node's.
func (ps *pipelineState) handshake(ctx context.Context, cmd redis.Cmder, next redis.ProcessHook, h *Hook) error {
	if err := ps.failed.Load(); err != nil {
		cmd.SetErr(*err)
		return *err
	}
	err := next(ctx, cmd)
	hello := isHello(cmd)
	if hello && !h.node {
		h.b.hello(err)
	}
	if unsent, ok := refusedNew(err); ok && hello {
		// Redis refused the new connection (maxclients): an answer, not a
		// hang. go-redis falls back on the main pool, whose established
		// connections Redis serves.
		err = &dialError{unsent}
		cmd.SetErr(err)
		return err
	}
	if o := breaker.Classify(err); o == breaker.Suspect || o == breaker.Failure {
		ps.failed.Store(&err)
		ps.cancel(err)
	}
	return err
}
