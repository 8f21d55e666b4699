package redismw_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// A handler wrapped with the middleware finds a ready client in its
// request's context.
func ExampleMiddleware() {
	mr := miniredis.NewMiniRedis() // an in-process Redis stands in for yours
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()

	c, err := connector.New(connector.Config{URL: "redis://" + mr.Addr(), Logger: discard})
	if err != nil {
		panic(err)
	}
	defer func() { _ = c.Close() }()

	visits := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rdb, _ := redismw.FromContext(r.Context())
		n, err := rdb.Incr(r.Context(), "visits").Result()
		if err != nil {
			redismw.WriteUnavailable(w, r, err)
			return
		}
		fmt.Fprintf(w, "visit %d", n)
	})
	h := redismw.Middleware(c)(visits)

	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/visits", nil))
		fmt.Println(rec.Code, rec.Body)
	}
	// Output:
	// 200 visit 1
	// 200 visit 2
}

// While Redis is unavailable, a fail-closed middleware answers 503 with
// Retry-After and a generic problem body, without calling the handler.
func ExampleMiddleware_unavailable() {
	c := unavailableConnector()
	defer func() { _ = c.Close() }()
	h := redismw.Middleware(c)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		fmt.Println("not called")
	}))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/visits", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Retry-After") != "")
	fmt.Print(rec.Body)
	// Output:
	// 503 application/problem+json true
	// {"type":"about:blank","title":"Service Unavailable","status":503,"detail":"A backing service is temporarily unavailable. Please retry later."}
}

// FromContext finds the client the middleware, or NewContext, put there.
func ExampleFromContext() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}) // no I/O until used
	defer func() { _ = rdb.Close() }()

	ctx := redismw.NewContext(context.Background(), rdb)
	got, ok := redismw.FromContext(ctx)
	fmt.Println(ok, got == redis.UniversalClient(rdb))

	_, ok = redismw.FromContext(context.Background())
	fmt.Println(ok)
	// Output:
	// true true
	// false
}

// HealthHandler is a readiness endpoint: 503, "down" and the reason while
// Redis is unavailable, 200 and "up" when it answers.
func ExampleHealthHandler() {
	c := unavailableConnector()
	defer func() { _ = c.Close() }()

	rec := httptest.NewRecorder()
	redismw.HealthHandler(c).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var body struct{ Status, Reason, Circuit string }
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	fmt.Println(rec.Code, body.Status, body.Reason, body.Circuit)
	// Output:
	// 503 down circuit_open open
}

// A service with two Redis deployments, a cache and a session store, has
// two connectors and two middlewares in one handler chain; each handler
// asks for the client it needs with ClientFor.
func ExampleClientFor() {
	cacheRedis, sessionRedis := miniredis.NewMiniRedis(), miniredis.NewMiniRedis()
	for _, mr := range []*miniredis.Miniredis{cacheRedis, sessionRedis} {
		if err := mr.Start(); err != nil {
			panic(err)
		}
		defer mr.Close()
	}
	cache, err := connector.New(connector.Config{URL: "redis://" + cacheRedis.Addr(), Logger: discard,
		Breaker: breaker.Settings{Name: "cache"}})
	if err != nil {
		panic(err)
	}
	defer func() { _ = cache.Close() }()
	sessions, err := connector.New(connector.Config{URL: "redis://" + sessionRedis.Addr(), Logger: discard,
		Breaker: breaker.Settings{Name: "sessions"}})
	if err != nil {
		panic(err)
	}
	defer func() { _ = sessions.Close() }()

	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, _ := redismw.ClientFor(r.Context(), sessions)
		user, err := sess.Get(r.Context(), "session:"+r.URL.Query().Get("sid")).Result()
		if err != nil {
			redismw.WriteUnavailable(w, r, err)
			return
		}
		cached, _ := redismw.ClientFor(r.Context(), cache)
		n, err := cached.Incr(r.Context(), "views:"+user).Result()
		if err != nil {
			redismw.WriteUnavailable(w, r, err)
			return
		}
		fmt.Fprintf(w, "%s has seen %d pages", user, n)
	})
	handler := redismw.Middleware(sessions)(redismw.Middleware(cache)(page))

	if err := sessionRedis.Set("session:42", "ada"); err != nil {
		panic(err)
	}
	for range 2 {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("GET", "/page?sid=42", nil))
		fmt.Println(rec.Code, rec.Body.String())
	}
	fmt.Println("views in the session store:", sessionRedis.Exists("views:ada"), "; in the cache:", cacheRedis.Exists("views:ada"))
	// Output:
	// 200 ada has seen 1 pages
	// 200 ada has seen 2 pages
	// views in the session store: false ; in the cache: true
}

// unavailableConnector is a connector whose Redis refuses: its first
// connect fails and opens the circuit.
func unavailableConnector() *connector.Connector {
	c, err := connector.New(connector.Config{
		URL:         "redis://127.0.0.1:1", // nothing listens there
		MaxAttempts: 1,
		Breaker:     breaker.Settings{FailureThreshold: 1},
		Logger:      discard,
	})
	if err != nil {
		panic(err)
	}
	return c
}

// With WithFailOpen the handler runs without a client while Redis is
// unavailable, and degrades as it sees fit.
func ExampleWithFailOpen() {
	c := unavailableConnector()
	defer func() { _ = c.Close() }()
	h := redismw.Middleware(c, redismw.WithFailOpen())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := redismw.FromContext(r.Context()); !ok {
			fmt.Fprint(w, "served from the page cache")
			return
		}
		fmt.Fprint(w, "served live")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(rec.Code, rec.Body)
	// Output: 200 served from the page cache
}

// WithSkip passes requests that do not use Redis straight through, without
// a client and without waiting.
func ExampleWithSkip() {
	c := unavailableConnector()
	defer func() { _ = c.Close() }()
	static := func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/static/") }
	h := redismw.Middleware(c, redismw.WithSkip(static))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok ", r.URL.Path)
	}))
	for _, path := range []string{"/static/app.css", "/cart"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Println(path, rec.Code)
	}
	// Output:
	// /static/app.css 200
	// /cart 503
}

// WithErrorHandler replaces the middleware's 503: here a JSON error of
// the service's own, with the Retry-After the error carries.
func ExampleWithErrorHandler() {
	c := unavailableConnector()
	defer func() { _ = c.Close() }()
	onError := func(w http.ResponseWriter, r *http.Request, err error) {
		var ue *connector.UnavailableError
		if errors.As(err, &ue) && ue.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(ue.RetryAfter/time.Second)+1)) // whole seconds, rounded up
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"error":"try again soon"}`)
	}
	h := redismw.Middleware(c, redismw.WithErrorHandler(onError))(http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Print(rec.Code, " ", rec.Body)
	// Output: 503 {"error":"try again soon"}
}

// CommandRecorder is installed once per process, before the clients run
// commands: go-redis then hands it every command's duration and every
// pool wait, which it records under the semantic conventions' names.
func ExampleCommandRecorder() {
	redis.SetOTelRecorder(redismw.CommandRecorder(nil)) // the global meter provider
	defer redis.SetOTelRecorder(nil)

	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	c, err := connector.New(connector.Config{URL: "redis://" + mr.Addr(), Logger: discard})
	if err != nil {
		panic(err)
	}
	defer func() { _ = c.Close() }()
	rdb, err := c.Client(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(rdb.Incr(context.Background(), "visits").Val()) // db.client.operation.duration{db.operation.name=INCR}
	// Output: 1
}
