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
//	defer c.Close()
//	app := http.NewServeMux() // the routes that use Redis
//	app.HandleFunc("GET /visits", func(w http.ResponseWriter, r *http.Request) {
//		rdb, _ := redismw.FromContext(r.Context())
//		n, err := rdb.Incr(r.Context(), "visits").Result()
//		…
//	})
//	mux := http.NewServeMux()
//	mux.Handle("GET /healthz", redismw.HealthHandler(c))
//	mux.HandleFunc("GET /livez", func(http.ResponseWriter, *http.Request) {})
//	mux.Handle("/", redismw.Middleware(c)(app))
//	log.Fatal(http.ListenAndServe(addr, mux))
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
// [HealthHandler] is a readiness endpoint with a cached probe. Liveness must
// not depend on Redis: a process whose Redis is down is still alive, and
// restarting it would not bring Redis back.
package redismw
