// Package breaker is what users configure and read of redismw's circuit
// breaker (sony/gobreaker/v2 underneath, driven by the connector, which
// guards every command of its clients through a go-redis hook): its
// [Settings], its [State], how an error is judged ([Classify], [Outcome]),
// and the error of an unavailable Redis ([UnavailableError]).
//
// The circuit judges Redis, not its callers ([Classify] is the one place
// that decides; a connect attempt adds what its own PING alone knows):
//
//   - Failures: network errors and replies that say the server cannot
//     serve (LOADING, MASTERDOWN, CLUSTERDOWN, READONLY, BUSY, …). After
//     [Settings.FailureThreshold] in a row (default 5) the circuit opens.
//   - Fatal failures (refused credentials, an untrusted certificate) open
//     it at once.
//   - Suspicions: timeouts, whoever's deadline it was, and a saturated
//     pool. They prove nothing about Redis — the caller may have allowed
//     less time than the command needs, or the pool may be busy with
//     legitimate blocking commands — so they are not counted: the
//     connector confirms each with a PING of its own on a fresh
//     connection, bounded by read_timeout, and opens the circuit only if
//     Redis does not answer it. A hung Redis is so detected within
//     2 × read_timeout, at any traffic level.
//   - Never counted: the caller's cancellation or deadline, [redis.Nil],
//     ordinary error replies (WRONGTYPE, NOSCRIPT, NOPERM, ERR …), errors
//     and panics of user code.
//
// A pipeline or transaction is judged by every command's result; a
// command counts at most one failure.
//
// While the circuit is open, commands, pipelines and dials fail at once,
// without network I/O, with an error that matches [ErrUnavailable] and
// carries a RetryAfter hint ([UnavailableError]). Commands never probe:
// the connector does, with one connect attempt, when the open period ends.
// The open period grows while an outage lasts: [Settings.BaseTimeout]
// (default 100ms), doubled after each failed probe up to
// [Settings.Timeout] (default 5s), each randomly lengthened or shortened
// by up to 20 % so that a fleet does not probe in step. A successful probe
// closes the circuit; the next outage starts at BaseTimeout again.
//
// Users set [Settings] in connector.Config.Breaker; the connector builds
// the circuit from them and installs its hook on every client it makes.
package breaker
