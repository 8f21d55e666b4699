package connector

import (
	"context"
	"time"

	"github.com/ankitoon/redismw/internal/admit"
)

// newLimiter makes the connector's admission (Config.Overload): shared by
// every client it makes, its limit at most the pool's size (a cluster's
// pools are per node: at most 200), its episodes logged.
func (c *Connector) newLimiter(dep *deployment) *admit.Limiter {
	limit := c.poolSize
	if dep.kind == cluster {
		limit = max(limit, 200)
	}
	return admit.New(admit.Settings{
		MaxWait:  c.cfg.Overload.MaxWait,
		LongWait: dep.checkTimeout(c.cfg.AttemptTimeout), // read_timeout: pool_timeout's default
		MaxLimit: limit,
		Started: func(limit, inflight int) {
			c.logs.post(func() {
				c.log.Warn("redismw: redis overloaded: shedding started", "limit", limit, "inflight", inflight)
			})
		},
		Stopped: func(shed uint64, lasted time.Duration) {
			c.logs.post(func() {
				c.log.Info("redismw: shedding stopped", "shed", shed, "lasted", lasted)
			})
		},
	})
}

// Admit tells whether a request arriving now may go on to use Redis: nil,
// or — while c is shedding load and Redis has stopped answering what it
// admitted (a hang before the circuit opens), so that a command sent now
// would be refused at once — the error it is refused
// with: an [*UnavailableError] whose cause is [ErrOverloaded], with
// RetryAfter 1s. A refusal counts as shed (Stats.Shed) and puts the event
// redismw.overload.shed on ctx's span. [redismw.Middleware] asks it
// before each request, so that a request that would be shed is refused
// before its handler runs; a server of another kind (gRPC, a queue
// consumer) may ask it too. It is one atomic load unless a shedding
// episode is under way, and always nil when shedding is disabled.
func (c *Connector) Admit(ctx context.Context) error {
	if c.adm == nil || !c.adm.Shedding() {
		return nil
	}
	return c.adm.Refuse(ctx)
}
