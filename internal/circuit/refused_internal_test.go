package circuit

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ankitoon/redismw/breaker"
)

// TestDeferredConn: a connection handed out while the circuit is open
// fails with the refusal, without dialing, until the circuit has closed;
// then its first use dials, with the deadlines set before, and it behaves
// as the real connection.
func TestDeferredConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()

	b, _ := New(breaker.Settings{FailureThreshold: 1, Timeout: time.Hour, BaseTimeout: time.Hour})
	b.Trip(b.Epoch())
	dials := 0
	dc := &deferredConn{b: b, dial: func(ctx context.Context) (net.Conn, error) {
		dials++
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the deferred dial has no deadline")
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	}}
	if _, err := dc.Write([]byte("PING\r\n")); !errors.Is(err, breaker.ErrUnavailable) || !errors.Is(err, errNotDialed) {
		t.Fatalf("Write while open: %v, want the refusal", err)
	}
	if _, err := dc.Read(make([]byte, 1)); !errors.Is(err, breaker.ErrUnavailable) {
		t.Fatalf("Read while open: %v, want the refusal", err)
	}
	if dc.LocalAddr().String() != "not-dialed" || dc.RemoteAddr().Network() != "redismw" || dials != 0 {
		t.Fatalf("before the dial: %v %v, %d dials", dc.LocalAddr(), dc.RemoteAddr(), dials)
	}
	deadline := time.Now().Add(time.Minute)
	if err := dc.SetDeadline(deadline); err != nil {
		t.Fatal(err)
	}

	// The circuit closes (a probe succeeded): the first use dials.
	if _, err := b.Allow(); err == nil {
		t.Fatal("a probe admitted before its time")
	}
	b.probeAt.Store(time.Now().UnixNano())
	probe, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	probe.Report(breaker.Success)
	if _, err := dc.Write([]byte("PING\r\n")); err != nil || dials != 1 {
		t.Fatalf("Write once closed: %v after %d dials", err, dials)
	}
	server := <-accepted
	defer func() { _ = server.Close() }()
	if _, err := server.Write([]byte("+PONG\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(dc, buf); err != nil || string(buf) != "+PONG\r\n" {
		t.Fatalf("Read once dialed: %q, %v", buf, err)
	}
	if dc.RemoteAddr().String() != ln.Addr().String() || dc.LocalAddr().String() == "not-dialed" {
		t.Errorf("addresses once dialed: %v → %v", dc.LocalAddr(), dc.RemoteAddr())
	}
	if err := dc.SetDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Read(buf); err == nil {
		t.Error("Read past a deadline set after the dial succeeded")
	}
	if err := dc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// TestDeferredConnEdges: a deferred connection closed before it was ever
// used never dials; a failed dial is the failure of the use that caused
// it.
func TestDeferredConnEdges(t *testing.T) {
	b, _ := New(breaker.Settings{FailureThreshold: 1})
	buf := make([]byte, 7)
	t.Run("closed before use", func(t *testing.T) {
		never := &deferredConn{b: b, dial: func(context.Context) (net.Conn, error) {
			t.Error("a closed deferred connection dialed")
			return nil, errors.New("unreachable")
		}}
		if err := never.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := never.Read(buf); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close: %v, want net.ErrClosed", err)
		}
	})
	t.Run("failed dial", func(t *testing.T) {
		failing := &deferredConn{b: b, dial: func(context.Context) (net.Conn, error) { return nil, errors.New("connection refused") }}
		if _, err := failing.Write(buf); err == nil || err.Error() != "connection refused" {
			t.Errorf("Write with a failing dial: %v", err)
		}
	})
}
