// Package breaker is the circuit breaker of redismw: a thin wrapper on
// github.com/sony/gobreaker/v2 that knows which Redis errors mean "Redis is
// unhealthy", guards every command of a go-redis client through a hook, and
// offers a lock-free view of its state for hot paths.
//
// A [Breaker] trips after [Settings.FailureThreshold] consecutive failures
// (default 5) and then refuses work at once, without network I/O, with an
// error that matches [ErrUnavailable] and carries a RetryAfter hint
// ([UnavailableError]). After the open period ([Settings.Timeout], default
// 5 s, randomly lengthened or shortened by up to 20 % so that a fleet does not
// probe in step) it lets exactly one request through; its success closes the
// circuit, its failure opens it again.
//
// [Classify] decides what counts: network errors, timeouts, pool timeouts and
// server states such as LOADING, MASTERDOWN, CLUSTERDOWN, READONLY or BUSY are
// failures; [redis.Nil] and ordinary error replies (WRONGTYPE, NOSCRIPT, ERR …)
// prove the server answered and count as successes; the caller's own
// cancellation is not counted at all.
//
// Most users never touch this package directly: the connector package builds
// a Breaker from [Settings] and installs its [Hook] on every client it makes.
package breaker
