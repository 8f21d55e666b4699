package main

// Black-box tests of the built example: a real binary, a real redis-server
// behind the fault proxy, real HTTP.

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ankitoon/redismw/internal/testkit/exampletest"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

var binary string // the built example

func TestMain(m *testing.M) {
	bin, cleanup, err := exampletest.Build("basic")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = bin
	code := m.Run()
	cleanup()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestEmbeddedRedis(t *testing.T) {
	e := exampletest.Start(t, binary, nil)
	if !strings.Contains(e.Output(), "embedded miniredis") {
		t.Errorf("start-up line does not say the Redis is embedded:\n%s", e.Output())
	}
	for want := 1; want <= 3; want++ {
		r := e.Get("/visits")
		if r.Code != 200 || strings.TrimSpace(r.Body) != fmt.Sprintf(`{"visits":%d}`, want) {
			t.Fatalf("/visits #%d: %d %s", want, r.Code, r.Body)
		}
	}
	if r := e.Get("/readyz"); r.Code != 200 || !strings.Contains(r.Body, `"status":"up"`) {
		t.Errorf("/readyz: %d %s", r.Code, r.Body)
	}
	e.Stop()
	if !strings.Contains(e.Output(), "shutting down") {
		t.Errorf("no graceful shutdown in the output:\n%s", e.Output())
	}
}

// TestHangAndRecover: the example against a real redis-server behind the
// fault proxy. While the proxy hangs, /visits answers 503 with Retry-After,
// fast once the circuit is open; /readyz 503; /livez 200. Restored, both
// are 200 again within one open period plus one attempt.
func TestHangAndRecover(t *testing.T) {
	srv := redistest.Start(t)
	proxy := faultproxy.New(t, srv.Addr)
	const attempt, open = 300 * time.Millisecond, time.Second
	e := exampletest.Start(t, binary, []string{
		"REDIS_URL=" + proxy.URL() + "?read_timeout=300ms",
		"REDIS_ATTEMPT_TIMEOUT=" + attempt.String(),
		"REDIS_BREAKER_TIMEOUT=" + open.String(),
		"REDIS_BREAKER_FAILURES=3",
	})
	for want := 1; want <= 2; want++ {
		if r := e.Get("/visits"); r.Code != 200 || strings.TrimSpace(r.Body) != fmt.Sprintf(`{"visits":%d}`, want) {
			t.Fatalf("/visits #%d before the fault: %d %s", want, r.Code, r.Body)
		}
	}
	// Before any fault, the series an alert watches exist, at 0: the first
	// trip of the process shows as an increase.
	before := e.Get("/metrics").Body
	for _, series := range [][]string{
		{"redismw_circuit_transitions_total", `redismw_circuit_from="closed"`, `redismw_circuit_to="open"`},
		{"redismw_circuit_failures_total", `error_type="timeout"`},
		{"redismw_middleware_rejections_total", `redismw_rejection_reason="circuit_open"`},
		{"redismw_middleware_rejections_total", `redismw_rejection_reason="command_failed"`},
	} {
		if v, ok := promValue(before, series[0], series[1:]...); !ok || v != 0 {
			t.Errorf("before the fault, %s%v = %v (present %v); want 0", series[0], series[1:], v, ok)
		}
	}
	unavailable := 0 // the 503s /visits answered

	if err := proxy.SetMode(faultproxy.Hang); err != nil {
		t.Fatal(err)
	}
	proxy.CutAll() // the pooled connection goes; new ones hang
	var during []exampletest.Response
	for i := range 20 {
		r := e.Get("/visits")
		during = append(during, r)
		unavailable++
		if r.Code != http.StatusServiceUnavailable {
			t.Fatalf("/visits #%d during the hang: %d %s", i, r.Code, r.Body)
		}
		if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 {
			t.Fatalf("/visits #%d during the hang: Retry-After %q", i, r.Header.Get("Retry-After"))
		}
		if r.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("/visits #%d during the hang: Content-Type %q", i, r.Header.Get("Content-Type"))
		}
	}
	// The first requests wait for the read timeout; once the circuit has
	// opened, the rest are answered at once.
	last := during[len(during)-5:]
	for _, r := range last {
		if r.Took > 100*time.Millisecond {
			t.Errorf("a 503 after the trip took %v, want it immediate", r.Took)
		}
	}
	if r := e.Get("/readyz"); r.Code != 503 || !strings.Contains(r.Body, `"status":"down"`) || !strings.Contains(r.Body, `"reason":"circuit_open"`) {
		t.Errorf("/readyz during the hang: %d %s, want 503 down for circuit_open", r.Code, r.Body)
	}
	if r := e.Get("/livez"); r.Code != 200 {
		t.Errorf("/livez during the hang: %d", r.Code)
	}
	var took []string
	for _, r := range during {
		took = append(took, r.Took.Round(100*time.Microsecond).String())
	}
	t.Logf("503 latencies during the hang: %s", strings.Join(took, " "))

	if err := proxy.SetMode(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	bound := open*12/10 + attempt + time.Second // max jittered open period + one attempt + slack
	for {
		r := e.Get("/visits")
		if r.Code == 200 {
			if strings.TrimSpace(r.Body) != `{"visits":3}` {
				t.Errorf("first /visits after recovery: %s, want 3 (nothing was counted during the hang)", r.Body)
			}
			break
		}
		if r.Code == http.StatusServiceUnavailable {
			unavailable++
		}
		if time.Since(restored) > bound {
			t.Fatalf("/visits still %d %v after the proxy was restored", r.Code, time.Since(restored))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("/visits 200 again %v after the proxy was restored", time.Since(restored).Round(time.Millisecond))
	scrape := e.Get("/metrics")
	// What PromQL's increase() over the outage would read, from 0: the
	// trip, the failures that caused it, and every 503 the clients got.
	if v, _ := promValue(scrape.Body, "redismw_circuit_transitions_total", `redismw_circuit_from="closed"`, `redismw_circuit_to="open"`); v < 1 {
		t.Errorf("transitions{closed→open} = %v after the hang, want ≥ 1", v)
	}
	if v, _ := promValue(scrape.Body, "redismw_circuit_failures_total"); v < 1 {
		t.Errorf("circuit failures = %v after the hang, want ≥ 1", v)
	}
	if v, _ := promValue(scrape.Body, "redismw_middleware_rejections_total"); v != float64(unavailable) {
		t.Errorf("rejections = %v, but /visits answered %d 503s: every 503 must be counted once", v, unavailable)
	}
	for _, series := range []string{
		`redismw_connect_duration_seconds_count{`,
		`redismw_connect_attempts_total{`,
		`redismw_outcome="success"`,
		`redismw_connect_waiting{`,
		`redismw_circuit_state{`,
		`redismw_circuit_transitions_total{`,
		`redismw_circuit_from="closed"`,
		`redismw_middleware_rejections_total{`,
		`redismw_rejection_reason="circuit_open"`,
		`db_client_connection_count{`,
		`db_client_connection_state="idle"`,
		`db_client_connection_state="used"`,
		`db_client_connection_max{`,
		`db_client_connection_idle_min{`,
		`db_client_connection_timeouts_total{`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
		`target_info{`,
		`service_name="redismw-basic"`,
		`db_client_connection_pool_name="` + proxy.Addr() + `/0"`,
	} {
		if !strings.Contains(scrape.Body, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	if r := e.Get("/readyz"); r.Code != 200 {
		// The health cache may hold a "down" for up to a second.
		time.Sleep(time.Second)
		if r := e.Get("/readyz"); r.Code != 200 {
			t.Errorf("/readyz after recovery: %d %s", r.Code, r.Body)
		}
	}
	e.Stop()
}

// TestNoPasswordLeak: with a password in REDIS_URL and nothing listening,
// neither the output nor any HTTP answer contains the password.
func TestNoPasswordLeak(t *testing.T) {
	const password = "s3cret-pass"
	port := redistest.FreePort(t)
	e := exampletest.Start(t, binary, []string{fmt.Sprintf("REDIS_URL=redis://:%s@127.0.0.1:%d", password, port), "REDIS_ATTEMPT_TIMEOUT=200ms"})
	var answers []exampletest.Response
	for _, path := range []string{"/visits", "/visits", "/readyz", "/livez", "/visits"} {
		answers = append(answers, e.Get(path))
	}
	if answers[0].Code != 503 || answers[2].Code != 503 || answers[3].Code != 200 {
		t.Errorf("codes %d %d %d, want 503 for /visits and /readyz, 200 for /livez", answers[0].Code, answers[2].Code, answers[3].Code)
	}
	e.Stop()
	for _, r := range answers {
		if strings.Contains(r.Body, password) || strings.Contains(fmt.Sprint(r.Header), password) {
			t.Errorf("password in an HTTP answer: %v %s", r.Header, r.Body)
		}
	}
	if out := e.Output(); strings.Contains(out, password) {
		t.Errorf("password in the example's output:\n%s", out)
	} else if !strings.Contains(out, "xxxxx@127.0.0.1") {
		t.Errorf("start-up line does not show the redacted URL:\n%s", out)
	}
}

func TestFailOpen(t *testing.T) {
	port := redistest.FreePort(t)
	e := exampletest.Start(t, binary, []string{fmt.Sprintf("REDIS_URL=redis://127.0.0.1:%d", port), "REDIS_ATTEMPT_TIMEOUT=200ms"}, "-fail-open")
	if r := e.Get("/visits"); r.Code != 200 || strings.TrimSpace(r.Body) != `{"visits":null,"degraded":true}` {
		t.Errorf("/visits failing open: %d %s", r.Code, r.Body)
	}
	e.Stop()
}

// TestHelpExitsZero: -h prints the usage and exits 0, as Go programs do.
func TestHelpExitsZero(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), binary, "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("basic -h: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "-addr") || strings.Contains(string(out), "help requested") {
		t.Errorf("basic -h printed:\n%s\nwant the usage, without an error", out)
	}
}

// promValue sums the samples of metric name in a Prometheus text scrape
// whose labels contain every one of labels, and reports whether any
// matched.
func promValue(scrape, name string, labels ...string) (float64, bool) {
	var sum float64
	found := false
	for line := range strings.SplitSeq(scrape, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if !all(line, labels) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

func all(line string, subs []string) bool {
	for _, s := range subs {
		if !strings.Contains(line, s) {
			return false
		}
	}
	return true
}
