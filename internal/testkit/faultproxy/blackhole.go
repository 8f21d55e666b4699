package faultproxy

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// blackhole holds a loopback port so that new connections to it hang: a
// listening socket with a backlog of 0, whose accept queue is filled once
// and never accepted from, so that the kernel drops every later SYN (Linux
// drops a SYN for a listener whose accept queue is full).
type blackhole struct {
	fd    int
	fills []net.Conn
}

func newBlackhole(addr string) (*blackhole, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: socket: %w", err)
	}
	h := &blackhole{fd: fd}
	sa := &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		h.close()
		return nil, fmt.Errorf("faultproxy: SO_REUSEADDR: %w", err)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		h.close()
		return nil, fmt.Errorf("faultproxy: bind %s: %w", addr, err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		h.close()
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	// Fill the accept queue; the dial that finds it full is the first
	// whose SYN is dropped.
	for range 3 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		h.fills = append(h.fills, c)
	}
	return h, nil
}

func (h *blackhole) close() {
	for _, c := range h.fills {
		_ = c.Close()
	}
	_ = syscall.Close(h.fd)
}
