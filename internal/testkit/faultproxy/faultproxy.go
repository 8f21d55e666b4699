// Package faultproxy is a TCP proxy for tests that injects the faults a
// Redis client meets in production: connect latency, added latency, a
// server that accepts but never answers, resets, refused connections and a
// network partition. It listens on a free loopback port and counts the
// connections it accepts.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Mode is how the proxy treats new connections.
type Mode int32

const (
	// Pass forwards new connections to the target.
	Pass Mode = iota
	// Hang accepts new connections and never answers: what the client
	// sends is swallowed, nothing is forwarded, until the connection is cut.
	Hang
	// Reset accepts new connections and resets them at once (RST).
	Reset
	// Refuse stops listening: new connections are refused by the kernel.
	Refuse
	// Drop stops listening and drops new connections' SYNs, as a network
	// partition does: a dial hangs until its own timeout. (The port is held
	// by a socket whose accept queue is full and never accepted from.)
	// Connections already open keep going: pause the server behind the
	// proxy to stop them answering too.
	Drop
)

// String returns "pass", "hang", "reset", "refuse" or "drop".
func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Hang:
		return "hang"
	case Reset:
		return "reset"
	case Refuse:
		return "refuse"
	case Drop:
		return "drop"
	}
	return "unknown"
}

// Proxy forwards TCP connections from a loopback address to a target.
type Proxy struct {
	target string
	addr   string

	mode      atomic.Int32
	dialDelay atomic.Int64
	latency   atomic.Int64
	accepted  atomic.Int64

	mu     sync.Mutex
	ln     net.Listener
	hole   *blackhole // Drop's socket, nil otherwise
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New starts a proxy to target on a free 127.0.0.1 port; it is closed when
// the test ends.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: listen: %v", err)
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.Close)
	return p
}

// Addr returns the proxy's "127.0.0.1:port"; it stays the same whatever the
// mode.
func (p *Proxy) Addr() string { return p.addr }

// URL returns "redis://" + Addr().
func (p *Proxy) URL() string { return "redis://" + p.addr }

// Accepted returns how many connections the proxy has accepted.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Open returns how many connections are open through the proxy, on both
// sides (client and upstream).
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// SetDialDelay makes every new connection wait d before the proxy connects
// it to the target: the client's handshake takes d longer.
func (p *Proxy) SetDialDelay(d time.Duration) { p.dialDelay.Store(int64(d)) }

// SetLatency delays every chunk of data sent back to clients by d.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// SetMode changes how new connections are treated; connections already
// open keep going as they were (use [Proxy.CutAll] to end them).
func (p *Proxy) SetMode(m Mode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("faultproxy: closed")
	}
	p.mode.Store(int32(m))
	if p.hole != nil {
		p.hole.close()
		p.hole = nil
	}
	listening := m != Refuse && m != Drop
	switch {
	case !listening && p.ln != nil:
		if err := p.ln.Close(); err != nil {
			return err
		}
		p.ln = nil
	case listening && p.ln == nil:
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			return err
		}
		p.serveLocked(ln)
	}
	if m == Drop {
		hole, err := newBlackhole(p.addr)
		if err != nil {
			return err
		}
		p.hole = hole
	}
	return nil
}

// CutAll closes every open connection, as a network partition would.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}

// Close stops the proxy, closes every connection and waits for its
// goroutines to end.
func (p *Proxy) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		if p.hole != nil {
			p.hole.close()
			p.hole = nil
		}
		if p.ln != nil {
			_ = p.ln.Close()
			p.ln = nil
		}
		for c := range p.conns {
			_ = c.Close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serveLocked(ln)
}

func (p *Proxy) serveLocked(ln net.Listener) {
	p.ln = ln
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			if !p.track(c) {
				_ = c.Close()
				return
			}
			p.wg.Add(1)
			go p.handle(c)
		}
	})
}

// track registers c so that CutAll and Close reach it; false if closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) handle(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	switch Mode(p.mode.Load()) {
	case Hang:
		// Swallow whatever the client sends until the connection is cut.
		_, _ = io.Copy(io.Discard, c)
		return
	case Reset:
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		return
	}
	if d := time.Duration(p.dialDelay.Load()); d > 0 {
		time.Sleep(d)
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // the client sees a reset, as from a dead server
		}
		return
	}
	if !p.track(up) {
		_ = up.Close()
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(up, c)
		_ = up.Close()
		done <- struct{}{}
	}()
	go func() {
		p.copyDelayed(c, up)
		_ = c.Close()
		done <- struct{}{}
	}()
	<-done
	_ = c.Close()
	_ = up.Close()
	<-done
}

// copyDelayed copies src to dst, delaying each chunk by the proxy's latency.
func (p *Proxy) copyDelayed(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(p.latency.Load()); d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
