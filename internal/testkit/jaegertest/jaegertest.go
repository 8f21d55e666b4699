// Package jaegertest runs a real Jaeger (v1.76.0, the all-in-one binary
// built from tools/jaeger) on loopback for end-to-end tracing tests, and
// reads traces back through its query API.
package jaegertest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// Version is the Jaeger this package builds.
const Version = "v1.76.0"

// EnvE2E names the variable that turns the Jaeger end-to-end test on.
const EnvE2E = "REDISMW_JAEGER_E2E"

// BinaryPath is where the built Jaeger is cached, outside the repository.
func BinaryPath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "redismw", "jaeger-"+Version, "jaeger"), nil
}

// Binary returns the cached Jaeger binary, building it first (from the
// tools/jaeger module of this repository) if needed.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := BinaryPath()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	// The test's module may be nested (examples/): tools/jaeger is at the
	// repository's root, above it.
	tools := ""
	for dir := filepath.Dir(strings.TrimSpace(string(gomod))); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "tools", "jaeger", "go.mod")); err == nil {
			tools = filepath.Join(dir, "tools", "jaeger")
			break
		}
		if dir == filepath.Dir(dir) {
			t.Fatalf("no tools/jaeger module above %s", gomod)
		}
	}
	t.Logf("building Jaeger %s into %s (minutes, once)", Version, bin)
	cmd := exec.Command("go", "build", "-o", bin, "github.com/jaegertracing/jaeger/cmd/jaeger")
	cmd.Dir = tools
	cmd.Env = append(os.Environ(), "GOWORK=off") // its own module, outside the workspace
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build Jaeger: %v\n%s", err, out)
	}
	return bin
}

// Jaeger is a running Jaeger all-in-one.
type Jaeger struct {
	// OTLP is the OTLP/HTTP endpoint, "http://127.0.0.1:port".
	OTLP string
	// Query is the query API's base URL.
	Query string
}

// Start runs Jaeger bound to 127.0.0.1, with free ports for OTLP/HTTP,
// OTLP/gRPC and the query API, until the test ends.
func Start(t testing.TB) *Jaeger {
	t.Helper()
	bin := Binary(t)
	otlp, otlpGRPC := redistest.FreePort(t), redistest.FreePort(t)
	query, queryGRPC := redistest.FreePort(t), redistest.FreePort(t)
	cmd := exec.Command(bin,
		"--set=extensions::jaeger_query::http::endpoint=127.0.0.1:"+strconv.Itoa(query),
		"--set=extensions::jaeger_query::grpc::endpoint=127.0.0.1:"+strconv.Itoa(queryGRPC),
		"--set=extensions::jaeger_query::enable_tracing=false",
		"--set=receivers::otlp::protocols::http::endpoint=127.0.0.1:"+strconv.Itoa(otlp),
		"--set=receivers::otlp::protocols::grpc::endpoint=127.0.0.1:"+strconv.Itoa(otlpGRPC),
	)
	cmd.Env = append(os.Environ(), "JAEGER_LISTEN_HOST=127.0.0.1")
	logf, err := os.Create(filepath.Join(t.TempDir(), "jaeger.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Jaeger: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logf.Close()
	})
	j := &Jaeger{
		OTLP:  "http://127.0.0.1:" + strconv.Itoa(otlp),
		Query: "http://127.0.0.1:" + strconv.Itoa(query),
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(j.Query + "/api/services")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return j
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("Jaeger not ready after 60s: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Tag is a span tag.
type Tag struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Span is a span as the query API returns it.
type Span struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []Tag `json:"tags"`
	Logs []struct {
		Fields []Tag `json:"fields"`
	} `json:"logs"`
}

// Tag returns the value of tag key as text, and whether it is there.
func (s Span) Tag(key string) (string, bool) {
	for _, t := range s.Tags {
		if t.Key == key {
			return fmt.Sprint(t.Value), true
		}
	}
	return "", false
}

// Parent returns the span ID this span is a child of, or "".
func (s Span) Parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// Trace is a trace as the query API returns it.
type Trace struct {
	TraceID string `json:"traceID"`
	Spans   []Span `json:"spans"`
}

// Traces returns the traces of service, and the raw JSON they came in.
func (j *Jaeger) Traces(t testing.TB, service string) ([]Trace, string) {
	t.Helper()
	resp, err := http.Get(j.Query + "/api/traces?limit=200&lookback=1h&service=" + url.QueryEscape(service))
	if err != nil {
		t.Fatalf("query Jaeger: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Data []Trace `json:"data"`
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read Jaeger's answer: %v", err)
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("decode Jaeger's answer %.200q: %v", raw, err)
	}
	return body.Data, string(raw)
}
