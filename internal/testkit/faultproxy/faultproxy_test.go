package faultproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ankitoon/redismw/internal/testkit/testmain"

	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
)

func TestMain(m *testing.M) { testmain.Run(m) }

// echo starts a line echo server on a free loopback port.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer func() { _ = c.Close() }(); _, _ = io.Copy(c, c) }()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}

// roundTrip sends a line through addr and returns the answer.
func roundTrip(addr string, wait time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte("hello\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

// TestModes: each mode and delay in turn, on one proxy and address, as
// the tests use them.
func TestModes(t *testing.T) {
	p := faultproxy.New(t, echo(t))
	setMode := func(t *testing.T, m faultproxy.Mode) {
		t.Helper()
		if err := p.SetMode(m); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("pass", func(t *testing.T) {
		if got, err := roundTrip(p.Addr(), time.Second); err != nil || got != "hello\n" {
			t.Fatalf("pass: %q, %v", got, err)
		}
	})
	t.Run("dial delay", func(t *testing.T) {
		p.SetDialDelay(100 * time.Millisecond)
		defer p.SetDialDelay(0)
		start := time.Now()
		if _, err := roundTrip(p.Addr(), time.Second); err != nil || time.Since(start) < 100*time.Millisecond {
			t.Errorf("dial delay: %v after %v, want an answer after ≥ 100ms", err, time.Since(start))
		}
	})
	t.Run("latency", func(t *testing.T) {
		p.SetLatency(80 * time.Millisecond)
		defer p.SetLatency(0)
		start := time.Now()
		if _, err := roundTrip(p.Addr(), time.Second); err != nil || time.Since(start) < 80*time.Millisecond {
			t.Errorf("latency: %v after %v, want an answer after ≥ 80ms", err, time.Since(start))
		}
	})
	t.Run("hang", func(t *testing.T) {
		setMode(t, faultproxy.Hang)
		var ne net.Error
		if _, err := roundTrip(p.Addr(), 200*time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("hang: %v, want a read timeout", err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		setMode(t, faultproxy.Reset)
		if _, err := roundTrip(p.Addr(), time.Second); !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
			t.Errorf("reset: %v, want a connection reset", err)
		}
	})
	t.Run("refuse", func(t *testing.T) {
		setMode(t, faultproxy.Refuse)
		before := p.Accepted()
		if _, err := roundTrip(p.Addr(), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("refuse: %v, want connection refused", err)
		}
		if p.Accepted() != before {
			t.Error("a refused connection was counted as accepted")
		}
	})
	t.Run("pass again on the same address", func(t *testing.T) {
		setMode(t, faultproxy.Pass)
		if got, err := roundTrip(p.Addr(), time.Second); err != nil || got != "hello\n" {
			t.Fatalf("pass again on the same address: %q, %v", got, err)
		}
		if got := p.Accepted(); got != 6 {
			t.Errorf("Accepted() = %d, want 6 (every connection but the refused one)", got)
		}
	})
}

func TestCutAll(t *testing.T) {
	p := faultproxy.New(t, echo(t))
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	r := bufio.NewReader(c)
	if _, err := c.Write([]byte("a\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	p.CutAll()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	_, _ = c.Write([]byte("b\n"))
	if line, err := r.ReadString('\n'); err == nil || strings.Contains(line, "b") {
		t.Errorf("after CutAll the connection still answers: %q, %v", line, err)
	}
}

// TestDrop: in Drop mode a dial hangs until its own timeout (the SYN is
// dropped, nothing refuses or resets it), and Pass serves again after it.
func TestDrop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	p := faultproxy.New(t, ln.Addr().String())
	if err := p.SetMode(faultproxy.Drop); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, err := net.DialTimeout("tcp", p.Addr(), 300*time.Millisecond)
	if err == nil {
		_ = c.Close()
		t.Fatal("a dial in Drop mode connected")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a dial in Drop mode failed with %v, want a timeout (the SYN dropped)", err)
	}
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Fatalf("a dial in Drop mode failed after %v, before its timeout", took)
	}
	if err := p.SetMode(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	c, err = net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("a dial after Drop: %v", err)
	}
	_ = c.Close()
}
