package admit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The warm-up goes on past Settings.Warmup while a herd at the gate is
// being served (more commands given a turn than came in the last look),
// and ends once the herd is served. (Without the extension the herd's
// waiters move to the limiter's queue at the end of Warmup;
// TestWarmupServesAHerdThatOutlastsIt passed 3 of 3 with the extension
// turned off, so this asks the limiter directly.)
func TestWarmupExtendsWhileAHerdDrains(t *testing.T) {
	const herd, hold = 60, 20 * time.Millisecond // 30 turns of 2: about 0.6 s
	l := New(Settings{MaxLimit: 2, Warmup: 300 * time.Millisecond, LongWait: 10 * time.Second})
	t.Cleanup(l.Close)
	start := time.Now()
	var wg sync.WaitGroup
	var served atomic.Int64
	for range herd {
		wg.Go(func() {
			p, err := l.Acquire(t.Context(), nil)
			if err != nil {
				t.Errorf("a command of the herd: %v", err)
				return
			}
			time.Sleep(hold)
			l.Release(p, true, true)
			served.Add(1)
		})
	}
	time.Sleep(450 * time.Millisecond)
	if n := served.Load(); n < herd-2 && !l.warming.Load() {
		t.Fatalf("warm-up over %v after the start with %d of %d served; want it extended while the herd drains at the gate", time.Since(start), n, herd)
	}
	wg.Wait()
	drained := time.Now()
	for l.warming.Load() {
		if time.Since(drained) > 5*time.Second {
			t.Fatal("the warm-up still on 5 s after the herd was served")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
