package connector

import (
	"fmt"
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

	wg         sync.WaitGroup // the running goroutine
	inCallback atomic.Bool    // a callback is running
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
	n.inCallback.Store(true)
	defer func() {
		n.inCallback.Store(false)
		if v := recover(); v != nil {
			otel.Handle(fmt.Errorf("redismw: panic in a callback (Logger or Breaker.OnStateChange): %v", v))
		}
	}()
	f()
}

// stop runs what is queued, drops what comes later, and waits for the
// goroutine to end — unless called from a callback, which the goroutine is
// running: then it ends by itself after that callback.
func (n *notifier) stop() {
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	if !n.inCallback.Load() {
		n.wg.Wait()
	}
}

// flush waits until every callback posted so far has run (for tests and
// Stats readers that want the log lines written).
func (n *notifier) flush() {
	done := make(chan struct{})
	n.post(func() { close(done) })
	n.mu.Lock()
	stopped := n.stopped
	n.mu.Unlock()
	if !stopped {
		<-done
	}
}
