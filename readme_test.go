package redismw_test

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/connector"
)

// The README's quick start, verbatim, so that it compiles with the tests;
// TestREADMEQuickStartCompiles checks that the two stay the same.

func quickStart() {
	c, err := connector.New(connector.Config{URL: os.Getenv("REDIS_URL")}) // validates, never dials
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

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

// TestREADMEQuickStartCompiles: the README's first two Go blocks (the
// quick start and the handler) are, line for line, the code above, which
// the compiler checks with every test run.
func TestREADMEQuickStartCompiles(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(readme, 2)
	if len(blocks) < 2 {
		t.Fatalf("README has %d Go blocks, want the quick start and the handler", len(blocks))
	}
	code := normalize(string(self))
	for i, b := range blocks {
		if want := normalize(string(b[1])); !strings.Contains(code, want) {
			t.Errorf("README Go block %d is not the code of readme_test.go:\n%s", i+1, b[1])
		}
	}
}

// normalize drops indentation and blank lines, and the alignment of
// trailing comments, so that a README block matches the gofmt'ed code.
func normalize(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.Join(strings.Fields(l), " ")
		if l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
