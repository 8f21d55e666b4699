package redismw_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/connector"
)

// The README's Go blocks, verbatim, so that they compile with the tests;
// TestREADMEGoBlocks checks that the two stay the same.

func quickStart() {
	c, err := connector.New(connector.Config{URL: os.Getenv("REDIS_URL")}) // validates, never dials
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = c.Close() }()

	app := http.NewServeMux() // your routes that use Redis
	app.HandleFunc("GET /visits", visits)

	mux := http.NewServeMux()
	mux.Handle("GET /healthz", redismw.HealthHandler(c))                          // readiness: outside the middleware
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {}) // liveness never depends on Redis
	mux.Handle("/", redismw.Middleware(c)(app))
	log.Fatal(http.ListenAndServe(":8080", mux))
}

func visits(w http.ResponseWriter, r *http.Request) {
	rdb, ok := redismw.FromContext(r.Context()) // ok is false only with WithFailOpen while Redis is down
	if !ok {
		http.Error(w, "degraded", http.StatusServiceUnavailable)
		return
	}
	n, err := rdb.Incr(r.Context(), "visits").Result()
	if err != nil {
		redismw.WriteUnavailable(w, r, err) // the middleware's 503, for a command that failed mid-request
		return
	}
	fmt.Fprintf(w, "visit %d\n", n)
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
	if len(blocks) < 5 {
		t.Fatalf("README has %d Go blocks, want at least the quick start, the handler, the deployments, TLS and the tracing hook", len(blocks))
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
		"github.com/alicebob/miniredis/v2", "go.uber.org/goleak"}
	direct := regexp.MustCompile(`(?m)^\s+(\S+) v\S+$`) // a requirement without "// indirect"
	for _, m := range direct.FindAllStringSubmatch(string(gomod), -1) {
		if !slices.ContainsFunc(allowed, func(a string) bool { return m[1] == a || strings.HasPrefix(m[1], a+"/") }) {
			t.Errorf("go.mod requires %s directly: an example's or a tool's dependency belongs in its own module", m[1])
		}
	}
}
