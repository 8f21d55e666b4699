// Package redistest starts real redis-server processes for tests, on free
// loopback ports, and kills and restarts them.
//
// A test that needs one calls [Start]. When redis-server is not on PATH the
// test is skipped with a clear message, or fails instead when the
// environment sets REDISMW_REQUIRE_REDIS=1 (as CI does).
package redistest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvRequire names the variable that turns a missing redis-server from a
// skip into a failure.
const EnvRequire = "REDISMW_REQUIRE_REDIS"

// Binary returns the path of redis-server, or skips t (fails it when
// REDISMW_REQUIRE_REDIS=1) if there is none.
func Binary(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err == nil {
		return path
	}
	msg := "redis-server is not on PATH: install it (Debian: apt-get install -y redis-server) to run this test"
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("%s (%s=1 makes this a failure)", msg, EnvRequire)
	}
	t.Skip(msg)
	return ""
}

// Options configure a server for [StartWith].
type Options struct {
	// Args are extra redis-server options ("--appendonly", "yes").
	Args []string
	// TLS, if set, makes the server speak only TLS on its port (plain port
	// off), with this certificate; clients need not present one.
	TLS *Certs
	// Sentinel makes the process a Sentinel with this configuration (its
	// port, bind and dir are added).
	Sentinel string
}

// Server is a redis-server process owned by a test.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	opts Options

	// Addr is the server's "127.0.0.1:port" address; it stays the same
	// across restarts.
	Addr string
	// Port is the server's port.
	Port int

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start starts redis-server on a free loopback port, with persistence off
// unless args say otherwise, waits until it answers PING, and stops it when
// the test ends. args are extra redis-server options ("--appendonly", "yes").
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	return StartWith(t, Options{Args: args})
}

// StartWith starts a server configured by o on a free loopback port, like
// [Start].
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), dir: t.TempDir(), opts: o}
	s.Port = FreePort(t)
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// URL returns "redis://127.0.0.1:port".
func (s *Server) URL() string { return "redis://" + s.Addr }

// Restart starts the server again on the same port (it must not be
// running) and waits until it answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatalf("redistest: Restart of a running server on %s", s.Addr)
	}
	port := strconv.Itoa(s.Port)
	var argv []string
	var tlsConf *tls.Config
	switch {
	case s.opts.Sentinel != "":
		conf := filepath.Join(s.dir, "sentinel.conf")
		if _, err := os.Stat(conf); err != nil { // kept across restarts: Sentinel rewrites it
			if err := os.WriteFile(conf, []byte(s.opts.Sentinel), 0o600); err != nil {
				s.t.Fatal(err)
			}
		}
		argv = []string{conf, "--sentinel", "--port", port, "--bind", "127.0.0.1", "--dir", s.dir, "--logfile", "redis.log"}
	default:
		argv = []string{
			"--port", port,
			"--bind", "127.0.0.1",
			"--dir", s.dir,
			"--save", "",
			"--appendonly", "no",
			"--daemonize", "no",
			"--loglevel", "warning",
			"--logfile", "redis.log",
		}
		if c := s.opts.TLS; c != nil {
			argv = append(argv, "--port", "0", "--tls-port", port,
				"--tls-cert-file", c.CertFile, "--tls-key-file", c.KeyFile, "--tls-ca-cert-file", c.CAFile,
				"--tls-auth-clients", "no")
			tlsConf = &tls.Config{RootCAs: c.Pool, MinVersion: tls.VersionTLS12}
		}
	}
	argv = append(argv, s.opts.Args...)
	cmd := exec.Command(s.bin, argv...)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd = cmd
	if err := waitReady(s.Addr, tlsConf, 10*time.Second); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		s.cmd = nil
		log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
		s.t.Fatalf("redistest: redis-server on %s not ready: %v\n%s", s.Addr, err, log)
	}
}

// Kill kills the server with SIGKILL and waits for it to exit. It does
// nothing if the server is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Pause stops the server with SIGSTOP: it keeps its connections and its
// port but answers nothing, as a hung Redis does. Resume undoes it; Kill
// and the test's end work on a paused server too.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a server stopped by [Server.Pause] with SIGCONT.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}

// waitReady dials addr and sends PING until it answers PONG or timeout
// passes.
func waitReady(addr string, tlsConf *tls.Config, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		last = ping(addr, tlsConf)
		if last == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return last
}

func ping(addr string, tlsConf *tls.Config) error {
	var conn net.Conn
	var err error
	if tlsConf != nil {
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, tlsConf)
	} else {
		conn, err = net.DialTimeout("tcp", addr, time.Second)
	}
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") { // a server with a password answers too
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: find a free port: %v", err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

// BusyScript is a Lua script that keeps Redis busy for ARGV[1]
// microseconds, after an INCR of KEYS[1] when there is one: a command
// whose cost is real time in Redis (a slow command, a slow Redis). It
// returns the INCR's result, or 1 without a key.
const BusyScript = `
local n = 1
if KEYS[1] then n = redis.call('INCR', KEYS[1]) end
local t = redis.call('TIME')
local start = t[1] * 1000000 + t[2]
repeat
	t = redis.call('TIME')
until t[1] * 1000000 + t[2] - start >= tonumber(ARGV[1])
return n`

// Reply is a Redis error reply as go-redis returns it (a redis.Error), for
// tests of what an error means without a server that sends it.
type Reply string

func (r Reply) Error() string { return string(r) }

// RedisError marks Reply as a redis.Error.
func (Reply) RedisError() {}
