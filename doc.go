// Package redismw puts a ready Redis client into each request of a net/http
// service, and keeps the service fast and honest while Redis is slow, down,
// restarting or hung.
//
// Wrap a handler with [Middleware] and read the client with [FromContext];
// mount readiness and liveness outside it:
//
//	c, err := connector.New(connector.Config{URL: os.Getenv("REDIS_URL")})
//	if err != nil {
//		log.Fatal(err)
//	}
//	app := http.NewServeMux() // the routes that use Redis
//	app.HandleFunc("GET /visits", func(w http.ResponseWriter, r *http.Request) {
//		rdb, _ := redismw.FromContext(r.Context())
//		n, err := rdb.Incr(r.Context(), "visits").Result()
//		…
//	})
//	mux := http.NewServeMux()
//	mux.Handle("GET /readyz", redismw.HealthHandler(c))                       // readiness
//	mux.HandleFunc("GET /livez", func(http.ResponseWriter, *http.Request) {}) // liveness
//	mux.Handle("/", redismw.Middleware(c)(app))
//	srv := &http.Server{Addr: addr, Handler: mux}
//	… // serve until SIGTERM, then:
//	_ = srv.Shutdown(ctx) // in-flight requests finish first
//	_ = c.Close()         // then the connector (not log.Fatal, which skips deferred calls)
//
// The client comes from a [connector.Connector]: once connected it is
// handed out with one atomic load; until then all requests share one
// bounded connect, each waiting at most its wait budget. While Redis is
// unusable (a circuit, package breaker, judges Redis — not its callers'
// deadlines — and opens on failures it has confirmed), requests are
// answered at once with 503, Retry-After and an RFC 9457 problem body
// ([WriteUnavailable]), or, with [WithFailOpen], passed to the handler
// without a client.
//
// Behind the middlewares of several connectors (a cache and a session
// store), a handler gets each connector's client with [ClientFor].
//
// Telemetry is OpenTelemetry's (package telemetry names it); go-redis'
// own measurements of command latency and pool waits are recorded by
// [CommandRecorder] once a program installs it with redis.SetOTelRecorder.
//
// [HealthHandler] is readiness, not liveness: its body says why Redis is
// down, with the Retry-After a request gets at that moment. Liveness must
// not depend on Redis: a process whose Redis is down is still alive, and
// restarting it would not bring Redis back.
//
// A command's error in a handler: [redis.Nil] is an answer (the key does
// not exist), not unavailability; for a timeout, a network error or an
// open circuit, [WriteUnavailable] answers as the middleware does. A 503
// after a timeout may mean a write was applied: make writes that clients
// retry idempotent (see the README, "Handling errors in handlers").
package redismw
