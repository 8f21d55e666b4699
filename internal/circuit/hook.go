package circuit

import (
	"context"
	"errors"
	"net"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
)

// Hook is a go-redis hook that guards one client's commands with a
// [Breaker]: while the circuit is not closed, commands, pipelines and dials
// fail at once with an [*breaker.UnavailableError] and never touch the network;
// otherwise each command runs and its outcome is judged ([breaker.Classify]), a
// pipeline or transaction by every command's result.
//
// Get one with [Breaker.NewHook] and install it with the client's AddHook;
// for a cluster, see [Hook.NodeGuard].
type Hook struct {
	b  *Breaker
	ev HookEvents

	// bypass is the hook's own, or for a node guard its cluster hook's.
	bypass *atomic.Bool
	// node marks a cluster node's guard: it refuses, and stops go-redis'
	// retries after a transport error unless retries is set; the cluster
	// hook judges.
	node    bool
	retries bool
	own     atomic.Bool
}

var _ redis.Hook = (*Hook)(nil)

// HookEvents are the callbacks of a [Hook]; each may be nil.
type HookEvents struct {
	// ClientClosed is called each time a command finds the client closed
	// ([redis.ErrClosed]), so that the client's owner can replace it.
	ClientClosed func()
	// Transition is called with the command's context when a command's
	// outcome changed the circuit's state (to put an event on its span).
	Transition func(ctx context.Context, from, to breaker.State)
	// Suspect is called when a command timed out, found the pool
	// saturated or failed on a closed circuit: the owner may confirm
	// whether Redis serves. It must return at once.
	Suspect func()
	// Failure is called with the command's context and error when the
	// circuit counted a command as a failure (breaker.Failure or breaker.Fatal), to
	// count it.
	Failure func(ctx context.Context, err error)
}

// NewHook returns a guarding [Hook] for one client.
func (b *Breaker) NewHook(ev HookEvents) *Hook {
	h := &Hook{b: b, ev: ev}
	h.bypass = &h.own
	return h
}

// NodeGuard returns the hook for the nodes of a cluster client whose
// cluster-level hook is h: it refuses while the circuit is not closed (the
// cluster's own commands, such as CLUSTER SLOTS, included) and, unless
// retries is true, turns a transport error or timeout into one that
// go-redis' ClusterClient does not retry, so that a command that may have
// run is not sent again and counts once. h restores the original error.
func (h *Hook) NodeGuard(retries bool) *Hook {
	return &Hook{b: h.b, bypass: h.bypass, node: true, retries: retries}
}

// SetBypass turns pass-through mode on or off. In pass-through mode commands
// are neither refused nor judged: a connect attempt that was admitted once
// through [Breaker.Allow] runs its handshake and PING this way and reports
// its own outcome, so that a half-open probe is not refused by its own
// circuit. A new Hook guards.
func (h *Hook) SetBypass(on bool) { h.bypass.Store(on) }

// DialHook defers dials while the circuit is not closed: go-redis dials in
// the background too (idle connections, a pool's redial, PubSub
// reconnects), and an open period must cost Redis no dial but the
// connector's probe. It returns a connection that dials only when it is
// first used with the circuit closed; see deferredConn.
//
// A dial that fails returns, instead of the error, a connection that
// fails with it when first used: the command that needed the connection
// fails with the dial's error all the same, but go-redis neither prints
// the failure through its process-wide logger (the connector logs its
// failures through Config.Logger) nor counts it towards its pool's
// dial-error limit; see failedConn.
func (h *Hook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if h.bypass.Load() || h.b.State() == breaker.Closed {
			nc, err := next(ctx, network, addr)
			if err != nil {
				return failedConn{err: &dialError{err}}, nil
			}
			return nc, nil
		}
		h.b.refusals.Add(1)
		return &deferredConn{b: h.b, dial: func(ctx context.Context) (net.Conn, error) {
			return next(ctx, network, addr)
		}}, nil
	}
}

// ProcessHook guards a single command.
func (h *Hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.bypass.Load() {
			return next(ctx, cmd)
		}
		if err := h.b.Refuse(); err != nil {
			cmd.SetErr(err)
			return err
		}
		handshake := isHandshake(cmd)
		if handshake {
			if ps, _ := ctx.Value(pipelineKey{}).(*pipelineState); ps != nil {
				return ps.handshake(ctx, cmd, next)
			}
		}
		if h.node {
			err := next(ctx, cmd)
			if h.stopsRetry(err) {
				err = &noRetryError{err: err}
				cmd.SetErr(err)
			}
			return err
		}
		if handshake {
			// A connection-initialisation command (HELLO, AUTH, …) that
			// go-redis runs through the hooks of the command that needed
			// the connection: that command is judged already.
			return next(ctx, cmd)
		}
		epoch := h.b.Epoch()
		err := next(ctx, cmd)
		if err == nil {
			h.b.Observe(epoch, breaker.Success)
			return nil
		}
		err = restore(err, cmd)
		h.judged(ctx, epoch, breaker.Classify(err), err)
		return err
	}
}

// ProcessPipelineHook guards a pipeline or transaction as one request,
// judged by every command's result.
func (h *Hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.bypass.Load() {
			return next(ctx, cmds)
		}
		if err := h.b.Refuse(); err != nil {
			for _, cmd := range cmds {
				cmd.SetErr(err)
			}
			return err
		}
		if h.node {
			return h.nodePipeline(ctx, cmds, next)
		}
		if allHandshake(cmds) {
			return next(ctx, cmds)
		}
		epoch := h.b.Epoch()
		pctx, cancel := context.WithCancelCause(ctx)
		ps := &pipelineState{cancel: cancel}
		pctx = context.WithValue(pctx, pipelineKey{}, ps)
		err := next(pctx, cmds)
		cancel(nil)
		if failed := ps.failed.Load(); failed != nil && ctx.Err() == nil && errors.Is(err, context.Canceled) {
			// go-redis stopped on the cancellation after the failed
			// handshake: the handshake's failure is the pipeline's.
			err = *failed
			for _, cmd := range cmds {
				if errors.Is(cmd.Err(), context.Canceled) {
					cmd.SetErr(err)
				}
			}
		}
		for _, cmd := range cmds {
			if e := cmd.Err(); e != nil {
				_ = restore(e, cmd)
			}
		}
		if err != nil {
			var nr *noRetryError
			if errors.As(err, &nr) {
				err = nr.err
			}
		}
		h.judged(ctx, epoch, judgeAll(cmds, err), err)
		return err
	}
}

// nodePipeline runs a cluster node's part of a pipeline. go-redis decides
// inside next which commands to send again; a retry of commands that
// already failed in transit is answered with that failure instead.
func (h *Hook) nodePipeline(ctx context.Context, cmds []redis.Cmder, next redis.ProcessPipelineHook) error {
	if !h.retries {
		for _, cmd := range cmds {
			var nr *noRetryError
			if errors.As(cmd.Err(), &nr) {
				return nr
			}
		}
	}
	err := next(ctx, cmds)
	if h.retries {
		return err
	}
	for _, cmd := range cmds {
		if e := cmd.Err(); h.stopsRetry(e) {
			cmd.SetErr(&noRetryError{err: e})
		}
	}
	if h.stopsRetry(err) {
		err = &noRetryError{err: err}
	}
	return err
}

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

func (ps *pipelineState) handshake(ctx context.Context, cmd redis.Cmder, next redis.ProcessHook) error {
	if err := ps.failed.Load(); err != nil {
		cmd.SetErr(*err)
		return *err
	}
	err := next(ctx, cmd)
	if o := breaker.Classify(err); o == breaker.Suspect || o == breaker.Failure {
		ps.failed.Store(&err)
		ps.cancel(err)
	}
	return err
}

// judged acts on a judged command or pipeline whose outcome is o and whose
// error is err (non-nil unless o is breaker.Success).
func (h *Hook) judged(ctx context.Context, epoch uint64, o breaker.Outcome, err error) {
	switch h.b.Observe(epoch, o) {
	case breaker.Suspect:
		if h.ev.Suspect != nil {
			h.ev.Suspect()
		}
	case breaker.Failure, breaker.Fatal:
		if h.ev.Failure != nil {
			h.ev.Failure(ctx, err)
		}
		after := h.b.State()
		if after != breaker.Closed && h.ev.Transition != nil {
			h.ev.Transition(ctx, breaker.Closed, after)
		}
		if after == breaker.Closed && h.ev.Suspect != nil {
			// Confirming a failure can open the circuit before
			// FailureThreshold failures in a row: at one request a second,
			// or when only one master of a cluster fails.
			h.ev.Suspect()
		}
	case breaker.Ignored:
		if h.ev.ClientClosed != nil && errors.Is(err, redis.ErrClosed) {
			h.ev.ClientClosed()
		}
	}
}

// stopsRetry reports whether a cluster node's error is one after which
// the command must not be sent again: a transport error or timeout (the
// command may have run), unless the URL allows retries.
func (h *Hook) stopsRetry(err error) bool {
	if h.retries || err == nil {
		return false
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		return false
	}
	o := breaker.Classify(err)
	return o == breaker.Failure || o == breaker.Suspect
}

// noRetryError carries a cluster node's transport error past go-redis'
// ClusterClient, which retries what it recognises as one: it does not
// unwrap. The cluster hook restores the original error.
type noRetryError struct{ err error }

func (e *noRetryError) Error() string { return e.err.Error() }

// restore returns err, or the original error if err is a node guard's
// noRetryError, which it also sets back on cmd.
func restore(err error, cmd redis.Cmder) error {
	var nr *noRetryError
	if errors.As(err, &nr) {
		cmd.SetErr(nr.err)
		return nr.err
	}
	return err
}

// isHandshake reports whether cmd is one that go-redis sends while
// initialising a new connection.
func isHandshake(cmd redis.Cmder) bool {
	args := cmd.Args()
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "hello", "auth", "select", "readonly", "client":
		return true
	}
	return false
}

func allHandshake(cmds []redis.Cmder) bool {
	for _, cmd := range cmds {
		if !isHandshake(cmd) {
			return false
		}
	}
	return len(cmds) > 0
}
