package connector

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
)

// notifier runs callbacks — the user's OnStateChange, and log lines, which
// call the user's Logger — one at a time, in the order they were posted,
// on a goroutine that holds no lock of the connector or of gobreaker. So a
// callback may call the connector (even Close), and a panic in one is
// recovered and reported to otel.Handle instead of killing the process or
// wedging the circuit.
type notifier struct {
	mu sync.Mutex
	// Guarded by mu.
	queue   []func()
	running bool
	stopped bool

	wg     sync.WaitGroup // the running goroutine
	runner atomic.Uint64  // the running goroutine's id, 0 when none
}

// post queues f; after stop it is dropped.
func (n *notifier) post(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return
	}
	n.queue = append(n.queue, f)
	if !n.running {
		n.running = true
		n.wg.Add(1)
		go n.drain()
	}
}

func (n *notifier) drain() {
	defer n.wg.Done()
	n.runner.Store(goid())
	defer n.runner.Store(0)
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.running = false
			n.mu.Unlock()
			return
		}
		f := n.queue[0]
		n.queue[0] = nil
		n.queue = n.queue[1:]
		n.mu.Unlock()
		n.call(f)
	}
}

func (n *notifier) call(f func()) {
	defer func() {
		if v := recover(); v != nil {
			otel.Handle(fmt.Errorf("redismw: panic in a callback (Logger or Breaker.OnStateChange): %v", v))
		}
	}()
	f()
}

// stop runs what is queued, drops what comes later, and waits for the
// goroutine to end — unless it is called from a callback, on that very
// goroutine, which cannot wait for itself: then the goroutine ends by
// itself once that callback returns.
func (n *notifier) stop() {
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	if id := n.runner.Load(); id != 0 && id == goid() {
		return
	}
	n.wg.Wait()
}

// goid returns the calling goroutine's id, read from its stack header
// ("goroutine 42 [running]:"). Only stop uses it, to tell a Close called
// from a callback from one called elsewhere: there is no other way to
// know, and waiting for oneself would deadlock.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		id, _ := strconv.ParseUint(string(b[:i]), 10, 64)
		return id
	}
	return 0
}
