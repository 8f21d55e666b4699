// Package exampletest builds the examples and runs them as black boxes:
// a real binary, real HTTP.
package exampletest

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
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build builds the main package in the current directory into a temporary
// directory and returns the binary's path and a cleanup function. It is
// meant for TestMain.
func Build(name string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "redismw-"+name)
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, func() { _ = os.RemoveAll(dir) }, nil
}

// Process is a running example.
type Process struct {
	t   *testing.T
	cmd *exec.Cmd
	// Base is the URL the example listens on.
	Base   string
	mu     sync.Mutex
	output bytes.Buffer // stdout and stderr
	done   chan struct{}
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// Start runs binary with "-addr 127.0.0.1:0" and args, with env added to a
// clean environment, and waits until it prints the URL it listens on. It is
// killed when the test ends.
func Start(t *testing.T, binary string, env []string, args ...string) *Process {
	t.Helper()
	e := &Process{t: t, done: make(chan struct{})}
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
	case e.Base = <-base:
	case <-e.done:
		t.Fatalf("example exited before listening:\n%s", e.Output())
	case <-time.After(20 * time.Second):
		t.Fatalf("example not listening after 20s:\n%s", e.Output())
	}
	return e
}

func (e *Process) log(line string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.output.WriteString(line + "\n")
}

// Output returns what the example has printed so far.
func (e *Process) Output() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.output.String()
}

// Response is what a test keeps of an HTTP answer.
type Response struct {
	Code   int
	Header http.Header
	Body   string
	Took   time.Duration
}

var client = &http.Client{Timeout: 20 * time.Second}

// Get fetches path from the example; a transport error fails the test.
func (e *Process) Get(path string) Response {
	e.t.Helper()
	start := time.Now()
	resp, err := client.Get(e.Base + path)
	if err != nil {
		e.t.Fatalf("GET %s: %v\n%s", path, err, e.Output())
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return Response{resp.StatusCode, resp.Header, string(body), time.Since(start)}
}

// Stop interrupts the example and waits for a graceful exit (code 0).
func (e *Process) Stop() {
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
