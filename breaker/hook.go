package breaker

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Hook is a go-redis hook that guards one client's commands with a
// [Breaker]: while the circuit is not closed, commands and pipelines fail at
// once with an [*UnavailableError] and never touch the network; otherwise
// each one is admitted and its outcome reported ([Classify]).
//
// Get one with [Breaker.NewHook] and install it with the client's AddHook.
type Hook struct {
	b            *Breaker
	onClosed     func()
	onTransition func(ctx context.Context, from, to State)
	bypass       atomic.Bool
}

var _ redis.Hook = (*Hook)(nil)

// NewHook returns a guarding [Hook] for one client. onClientClosed, if not
// nil, is called each time a command finds the client closed
// ([redis.ErrClosed]), so that the client's owner can replace it.
// onTransition, if not nil, is called with the command's context when a
// command's outcome changed the circuit's state (to put an event on the
// command's span, say).
func (b *Breaker) NewHook(onClientClosed func(), onTransition func(ctx context.Context, from, to State)) *Hook {
	return &Hook{b: b, onClosed: onClientClosed, onTransition: onTransition}
}

// SetBypass turns pass-through mode on or off. In pass-through mode commands
// are neither refused nor counted: a connect attempt that was admitted once
// through [Breaker.Allow] runs its handshake and PING this way and reports
// its own outcome, so that a half-open probe is not refused by its own
// circuit. A new Hook guards.
func (h *Hook) SetBypass(on bool) { h.bypass.Store(on) }

// DialHook returns next unchanged: dial failures reach the breaker as the
// errors of the commands that needed the connection.
func (h *Hook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook guards a single command.
func (h *Hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.bypass.Load() {
			return next(ctx, cmd)
		}
		if isHandshake(cmd) {
			return h.handshake(ctx, cmd, next)
		}
		before := h.b.State()
		err := h.b.Do(func() error { return next(ctx, cmd) })
		if err != nil {
			h.failed(ctx, before, err, cmd)
		}
		return err
	}
}

// ProcessPipelineHook guards a pipeline or transaction as one request.
func (h *Hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.bypass.Load() {
			return next(ctx, cmds)
		}
		if allHandshake(cmds) {
			if err := h.b.Refuse(); err != nil {
				for _, cmd := range cmds {
					cmd.SetErr(err)
				}
				return err
			}
			return next(ctx, cmds)
		}
		before := h.b.State()
		err := h.b.Do(func() error { return next(ctx, cmds) })
		if err != nil {
			h.failed(ctx, before, err, cmds...)
		}
		return err
	}
}

// handshake runs a connection-initialisation command (HELLO, AUTH, …) that
// go-redis issues through the hooks of the command that needed a new
// connection. That command is admitted and counted already; counting its
// handshake too would count one failure twice.
func (h *Hook) handshake(ctx context.Context, cmd redis.Cmder, next redis.ProcessHook) error {
	if err := h.b.Refuse(); err != nil {
		cmd.SetErr(err)
		return err
	}
	return next(ctx, cmd)
}

// failed handles the error of a command or pipeline: a transition it
// caused is reported, a refusal is set on every command (go-redis did not
// run them), and a closed client is reported to its owner. (Only a failure
// can open the circuit, and a command on a closed circuit cannot close it.)
func (h *Hook) failed(ctx context.Context, before State, err error, cmds ...redis.Cmder) {
	if after := h.b.State(); after != before && h.onTransition != nil {
		h.onTransition(ctx, before, after)
	}
	switch {
	case errors.Is(err, ErrUnavailable):
		for _, cmd := range cmds {
			cmd.SetErr(err)
		}
	case h.onClosed != nil && errors.Is(err, redis.ErrClosed):
		h.onClosed()
	}
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
