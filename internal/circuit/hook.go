package circuit

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/admit"
	"github.com/ankitoon/redismw/internal/errkind"
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
	// Suspect is called with the command's error when what the command
	// met proves nothing by itself (a timeout, a saturated pool, a
	// network error, a refused new connection): the owner may confirm
	// whether Redis serves. It must return at once.
	Suspect func(err error)
	// Failure is called with the command's context and error when the
	// circuit counted a command as a failure (breaker.Failure or breaker.Fatal), to
	// count it.
	Failure func(ctx context.Context, err error)
	// Admit, if not nil, admits each command and pipeline the circuit lets
	// through (see admit.Limiter): one permit each, taken before the
	// command is sent, released when it ends. A refused command fails with
	// admit.Shed, which the circuit does not count. Blocking commands and
	// those that end a connection's state (see unlimited) take no permit;
	// the connector's own asks (Unjudged, Own) and commands whose context
	// is admit.Exempt never wait for one and are never refused.
	Admit *admit.Limiter
	// Idle, if not nil, reports whether the client's pool has an idle
	// connection: a command whose new connection Redis refused (at
	// maxclients) waits a little for one and runs on it (see Hook.again).
	Idle func() bool
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
		bypass := h.bypass.Load()
		if bypass || h.b.State() == breaker.Closed {
			if !bypass && !h.node {
				// (held takes a trial dial's turn)
				if err := h.b.held(); err != nil && (!pubSubDial() || !h.b.awaitTrial(ctx)) {
					return failedConn{err: &dialError{err}}, nil
				}
			}
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
	// go-redis builds each client's and each Conn's chain of hooks once:
	// tx is this one's (see openTx).
	tx := new(openTx)
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.bypass.Load() {
			return next(ctx, cmd)
		}
		if err := h.b.Refuse(); err != nil && !isOwn(ctx) {
			if leavesState(cmd) {
				discard(ctx, cmd, next)
			}
			cmd.SetErr(err)
			return err
		}
		handshake := isHandshake(cmd)
		if handshake {
			if ps, _ := ctx.Value(pipelineKey{}).(*pipelineState); ps != nil {
				return ps.handshake(ctx, cmd, next, h)
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
			return h.handshake(ctx, cmd, next)
		}
		if h.ev.Admit == nil {
			_, err := h.process(ctx, cmd, next, nil)
			return err
		}
		if unlimited(cmd) || tx.open.Load() {
			_, err := h.process(ctx, cmd, next, nil)
			tx.saw(cmd, err)
			return err
		}
		permit, err := h.ev.Admit.Acquire(ctx, exempt)
		if err != nil {
			cmd.SetErr(err)
			return err
		}
		panicked, waited := true, false
		// Released when the command ends, and on a panic in next (a
		// user's hook, OnConnect, a Dialer), unmeasured; so is a command
		// that waited for a connection (again).
		defer func() {
			h.ev.Admit.Release(permit, !panicked && answered(err), !panicked && !waited && measured(ctx, err))
		}()
		waited, err = h.process(ctx, cmd, next, &permit)
		panicked = false
		tx.saw(cmd, err)
		return err
	}
}

// process runs a judged command and judges its outcome. It reports
// whether the command waited for a connection after Redis refused a new
// one (see Hook.again): then its time says nothing of how fast Redis
// serves. permit is the command's, or nil if it took none.
func (h *Hook) process(ctx context.Context, cmd redis.Cmder, next redis.ProcessHook, permit *admit.Permit) (waited bool, err error) {
	epoch := h.b.Epoch()
	err = next(ctx, cmd)
	if err == nil {
		h.b.replied()
		h.b.Observe(epoch, breaker.Success)
		return false, nil
	}
	waited, err = h.again(ctx, cmd, next, restore(err, cmd), permit)
	switch errkind.Of(err) {
	case errkind.Reply, errkind.NilReply:
		h.b.replied()
	case errkind.Refused:
		h.b.refusedDial()
	}
	if !isUnjudged(ctx) {
		h.judged(ctx, epoch, breaker.Classify(err), err)
	}
	return waited, err
}

// ProcessPipelineHook guards a pipeline or transaction as one request,
// judged by every command's result.
func (h *Hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.bypass.Load() {
			return next(ctx, cmds)
		}
		if err := h.b.Refuse(); err != nil {
			return failAll(cmds, err)
		}
		if h.node {
			return h.nodePipeline(ctx, cmds, next)
		}
		if allHandshake(cmds) {
			return next(ctx, cmds)
		}
		if h.ev.Admit != nil {
			permit, err := h.ev.Admit.Acquire(ctx, exempt)
			if err != nil {
				return failAll(cmds, err)
			}
			panicked, waited := true, false
			defer func() { // a panic, or a wait for a connection: unmeasured
				h.ev.Admit.Release(permit, !panicked && answered(err), !panicked && !waited && measured(ctx, err))
			}()
			waited, err = h.processPipeline(ctx, cmds, next, &permit)
			panicked = false
			return err
		}
		_, err := h.processPipeline(ctx, cmds, next, nil)
		return err
	}
}

// failAll sets err on every command of a refused pipeline and returns it.
func failAll(cmds []redis.Cmder, err error) error {
	for _, cmd := range cmds {
		cmd.SetErr(err)
	}
	return err
}

// processPipeline runs a judged pipeline and judges its outcome. Like
// process, it reports whether the pipeline waited for a connection after
// Redis refused a new one (Hook.rerun); permit is its own, or nil.
func (h *Hook) processPipeline(ctx context.Context, cmds []redis.Cmder, next redis.ProcessPipelineHook, permit *admit.Permit) (waited bool, err error) {
	epoch := h.b.Epoch()
	pctx, cancel := context.WithCancelCause(ctx)
	ps := &pipelineState{cancel: cancel}
	pctx = context.WithValue(pctx, pipelineKey{}, ps)
	err = next(pctx, cmds)
	waited, err = h.rerun(ctx, err, permit, func() error {
		for _, cmd := range cmds { // none was sent
			cmd.SetErr(nil)
		}
		return next(pctx, cmds)
	})
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
			if u := unwrapUnsent(e); u != e {
				cmd.SetErr(u)
			}
			_ = restore(cmd.Err(), cmd)
		}
	}
	err = unwrapUnsent(err)
	if err != nil {
		var nr *noRetryError
		if errors.As(err, &nr) {
			err = nr.err
		}
	}
	if repliedTo(cmds, err) {
		h.b.replied()
	}
	h.judged(ctx, epoch, judgeAll(cmds, err), err)
	return waited, err
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

// judged acts on a judged command or pipeline whose outcome is o and whose
// error is err (non-nil unless o is breaker.Success). A command runs on a
// live client, so nothing it meets is fatal: refused credentials or an
// untrusted certificate on a new pooled connection (a password or a
// certificate rotated while the established connections serve) fail that
// command, as they would without this package, and raise a suspicion,
// which the connector's check decides like any other.
func (h *Hook) judged(ctx context.Context, epoch uint64, o breaker.Outcome, err error) {
	if o == breaker.Fatal {
		o = breaker.Suspect
	}
	switch h.b.Observe(epoch, o) {
	case breaker.Suspect:
		if h.ev.Suspect != nil {
			h.ev.Suspect(err)
		}
	case breaker.Failure:
		// Redis said it cannot serve (LOADING, BUSY …): counted, and
		// FailureThreshold in a row open the circuit.
		if h.ev.Failure != nil {
			h.ev.Failure(ctx, err)
		}
		if after := h.b.State(); after != breaker.Closed && h.ev.Transition != nil {
			h.ev.Transition(ctx, breaker.Closed, after)
		}
	case breaker.Ignored:
		if h.ev.ClientClosed != nil && errors.Is(err, redis.ErrClosed) {
			h.ev.ClientClosed()
		}
	}
}

// unjudgedKey marks a context whose commands the hooks run without judging
// their result: the connector's own check, which judges its PING itself.
// Its value is true when the circuit must not refuse them either (Own).
type unjudgedKey struct{}

// Unjudged returns a context whose commands a [Hook] does not judge (it
// still refuses them while the circuit is open): for the connector's
// check, which asks Redis on the connector's client and judges the answer
// itself. It costs a command nothing unless the command fails.
func Unjudged(ctx context.Context) context.Context {
	return context.WithValue(ctx, unjudgedKey{}, false)
}

// Own returns a context whose commands a [Hook] neither judges nor refuses:
// the connector's probe, which asks Redis on an idle established
// connection of the connector's client while the circuit is half-open. Its
// dials are still deferred (Hook.DialHook): it uses a connection the pool
// has, or none. It costs a command nothing unless the circuit is not
// closed or the command fails.
func Own(ctx context.Context) context.Context {
	return context.WithValue(ctx, unjudgedKey{}, true)
}

func isUnjudged(ctx context.Context) bool { return ctx.Value(unjudgedKey{}) != nil }

func isOwn(ctx context.Context) bool { own, _ := ctx.Value(unjudgedKey{}).(bool); return own }

// discard makes go-redis close the connection a refused command that
// ends a connection's state (see leavesState) was meant for, instead of
// putting it back into the pool with that state (a transaction's Close
// sends UNWATCH on the sticky connection that ran WATCH; a Conn's EXEC or
// DISCARD ends its MULTI, its SELECT returns it to its database): a
// refusal before go-redis touched that connection would leave the state
// for a later, unrelated command. Run with a context whose deadline has
// passed, the command writes nothing (its write deadline is in the past),
// and go-redis, seeing the timeout, discards the connection. A command
// that holds no connection yet fails to get one (the context has ended,
// so the pool hands out none) and sends nothing either. cmd's error is set
// by the caller.
func discard(ctx context.Context, cmd redis.Cmder, next redis.ProcessHook) {
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), time.Unix(0, 1))
	defer cancel()
	_ = next(ctx, cmd)
}

// leavesState reports whether cmd ends or changes a connection's state,
// whatever its case: UNWATCH, EXEC, DISCARD, SELECT, RESET. Refused, it
// would leave the state in place.
func leavesState(cmd redis.Cmder) bool {
	args := cmd.Args()
	if len(args) == 0 {
		return false
	}
	name, _ := args[0].(string)
	for _, s := range [...]string{"unwatch", "exec", "discard", "select", "reset"} {
		if strings.EqualFold(name, s) {
			return true
		}
	}
	return false
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
