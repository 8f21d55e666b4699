// Package connector hands out one ready go-redis client per Redis
// deployment, and keeps a service fast and honest while Redis is slow, down,
// restarting or hung.
//
// Create a [Connector] once, from a [Config] or from the environment
// ([ConfigFromEnv] reads REDIS_URL), and ask it for a client whenever you
// need one:
//
//	c, err := connector.New(connector.Config{URL: "redis://localhost:6379/0"})
//	if err != nil { … }     // a bad URL; New never dials
//	defer c.Close()
//	…
//	rdb, err := c.Client(ctx)
//	if errors.Is(err, connector.ErrUnavailable) { … } // answer 503, retry later
//
// What it guarantees:
//
//   - Once ready, Client returns the same client with one atomic load.
//   - Otherwise exactly one connect is in flight, whatever the number of
//     callers, and all of them share its result. It runs detached from
//     them: a caller whose context ends leaves at once, the connect goes
//     on. It makes at most [Config.MaxAttempts] attempts (default 3), each
//     bounded by [Config.AttemptTimeout] (default 2s: dial, handshake and
//     PING), with exponential backoff and full jitter between them.
//     go-redis is configured so that its own retries do not multiply them.
//     A first connect warms the pool: while its attempt runs it dials, with
//     a PING each, one pooled connection per caller waiting beyond the
//     first, up to the pool's size, so that the callers' first commands
//     find them ready (a lone caller dials once; a cluster is not warmed).
//   - A circuit (package breaker, on sony/gobreaker) judges Redis, not its
//     callers, and asks whether Redis serves the connections this service
//     has, not whether a new one can be made. Failed connect attempts and
//     replies in which Redis says it cannot serve (LOADING, BUSY,
//     MASTERDOWN, CLUSTERDOWN) count; 5 in a row open it. What one command
//     meets proves nothing by itself — a timeout (its caller's deadline or
//     read_timeout), a saturated pool, a network error (a killed
//     connection, a stale Conn), a new connection refused by Redis (max
//     number of clients, WRONGPASS after a password rotation) — so it only
//     raises a suspicion, which the connector checks with a PING on an
//     idle connection of its client and one on a fresh connection, each
//     round trip bounded by read_timeout: any answer, an error reply
//     included, dismisses it; no answer opens the circuit at once. So a
//     healthy Redis never opens it, whatever its callers do, and a hung,
//     killed or partitioned one opens it within 2 × read_timeout, even at
//     one request at a time. Write refusals (READONLY, NOREPLICAS) are
//     answers: a replica keeps serving reads. A connect attempt is judged
//     on its readiness PING: a timeout there is the attempt's own
//     deadline, so a failure; for a connect that has no client yet,
//     refused credentials, an untrusted certificate, NOPERM on what the
//     configuration needs (SELECT of the URL's database; NOPERM for PING
//     itself counts as ready) and a TLS URL against a plain-RESP server
//     are fatal: not retried, the circuit opens at once.
//   - While the circuit is open, Client and every command on the client
//     fail at once, without network I/O, with an [*UnavailableError]
//     carrying RetryAfter. The connector probes on its own when the open
//     period ends — 100ms at first, doubling while the outage lasts, up to
//     5s ± 20 % — with one connect attempt; its success closes the
//     circuit. The client lives across outages: a worker or a PubSub
//     subscriber may keep it, and replies that arrive within their
//     deadline are delivered even if the circuit opened meanwhile.
//   - Nothing can leave it stuck: after an error, a timeout or a panic the
//     next call may connect again; a client closed by user code is
//     replaced; [Connector.Close] ends everything and leaves no goroutine.
//   - No password appears in any error, log line or [Stats].
//
// How long a hang costs: a command to a Redis that accepts but never
// answers waits its read_timeout — go-redis' default, 5s, unless the URL
// sets it (?read_timeout=500ms) — and the connector's check gives Redis
// one more read_timeout. With the defaults the circuit opens within 10s
// (2 × read_timeout) of the hang; until then each command sent to it
// waits up to 5s before it fails, and from then on calls and commands fail
// at once. Set read_timeout just above your slowest legitimate command to
// shorten both; blocking commands (BLPOP key 30) get their block time on
// top of it.
package connector
