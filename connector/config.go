package connector

import (
	"crypto/tls"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/admit"
	"github.com/ankitoon/redismw/internal/zero"
)

// Config configures a [Connector]. Only URL (or Options) is required; every other field
// documents its default, which its zero value selects.
type Config struct {
	// URL locates the Redis server, in go-redis' ParseURL form:
	//
	//	redis://[[user]:password@]host[:port][/db][?option=value&…]
	//	rediss://…  (TLS, server certificate verified)
	//	unix://[[user]:password@]/path/to/redis.sock[?db=n&…]
	//
	// Query options are go-redis' (dial_timeout, read_timeout,
	// write_timeout, pool_size, pool_timeout, max_retries, …), with these
	// exceptions, which keep one connect attempt one attempt:
	//
	//   - go-redis dials once per connection request (its DialerRetries is
	//     set to 1); the connector's attempts and the circuit do the rest.
	//   - Context deadlines bound every command and handshake
	//     (ContextTimeoutEnabled).
	//   - Commands are not retried unless max_retries is set to a positive
	//     number: a retry after a lost reply would apply a non-idempotent
	//     command (INCR, LPUSH …) twice. This holds for a cluster too:
	//     after a timeout or a network error go-redis' ClusterClient does
	//     not send the command again (MOVED, ASK, TRYAGAIN, CLUSTERDOWN and
	//     READONLY redirections are still followed, within max_redirects).
	//   - dial_timeout defaults to AttemptTimeout.
	//
	// A URL with addr= parameters is a Redis Cluster (go-redis'
	// ParseClusterURL: the host and every addr= are seeds):
	//
	//	redis://:password@10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000
	//
	// and one with master_name= a Sentinel-managed master (ParseFailoverURL:
	// the host and every addr= are sentinels, the userinfo their
	// credentials, username= and password= the master's):
	//
	//	redis://10.0.0.1:26379/0?master_name=mymaster&addr=10.0.0.2:26379&password=secret
	//
	// Either URL or Options is required, not both.
	URL string

	// Options, instead of URL, configures the deployment with go-redis'
	// UniversalOptions, read the way redis.NewUniversalClient reads them:
	// MasterName means Sentinel, several Addrs or IsClusterMode a cluster,
	// otherwise one server. The connector's rules (see URL) apply to them.
	Options *redis.UniversalOptions

	// TLSConfig, if not nil, is the TLS configuration of every connection,
	// and turns TLS on: a custom CA (RootCAs), client certificates
	// (Certificates), the server name to verify. A certificate the client
	// cannot verify fails the connect at once, without retries.
	//
	// Default: what the URL says: rediss:// verifies the server against the
	// system's roots.
	TLSConfig *tls.Config

	// AttemptTimeout bounds one connect attempt: dial, handshake and PING.
	//
	// Default: 2s.
	AttemptTimeout time.Duration

	// MaxAttempts is how many attempts one connect makes before it gives up.
	//
	// Default: 3.
	MaxAttempts int

	// Backoff returns the pause after failed attempt number attempt,
	// starting at 0 (the pause between the first and the second attempt).
	//
	// Default: exponential with full jitter: a random duration in
	// [0, min(2s, 100ms × 2^attempt)).
	Backoff func(attempt int) time.Duration

	// Breaker configures the circuit that guards connects and commands.
	// Its zero value trips after 5 consecutive failures (or one that the
	// connector's own PING confirms), and stays open for 100ms at first,
	// doubling after each failed probe up to 5s, ± 20 %.
	Breaker breaker.Settings

	// Overload configures adaptive load shedding: when Redis serves more
	// slowly than commands arrive, only as many commands wait for it at
	// once as it serves in time, and the excess is refused at once with
	// [ErrOverloaded]. Its zero value sheds, with the defaults of
	// [OverloadSettings].
	Overload OverloadSettings

	// Logger receives one line per connect outcome and per circuit
	// transition. Passwords never appear in it.
	//
	// Default: slog.Default().
	Logger *slog.Logger

	// OnNewClient, if not nil, is called with every client the connector
	// makes, before its first command: to instrument it with go-redis'
	// extra/redisotel, say. Hooks it adds run before the circuit's, so they
	// see refused commands too. An error fails the connect attempt. The
	// connector makes a new client per connect attempt. Besides the
	// attempt's PING, they see the PINGs of a first connect's warm-up (one
	// per caller waiting, up to the pool's size: see the package
	// documentation).
	OnNewClient func(redis.UniversalClient) error

	// TracerProvider makes the redis.connect spans.
	//
	// Default: otel.GetTracerProvider().
	TracerProvider trace.TracerProvider

	// MeterProvider makes the connect, circuit and pool metrics (see
	// package telemetry).
	//
	// Default: otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
}

// OverloadSettings configure adaptive load shedding ([Config.Overload]).
//
// Every command (a pipeline or transaction is one) takes a permit before
// it is sent. How many permits there are adapts to how fast Redis serves
// now: the limit shrinks while the latency of what it admits rises above
// its usual level and grows while it does not (failsafe-go's
// adaptivelimiter), between 2 and the pool's size, starting at 10. A
// command that finds none free waits for one, MaxWait at a time, for as
// long as the queue does not grow (up to read_timeout): many callers
// taking turns (workers, a load test's users, a slow network with a small
// pool) and bursts wait, as they would for go-redis' pool. When commands
// arrive faster than permits come back, the queue grows without end:
// that is overload, and a command that has waited MaxWait is refused with
// [ErrOverloaded]. While commands wait and Redis answers none of those admitted
// for twice its recent slowest command (at least 20 ms) two times running,
// every waiting and arriving command is refused at once (and the
// middleware refuses requests before their handlers run). Nothing is
// refused for a second after a client is published or the circuit closes.
// Blocking
// commands (BLPOP, XREAD … BLOCK, WAIT …), the connector's own checks and
// HealthHandler's probe never wait for a permit and are never refused.
// A refused command costs no network I/O and never counts toward the
// circuit.
type OverloadSettings struct {
	// Disable turns load shedding off: every command waits for Redis (and
	// for a free pooled connection, up to pool_timeout) as it would with
	// go-redis alone.
	Disable bool

	// MaxWait is how long a command waits for a permit before it is
	// refused in an overloaded (growing) queue.
	//
	// Default: 40ms.
	MaxWait time.Duration
}

const (
	defaultAttemptTimeout = 2 * time.Second
	defaultMaxAttempts    = 3
	backoffBase           = 100 * time.Millisecond
	backoffCap            = 2 * time.Second
)

// withDefaults returns cfg with every zero field set to its default, or an
// error naming the first invalid field.
func (cfg Config) withDefaults() (Config, error) {
	var err error
	if cfg.AttemptTimeout, err = zero.Value("connector.Config.AttemptTimeout", cfg.AttemptTimeout, defaultAttemptTimeout); err != nil {
		return cfg, err
	}
	if cfg.MaxAttempts, err = zero.Value("connector.Config.MaxAttempts", cfg.MaxAttempts, defaultMaxAttempts); err != nil {
		return cfg, err
	}
	if cfg.Overload.MaxWait, err = zero.Value("connector.Config.Overload.MaxWait", cfg.Overload.MaxWait, admit.DefaultMaxWait); err != nil {
		return cfg, err
	}
	if cfg.Backoff == nil {
		cfg.Backoff = FullJitter(backoffBase, backoffCap)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// FullJitter returns the backoff "exponential with full jitter": after
// failed attempt n (from 0) it pauses a random duration in
// [0, min(limit, base × 2^n)). It is the default [Config.Backoff], with base
// 100ms and limit 2s.
func FullJitter(base, limit time.Duration) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		ceiling := limit
		if attempt >= 0 && attempt < 32 && base<<attempt > 0 && base<<attempt < limit {
			ceiling = base << attempt
		}
		if ceiling <= 0 {
			return 0
		}
		return rand.N(ceiling)
	}
}
