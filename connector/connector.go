package connector

// This file holds the Connector itself: its state, New, the ready path
// (Client, Ready) and Close. The rest follows the data:
//
//   - connect.go: the shared connect — one in flight, joined by every
//     caller, detached from them, its attempts and backoff;
//   - attempt.go: one connect attempt — its client, the warm-up of a
//     first connect's pool, its judgement, adoption of its client;
//   - check.go: what happens when a command times out or fails — the
//     connector's check, which confirms or dismisses a suspicion;
//   - probe.go: what happens when the circuit opens and when its open
//     period ends — ready follows the circuit, the probe;
//   - stats.go: the counters behind Stats;
//   - deployment.go, config.go, env.go: what the clients are made from;
//   - greeting.go: how a check reads a reply Redis wrote before it closed
//     a new connection (maxclients);
//   - names.go: the connector's unique name;
//   - notify.go, redact.go, errors.go: log lines and callbacks off the
//     locks, secrets kept out, the errors callers get.

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/admit"
	"github.com/ankitoon/redismw/internal/circuit"
	"github.com/ankitoon/redismw/internal/instrument"
)

// Connector hands out one ready Redis client, connecting on demand. It is
// safe for concurrent use; see the package documentation for its
// guarantees.
type Connector struct {
	cfg      Config
	dep      *deployment // makes the clients
	name     string      // unique in the process: db.client.connection.pool.name
	poolSize int         // the pool's size (a cluster's, per node)
	brk      *circuit.Breaker
	adm      *admit.Limiter // nil when Config.Overload.Disable
	log      *slog.Logger
	tel      *instrument.Connector

	// logs writes the log lines, and callbacks runs the user's
	// OnStateChange, each in order on a goroutine of its own that holds no
	// lock: a slow callback does not hold the log lines back.
	logs, callbacks notifier

	// ready is the client Client returns at once: the connector's client
	// while the circuit is closed, nil otherwise. Only refreshLocked
	// writes it.
	ready atomic.Pointer[handle]

	// ctx ends when Close is called, under mu: it is the one record that
	// the connector is closed (isClosed). Connects and checks run under it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the connector's own goroutines (spawn)
	// own holds the ids of the connector's own goroutines while they run:
	// Close called from one of them (from user code they run, such as
	// OnNewClient or a hook) cannot wait for it.
	own sync.Map

	// mu guards the fields below. Lock order: gobreaker's lock (held
	// while the circuit changes state, see onTransition), then mu: never
	// call into the breaker's Allow, Report or Trip with mu held.
	mu sync.Mutex
	// client is the connector's client, kept across outages (its hook
	// refuses commands while the circuit is open); nil before the first
	// connect, after Close, and once its user closed it. Only
	// setClientLocked writes it.
	client *handle
	// inflight is the shared connect, nil when none; written under mu,
	// read without it by callers joining a connect under way.
	inflight atomic.Pointer[call]
	trying   redis.UniversalClient              // the client of the attempt under way
	checking map[redis.UniversalClient]struct{} // the fresh clients of checks under way
	probe    *time.Timer                        // the next probe, armed while the circuit is open; nil when none is

	// The checks (check.go): checks is 0 when no check runs, 1 while one
	// runs, 2 while one runs and another was asked for.
	checks    atomic.Int32
	urgent    atomic.Bool   // a network error asked for a check: it starts at once
	wake      chan struct{} // wakes a check loop waiting for its interval
	lastCheck time.Time     // when the last check started; only the check goroutine uses it
	// lastAnswered is when the last check that found Redis answering
	// started; only the check goroutine uses it.
	lastAnswered time.Time

	openedAt atomic.Int64 // when the circuit last left Closed (unix ns); probe.go

	// lastFailure is the last failure of Redis itself, what a caller gets
	// while an outage is under way (see wait): an error of user code does
	// not replace it. It is redacted before it is stored.
	lastFailure atomic.Pointer[error]

	counters // behind Stats (stats.go)
}

// handle is a client together with the hook that guards it.
type handle struct {
	client redis.UniversalClient
	hook   *circuit.Hook
}

// New validates cfg and returns a Connector. It does no network I/O: the
// first [Connector.Client] call connects. The error for a bad Config names
// the problem and never contains the URL's password.
func New(cfg Config) (*Connector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	dep, err := newDeployment(cfg)
	if err != nil {
		return nil, err
	}
	c := &Connector{cfg: cfg, dep: dep}
	bs := cfg.Breaker
	base := bs.Name
	if base == "" {
		base = dep.poolName()
	}
	c.name = claimName(base)
	bs.Name = c.name
	server := dep.server()
	server.PoolName = c.name
	c.log = cfg.Logger.With(logAttrs(server)...)
	userChange := bs.OnStateChange
	bs.OnStateChange = func(name string, from, to breaker.State) {
		c.onTransition(from, to)
		if userChange != nil {
			c.callbacks.post(func() { userChange(name, from, to) })
		}
	}
	if c.brk, err = circuit.New(bs); err != nil {
		return nil, err
	}
	size, idleMax, idleMin := dep.pool()
	c.poolSize = size
	if dep.kind == cluster {
		size = 0 // per node, while a cluster's statistics sum every node: not observed
	}
	c.tel = instrument.NewConnector(cfg.TracerProvider, cfg.MeterProvider, server, c.health, instrument.Pool{
		Stats:   c.poolStats,
		Max:     size,
		IdleMax: idleMax,
		IdleMin: idleMin,
	})
	if !cfg.Overload.Disable {
		c.adm = c.newLimiter(dep)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wake = make(chan struct{}, 1)
	return c, nil
}

// poolStats returns the pool statistics of the connector's client, or nil.
func (c *Connector) poolStats() *redis.PoolStats {
	c.mu.Lock()
	h := c.client
	c.mu.Unlock()
	if h != nil {
		return h.client.PoolStats()
	}
	return nil
}

// Client returns the ready client, connecting first if there is none.
//
// On a ready connector with a closed circuit it returns the same client
// every time, with one atomic load: no lock, no allocation. Before the
// first connect, all concurrent callers share one connect, which runs
// detached from them: a caller whose ctx ends returns ctx's error at once
// and the connect goes on for the others. Callers wait for its first
// attempt only: once an attempt has failed, the callers waiting get its
// failure and later ones get it at once, while the connect goes on with
// its attempts in the background. Likewise nobody waits on a new connect
// while Redis has failed since its last success. While the circuit is open, or
// its probe is in flight, Client fails at once with an [*UnavailableError]
// (see [ErrUnavailable]): the connector probes Redis on its own when the
// open period ends. After [Connector.Close] it returns [ErrClosed].
//
// The client lives across outages: while the circuit is open its commands
// fail at once with an error matching ErrUnavailable, and once the circuit
// closes they work again, so a long-lived holder (a worker, a PubSub
// subscriber) may keep it. A client closed by its user is replaced once a
// command on it has failed with [redis.ErrClosed].
func (c *Connector) Client(ctx context.Context) (redis.UniversalClient, error) {
	if h := c.ready.Load(); h != nil {
		return h.client, nil
	}
	return c.wait(ctx)
}

// Ready returns the ready client itself — not a yes/no answer — and true,
// or nil and false when there is none (before the first connect, while
// the circuit is open, after Close). It never connects and never waits,
// and costs what Client's fast path costs: use it where a caller must not
// wait, and Client otherwise.
func (c *Connector) Ready() (redis.UniversalClient, bool) {
	if h := c.ready.Load(); h != nil {
		return h.client, true
	}
	return nil, false
}

// isClosed reports whether Close was called; it takes no lock.
func (c *Connector) isClosed() bool { return c.ctx.Err() != nil }

// setClientLocked makes h (nil for none) the connector's client, and
// ready follow. c.mu must be held.
func (c *Connector) setClientLocked(h *handle) {
	c.client = h
	c.refreshLocked()
}

// refreshLocked sets ready from the facts it derives from: the connector's
// client, the circuit's state and Close. c.mu must be held.
func (c *Connector) refreshLocked() {
	if c.client != nil && !c.isClosed() && c.brk.State() == breaker.Closed {
		if c.ready.Swap(c.client) != c.client && c.adm != nil {
			c.adm.Restart() // a new client, or Redis back: learn afresh
		}
		return
	}
	c.ready.Store(nil)
}

// invalidate forgets h if it is the connector's client: its user closed it.
func (c *Connector) invalidate(h *handle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == h {
		c.setClientLocked(nil)
	}
}

// Close stops the connector: it ends the connect or check under way
// (closing the client of an attempt blocked on a hung server), closes the
// connector's client, and returns once no goroutine of the connector is
// left. Waiting callers and later calls get [ErrClosed]. Close is
// idempotent and may be called from user code the connector runs (a
// Breaker.OnStateChange callback, the Logger, OnNewClient, a hook): called
// from the connector's own goroutine, it cannot wait for that goroutine,
// so it returns at once and the rest (closing the client, the last log
// lines) follows when the goroutine ends. It returns the error of closing
// the client, if any.
func (c *Connector) Close() error {
	c.mu.Lock()
	if c.isClosed() {
		c.mu.Unlock()
		return nil
	}
	c.cancel()
	if c.probe != nil {
		c.probe.Stop()
	}
	pending := []redis.UniversalClient{c.trying}
	for client := range c.checking {
		pending = append(pending, client)
	}
	h := c.client
	c.setClientLocked(nil)
	c.mu.Unlock()

	for _, client := range pending {
		if client != nil {
			_ = client.Close() // unblocks a read that honours only deadlines
		}
	}
	if _, self := c.own.Load(goid()); self {
		go func() { _ = c.finishClose(h) }()
		return nil
	}
	return c.finishClose(h)
}

// finishClose waits for the connector's goroutines to end, then releases
// the rest: the name, the notifiers, the instruments and the client h.
func (c *Connector) finishClose(h *handle) error {
	c.wg.Wait()
	if c.adm != nil {
		c.adm.Close()
	}
	releaseName(c.name)
	c.logs.stop()
	c.callbacks.stop()
	c.tel.Close()
	if h != nil {
		return h.client.Close()
	}
	return nil
}

// spawn runs f on a goroutine of the connector's own, which Close waits
// for, unless Close is called from it.
func (c *Connector) spawn(f func()) {
	c.wg.Go(func() {
		id := goid()
		c.own.Store(id, struct{}{})
		defer c.own.Delete(id)
		f()
	})
}
