package redismw_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/redismwtest"
)

// The README's Go blocks, verbatim, so that they compile with the tests;
// TestREADMEGoBlocks checks that the two stay the same.

func quickStart() {
	c, err := connector.New(connector.Config{URL: os.Getenv("REDIS_URL")}) // validates, never dials
	if err != nil {
		log.Fatal(err)
	}

	app := http.NewServeMux() // your routes that use Redis
	app.HandleFunc("GET /visits", visits)

	mux := http.NewServeMux()
	mux.Handle("GET /readyz", redismw.HealthHandler(c))                           // readiness: outside the middleware
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {}) // liveness never depends on Redis
	mux.Handle("/", redismw.Middleware(c)(app))

	srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Print(err)
			stop() // cannot serve: shut down
		}
	}()
	<-ctx.Done() // SIGINT or SIGTERM
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil { // stop accepting; in-flight requests finish
		log.Print(err)
	}
	if err := c.Close(); err != nil { // then the connector: its client, probes and goroutines
		log.Print(err)
	}
}

func visits(w http.ResponseWriter, r *http.Request) {
	rdb, ok := redismw.FromContext(r.Context()) // ok is false only with WithFailOpen, where fail-closed answers 503 before the handler runs
	if !ok {
		http.Error(w, "degraded", http.StatusServiceUnavailable)
		return
	}
	n, err := rdb.Incr(r.Context(), "visits").Result()
	if err != nil {
		redismw.WriteUnavailable(w, r, err) // the middleware's 503; see Handling errors in handlers
		return
	}
	fmt.Fprintf(w, "visit %d\n", n)
}

// session, countOnce and visitOnce are the README's "Handling errors in
// handlers"; TestREADMEHandlers runs them.

func session(w http.ResponseWriter, r *http.Request) {
	rdb, _ := redismw.FromContext(r.Context()) // fail-closed: the middleware put a client there
	name, err := rdb.Get(r.Context(), "session:"+r.PathValue("id")).Result()
	switch {
	case errors.Is(err, redis.Nil): // no such key: Redis answered, nothing is unavailable
		http.Error(w, "no such session", http.StatusNotFound)
	case err != nil: // Redis did not serve: a timeout, a broken connection, the circuit open
		redismw.WriteUnavailable(w, r, err)
	default:
		fmt.Fprintf(w, "hello %s\n", name)
	}
}

// countOnce increments KEYS[2] once per request id (KEYS[1]): the id is
// recorded and the count incremented in one step.
var countOnce = redis.NewScript(`
if redis.call("SET", KEYS[1], "1", "NX", "EX", ARGV[1]) then
	return redis.call("INCR", KEYS[2])
end
return false`)

func visitOnce(w http.ResponseWriter, r *http.Request) {
	rdb, _ := redismw.FromContext(r.Context())
	id := r.Header.Get("Idempotency-Key") // chosen by the client, the same on every retry
	if id == "" {
		http.Error(w, "Idempotency-Key required", http.StatusBadRequest)
		return
	}
	err := countOnce.Run(r.Context(), rdb, []string{"request:" + id, "visits"}, 86400).Err()
	switch {
	case err == nil, errors.Is(err, redis.Nil): // counted now, or by an earlier try of this request
		w.WriteHeader(http.StatusNoContent)
	default: // maybe applied: the client retries with the same id
		redismw.WriteUnavailable(w, r, err)
	}
}

var _ = quickStart

// commandMetrics is the README's block on command latency.
func commandMetrics() {
	redis.SetOTelRecorder(redismw.CommandRecorder(nil)) // once per process: command latency and pool waits, global meter provider
}

var _ = commandMetrics

// deployments is the README's block on Cluster and Sentinel.
func deployments() []connector.Config {
	// Redis Cluster: a URL with addr= parameters (go-redis ParseClusterURL;
	// the host and every addr= are seeds)…
	clusterURL := connector.Config{URL: "redis://:pass@10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000"}
	// …or go-redis' UniversalOptions (several Addrs, or IsClusterMode).
	clusterOptions := connector.Config{Options: &redis.UniversalOptions{Addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}}}

	// Sentinel: master_name= (ParseFailoverURL; the host and every addr= are
	// sentinels, userinfo their credentials, username=/password= the master's)…
	sentinelURL := connector.Config{URL: "redis://10.0.0.1:26379/0?master_name=mymaster&addr=10.0.0.2:26379&password=pass"}
	// …or UniversalOptions with MasterName.
	sentinelOptions := connector.Config{Options: &redis.UniversalOptions{Addrs: []string{"10.0.0.1:26379"}, MasterName: "mymaster"}}
	return []connector.Config{clusterURL, clusterOptions, sentinelURL, sentinelOptions}
}

// secure is the README's block on TLS; it reads certificate files, so the
// compiler checks it and no test runs it.
func secure() connector.Config {
	// TLS: rediss:// verifies the server against the system roots; TLSConfig
	// for a private CA and client certificates.
	caPEM, err := os.ReadFile("ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair("client.pem", "client.key")
	if err != nil {
		log.Fatal(err)
	}
	secure := connector.Config{URL: "rediss://app:pass@redis.internal:6380/0",
		TLSConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}

	// ACL users: username and password in the URL (redis://app:pass@host) or
	// in Options.Username / Options.Password.
	return secure
}

var _ = secure

// TestREADMEHandlers runs the handlers of the README's "Handling errors in
// handlers" behind the middleware: a missing session is 404, not 503;
// visitOnce counts a request id once however often it is retried, and
// asks for one; and once Redis is gone both answer the middleware's 503.
func TestREADMEHandlers(t *testing.T) {
	c, mr := redismwtest.NewConnector(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /session/{id}", session)
	mux.HandleFunc("POST /visit", visitOnce)
	h := redismw.Middleware(c)(mux)
	serve := func(method, path, id string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequestWithContext(t.Context(), method, path, nil)
		if id != "" {
			req.Header.Set("Idempotency-Key", id)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	if rec := serve("GET", "/session/nobody", ""); rec.Code != http.StatusNotFound {
		t.Errorf("a missing session: %d %s, want 404 (redis.Nil is an answer)", rec.Code, rec.Body)
	}
	if err := mr.Set("session:ada", "Ada"); err != nil {
		t.Fatal(err)
	}
	if rec := serve("GET", "/session/ada", ""); rec.Code != http.StatusOK || rec.Body.String() != "hello Ada\n" {
		t.Errorf("a session: %d %q, want 200 hello Ada", rec.Code, rec.Body)
	}

	for _, try := range []string{"a", "a", "a", "b", "a"} { // request a retried, request b once
		if rec := serve("POST", "/visit", try); rec.Code != http.StatusNoContent {
			t.Fatalf("visit %s: %d %s, want 204", try, rec.Code, rec.Body)
		}
	}
	if n, err := mr.Get("visits"); err != nil || n != "2" {
		t.Errorf("visits = %q (%v) after requests a (tried 4 times) and b, want 2", n, err)
	}
	if rec := serve("POST", "/visit", ""); rec.Code != http.StatusBadRequest {
		t.Errorf("a visit without an id: %d, want 400", rec.Code)
	}

	mr.Close() // Redis is gone: both handlers answer the 503 with Retry-After
	for _, rec := range []*httptest.ResponseRecorder{serve("GET", "/session/ada", ""), serve("POST", "/visit", "c")} {
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Errorf("with Redis gone: %d, Retry-After %q; want 503 with one", rec.Code, rec.Header().Get("Retry-After"))
		}
	}
}

// TestREADMEDeployments: the README's Cluster and Sentinel configurations
// are valid (New validates without dialing).
func TestREADMEDeployments(t *testing.T) {
	for _, cfg := range deployments() {
		c, err := connector.New(cfg)
		if err != nil {
			t.Errorf("README configuration %+v: %v", cfg, err)
			continue
		}
		_ = c.Close()
	}
}

// readmeCode lists the files that hold the README's Go blocks, verbatim,
// where the compiler checks them: the root package's tests, and the
// examples' for a block that needs their dependencies.
var readmeCode = []string{"readme_test.go", "examples/jaeger/readme_test.go"}

// TestREADMEGoBlocks: every Go block of the README is, line for line, code
// of one of readmeCode's files, which the compiler checks with every test
// run of their module.
func TestREADMEGoBlocks(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var code []string
	for _, f := range readmeCode {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		code = append(code, normalize(string(b)))
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) < 7 {
		t.Fatalf("README has %d Go blocks, want at least the quick start, the handler, the two of handling errors, the deployments, TLS and the tracing hook", len(blocks))
	}
	for i, b := range blocks {
		want := normalize(string(b[1]))
		if !slices.ContainsFunc(code, func(c string) bool { return strings.Contains(c, want) }) {
			t.Errorf("README Go block %d is not code of any of %v:\n%s", i+1, readmeCode, b[1])
		}
	}
}

// normalize drops indentation and blank lines, and the alignment of
// trailing comments, so that a README block matches the gofmt'ed code.
func normalize(s string) string {
	var lines []string
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.Join(strings.Fields(l), " ")
		if l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// TestLibraryDependencies: the library's go.mod requires only what its
// packages and tests use — go-redis, gobreaker, OpenTelemetry, and
// miniredis and goleak for tests — so that the examples' and the chaos
// suite's dependencies (their own modules) never reach an importer.
func TestLibraryDependencies(t *testing.T) {
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{"github.com/redis/go-redis/v9", "github.com/sony/gobreaker/v2", "go.opentelemetry.io/otel",
		"github.com/alicebob/miniredis/v2", "go.uber.org/goleak",
		"github.com/failsafe-go/failsafe-go"} // load shedding's adaptive limit (internal/admit)
	direct := regexp.MustCompile(`(?m)^\s+(\S+) v\S+$`) // a requirement without "// indirect"
	for _, m := range direct.FindAllStringSubmatch(string(gomod), -1) {
		if !slices.ContainsFunc(allowed, func(a string) bool { return m[1] == a || strings.HasPrefix(m[1], a+"/") }) {
			t.Errorf("go.mod requires %s directly: an example's or a tool's dependency belongs in its own module", m[1])
		}
	}
}
