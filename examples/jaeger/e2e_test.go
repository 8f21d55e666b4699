package main

// The end-to-end tracing test: the built example, a real redis-server (with
// a password) behind the fault proxy, a real Jaeger; traces read back from
// Jaeger's query API.

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ankitoon/redismw/internal/testkit/exampletest"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/jaegertest"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
	"github.com/ankitoon/redismw/internal/testkit/testmain"
)

var binary string // the built example

func TestMain(m *testing.M) {
	if os.Getenv(jaegertest.EnvE2E) != "1" {
		// Nothing to build: the only test here skips.
		testmain.Run(m)
	}
	bin, cleanup, err := exampletest.Build("jaeger")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = bin
	testmain.Run(m, goleak.Cleanup(func(int) { cleanup() }))
}

func TestJaegerEndToEnd(t *testing.T) {
	if os.Getenv(jaegertest.EnvE2E) != "1" {
		t.Skipf("set %s=1 to run the end-to-end test against a real Jaeger (the first build of Jaeger takes minutes)", jaegertest.EnvE2E)
	}
	const password = "s3cret-pass"
	jaeger := jaegertest.Start(t)
	srv := redistest.Start(t, "--requirepass", password)
	proxy := faultproxy.New(t, srv.Addr)
	service := fmt.Sprintf("redismw-e2e-%d", time.Now().UnixNano())
	e := exampletest.Start(t, binary, []string{
		"REDIS_URL=redis://:" + password + "@" + proxy.Addr() + "?read_timeout=300ms",
		"REDIS_ATTEMPT_TIMEOUT=300ms",
		"REDIS_MAX_ATTEMPTS=1",
		"REDIS_BREAKER_TIMEOUT=1s",
		"REDIS_BREAKER_FAILURES=2",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + jaeger.OTLP,
		"OTEL_SERVICE_NAME=" + service,
	})

	for i := 1; i <= 2; i++ {
		if r := e.Get("/visits"); r.Code != 200 {
			t.Fatalf("/visits #%d: %d %s", i, r.Code, r.Body)
		}
	}
	// Hang Redis: commands time out, the circuit opens; after the open
	// period the probe connect fails too.
	if err := proxy.SetMode(faultproxy.Hang); err != nil {
		t.Fatal(err)
	}
	proxy.CutAll()
	for range 4 {
		if r := e.Get("/visits"); r.Code != 503 {
			t.Fatalf("/visits during the hang: %d", r.Code)
		}
	}
	time.Sleep(1300 * time.Millisecond) // past the open period (1s ± 20 %)
	if r := e.Get("/visits"); r.Code != 503 {
		t.Fatalf("/visits on the failed probe: %d", r.Code)
	}
	e.Stop() // flushes the last spans
	if out := e.Output(); strings.Contains(out, password) {
		t.Errorf("password in the example's output:\n%s", out)
	}

	// Jaeger ingests in batches: read until both connects are there.
	var traces []jaegertest.Trace
	var raw string
	var okConnect, failedConnect *jaegertest.Span
	var commands []string
	serverSpans := map[string]jaegertest.Span{}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		traces, raw = jaeger.Traces(t, service)
		okConnect, failedConnect, commands = nil, nil, nil
		for _, tr := range traces {
			for _, s := range tr.Spans {
				switch s.OperationName {
				case "redis.connect":
					if out, _ := s.Tag("redismw.outcome"); out == "success" && okConnect == nil {
						okConnect = &s
					} else if _, ok := s.Tag("error.type"); ok && failedConnect == nil {
						failedConnect = &s
					}
				case "incr", "ping":
					commands = append(commands, s.OperationName)
				}
				if kind, _ := s.Tag("span.kind"); kind == "server" {
					serverSpans[s.SpanID] = s
				}
			}
		}
		if okConnect != nil && failedConnect != nil || time.Now().After(deadline) {
			break
		}
	}
	if strings.Contains(raw, password) {
		t.Errorf("password in the traces Jaeger holds")
	}
	if okConnect == nil {
		t.Fatalf("no successful redis.connect span among %d traces:\n%.2000s", len(traces), raw)
	}
	parent, ok := serverSpans[okConnect.Parent()]
	if !ok {
		t.Errorf("the redis.connect span is not a child of an HTTP server span")
	}
	for key, want := range map[string]string{
		"db.system.name":                "redis",
		"server.address":                "127.0.0.1",
		"redismw.connect.attempt_count": "1",
		"redismw.circuit.current":       "closed",
	} {
		if got, _ := okConnect.Tag(key); got != want {
			t.Errorf("redis.connect tag %s = %q, want %q", key, got, want)
		}
	}
	if port, _ := okConnect.Tag("server.port"); !strings.HasSuffix(proxy.Addr(), ":"+port) {
		t.Errorf("server.port %q, want the proxy's port (%s)", port, proxy.Addr())
	}
	if failedConnect == nil {
		t.Errorf("no failed redis.connect span with error.type; the example printed:\n%s", e.Output())
	} else if et, _ := failedConnect.Tag("error.type"); et != "timeout" {
		t.Errorf("failed connect error.type %q, want timeout", et)
	}
	sort.Strings(commands)
	if !strings.Contains(strings.Join(commands, " "), "incr") {
		t.Errorf("no command spans (incr) from redisotel: %v", commands)
	}

	summary := func(s *jaegertest.Span) string {
		var tags []string
		for _, tg := range s.Tags {
			if strings.HasPrefix(tg.Key, "db.") || strings.HasPrefix(tg.Key, "server.") ||
				strings.HasPrefix(tg.Key, "redismw.") || tg.Key == "error.type" || tg.Key == "otel.status_code" {
				tags = append(tags, fmt.Sprintf("%s=%v", tg.Key, tg.Value))
			}
		}
		sort.Strings(tags)
		return s.OperationName + " {" + strings.Join(tags, ", ") + "}"
	}
	t.Logf("%d traces; server span %q → %s", len(traces), parent.OperationName, summary(okConnect))
	if failedConnect != nil {
		t.Logf("failed probe: %s", summary(failedConnect))
	}
	t.Logf("command spans: %v", commands)
}

// TestHelp: -h prints the usage and is no failure (the program exits 0),
// as Go programs do.
func TestHelp(t *testing.T) {
	var usage strings.Builder
	if err := run(t.Context(), []string{"-h"}, io.Discard, &usage); err != nil {
		t.Errorf("jaeger -h: %v", err)
	}
	if !strings.Contains(usage.String(), "-addr") {
		t.Errorf("jaeger -h printed %q, want the usage", usage.String())
	}
}
