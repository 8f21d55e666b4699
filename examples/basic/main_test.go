package main

// Black-box tests of the built example: a real binary, a real redis-server
// behind the fault proxy, real HTTP.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ankitoon/redismw/internal/faultproxy"
	"github.com/ankitoon/redismw/internal/redistest"
)

var binary string // the built example

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "redismw-basic")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "basic")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// example is a running example process.
type example struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string
	mu     sync.Mutex
	output bytes.Buffer // stdout and stderr
	done   chan struct{}
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// start runs the example with env added to a clean environment.
func start(t *testing.T, env []string, args ...string) *example {
	t.Helper()
	e := &example{t: t, done: make(chan struct{})}
	e.cmd = exec.Command(binary, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	e.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	stdout, err := e.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := e.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	base := make(chan string, 1)
	var copies sync.WaitGroup
	copies.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			e.log(sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				base <- m[1]
			}
		}
	})
	copies.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			e.log(sc.Text())
		}
	})
	go func() {
		copies.Wait()
		_ = e.cmd.Wait()
		close(e.done)
	}()
	t.Cleanup(func() {
		_ = e.cmd.Process.Kill()
		<-e.done
	})
	select {
	case e.base = <-base:
	case <-e.done:
		t.Fatalf("example exited before listening:\n%s", e.Output())
	case <-time.After(20 * time.Second):
		t.Fatalf("example not listening after 20s:\n%s", e.Output())
	}
	return e
}

func (e *example) log(line string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.output.WriteString(line + "\n")
}

// Output returns what the example has printed so far.
func (e *example) Output() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.output.String()
}

// response is what the test keeps of an HTTP answer.
type response struct {
	code   int
	header http.Header
	body   string
	took   time.Duration
}

var client = &http.Client{Timeout: 20 * time.Second}

func (e *example) get(path string) response {
	e.t.Helper()
	start := time.Now()
	resp, err := client.Get(e.base + path)
	if err != nil {
		e.t.Fatalf("GET %s: %v\n%s", path, err, e.Output())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(body), time.Since(start)}
}

// stop interrupts the example and waits for a graceful exit.
func (e *example) stop() {
	e.t.Helper()
	_ = e.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-e.done:
	case <-time.After(15 * time.Second):
		e.t.Fatalf("example did not exit within 15s of SIGINT:\n%s", e.Output())
	}
	if code := e.cmd.ProcessState.ExitCode(); code != 0 {
		e.t.Errorf("exit code %d after SIGINT, want 0:\n%s", code, e.Output())
	}
}

func TestEmbeddedRedis(t *testing.T) {
	e := start(t, nil)
	if !strings.Contains(e.Output(), "embedded miniredis") {
		t.Errorf("start-up line does not say the Redis is embedded:\n%s", e.Output())
	}
	for want := 1; want <= 3; want++ {
		r := e.get("/visits")
		if r.code != 200 || strings.TrimSpace(r.body) != fmt.Sprintf(`{"visits":%d}`, want) {
			t.Fatalf("/visits #%d: %d %s", want, r.code, r.body)
		}
	}
	if r := e.get("/healthz"); r.code != 200 || !strings.Contains(r.body, `"status":"up"`) {
		t.Errorf("/healthz: %d %s", r.code, r.body)
	}
	e.stop()
	if !strings.Contains(e.Output(), "shutting down") {
		t.Errorf("no graceful shutdown in the output:\n%s", e.Output())
	}
}

// TestHangAndRecover: the example against a real redis-server behind the
// fault proxy. While the proxy hangs, /visits answers 503 with Retry-After,
// fast once the circuit is open; /healthz 503; /livez 200. Restored, both
// are 200 again within one open period plus one attempt.
func TestHangAndRecover(t *testing.T) {
	srv := redistest.Start(t)
	proxy := faultproxy.New(t, srv.Addr)
	const attempt, open = 300 * time.Millisecond, time.Second
	e := start(t, []string{
		"REDIS_URL=" + proxy.URL() + "?read_timeout=300ms",
		"REDIS_ATTEMPT_TIMEOUT=" + attempt.String(),
		"REDIS_BREAKER_TIMEOUT=" + open.String(),
		"REDIS_BREAKER_FAILURES=3",
	})
	for want := 1; want <= 2; want++ {
		if r := e.get("/visits"); r.code != 200 || strings.TrimSpace(r.body) != fmt.Sprintf(`{"visits":%d}`, want) {
			t.Fatalf("/visits #%d before the fault: %d %s", want, r.code, r.body)
		}
	}

	if err := proxy.SetMode(faultproxy.Hang); err != nil {
		t.Fatal(err)
	}
	proxy.CutAll() // the pooled connection goes; new ones hang
	var during []response
	for i := 0; i < 20; i++ {
		r := e.get("/visits")
		during = append(during, r)
		if r.code != http.StatusServiceUnavailable {
			t.Fatalf("/visits #%d during the hang: %d %s", i, r.code, r.body)
		}
		if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
			t.Fatalf("/visits #%d during the hang: Retry-After %q", i, r.header.Get("Retry-After"))
		}
		if r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("/visits #%d during the hang: Content-Type %q", i, r.header.Get("Content-Type"))
		}
	}
	// The first requests wait for the read timeout; once the circuit has
	// opened, the rest are answered at once.
	last := during[len(during)-5:]
	for _, r := range last {
		if r.took > 100*time.Millisecond {
			t.Errorf("a 503 after the trip took %v, want it immediate", r.took)
		}
	}
	if r := e.get("/healthz"); r.code != 503 || !strings.Contains(r.body, `"status":"down"`) {
		t.Errorf("/healthz during the hang: %d %s", r.code, r.body)
	}
	if r := e.get("/livez"); r.code != 200 {
		t.Errorf("/livez during the hang: %d", r.code)
	}
	var took []string
	for _, r := range during {
		took = append(took, r.took.Round(100*time.Microsecond).String())
	}
	t.Logf("503 latencies during the hang: %s", strings.Join(took, " "))

	if err := proxy.SetMode(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	bound := open*12/10 + attempt + time.Second // max jittered open period + one attempt + slack
	for {
		r := e.get("/visits")
		if r.code == 200 {
			if strings.TrimSpace(r.body) != `{"visits":3}` {
				t.Errorf("first /visits after recovery: %s, want 3 (nothing was counted during the hang)", r.body)
			}
			break
		}
		if time.Since(restored) > bound {
			t.Fatalf("/visits still %d %v after the proxy was restored", r.code, time.Since(restored))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("/visits 200 again %v after the proxy was restored", time.Since(restored).Round(time.Millisecond))
	if r := e.get("/healthz"); r.code != 200 {
		// The health cache may hold a "down" for up to a second.
		time.Sleep(time.Second)
		if r := e.get("/healthz"); r.code != 200 {
			t.Errorf("/healthz after recovery: %d %s", r.code, r.body)
		}
	}
	e.stop()
}

// TestNoPasswordLeak: with a password in REDIS_URL and nothing listening,
// neither the output nor any HTTP answer contains the password.
func TestNoPasswordLeak(t *testing.T) {
	const password = "s3cret-pass"
	port := redistest.FreePort(t)
	e := start(t, []string{fmt.Sprintf("REDIS_URL=redis://:%s@127.0.0.1:%d", password, port), "REDIS_ATTEMPT_TIMEOUT=200ms"})
	var answers []response
	for _, path := range []string{"/visits", "/visits", "/healthz", "/livez", "/visits"} {
		answers = append(answers, e.get(path))
	}
	if answers[0].code != 503 || answers[2].code != 503 || answers[3].code != 200 {
		t.Errorf("codes %d %d %d, want 503 for /visits and /healthz, 200 for /livez", answers[0].code, answers[2].code, answers[3].code)
	}
	e.stop()
	for _, r := range answers {
		if strings.Contains(r.body, password) || strings.Contains(fmt.Sprint(r.header), password) {
			t.Errorf("password in an HTTP answer: %v %s", r.header, r.body)
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
	e := start(t, []string{fmt.Sprintf("REDIS_URL=redis://127.0.0.1:%d", port), "REDIS_ATTEMPT_TIMEOUT=200ms"}, "-fail-open")
	if r := e.get("/visits"); r.code != 200 || strings.TrimSpace(r.body) != `{"visits":null,"degraded":true}` {
		t.Errorf("/visits failing open: %d %s", r.code, r.body)
	}
	e.stop()
}
