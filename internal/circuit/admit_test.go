package circuit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/admit"
	"github.com/ankitoon/redismw/internal/circuit"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
)

// TestHookAdmits: with a limit of 2 held by commands a hung server never
// answers, the hook refuses the others at once with admit's Shed, which
// the circuit does not count; a pipeline is refused whole; blocking and
// state-ending commands take no permit.
func TestHookAdmits(t *testing.T) {
	mr := miniredis.RunT(t)
	proxy := faultproxy.New(t, mr.Addr())
	if err := proxy.SetMode(faultproxy.Hang); err != nil {
		t.Fatal(err)
	}
	b := mustNew(t, breaker.Settings{})
	lim := admit.New(admit.Settings{MaxLimit: 2, Warmup: time.Nanosecond})
	t.Cleanup(lim.Close)
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), MaxRetries: -1, DialerRetries: 1, ReadTimeout: 2 * time.Second})
	rdb.AddHook(b.NewHook(circuit.HookEvents{Admit: lim}))
	t.Cleanup(func() { _ = rdb.Close() })
	time.Sleep(time.Millisecond) // past the warm-up

	var hung sync.WaitGroup
	for range 2 {
		hung.Go(func() { _ = rdb.Get(t.Context(), "k").Err() })
	}
	deadline := time.Now().Add(10 * time.Second)
	for lim.Inflight() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if lim.Inflight() != 2 {
		t.Fatalf("inflight %d; want the 2 hung commands", lim.Inflight())
	}
	for i := range 20 {
		if err := rdb.Get(t.Context(), "k").Err(); !errors.Is(err, admit.ErrOverloaded) || !errors.Is(err, breaker.ErrUnavailable) {
			t.Fatalf("command %d beyond the hung limit: %v; want it shed", i, err)
		}
	}
	cmds, err := rdb.Pipelined(t.Context(), func(p redis.Pipeliner) error {
		p.Get(t.Context(), "a")
		p.Get(t.Context(), "b")
		return nil
	})
	if !errors.Is(err, admit.ErrOverloaded) {
		t.Fatalf("pipeline beyond the limit: %v; want it shed", err)
	}
	for _, c := range cmds {
		if !errors.Is(c.Err(), admit.ErrOverloaded) {
			t.Fatalf("a shed pipeline's %v: %v", c.Args(), c.Err())
		}
	}
	// A blocking command takes no permit: it reaches the (hung) server
	// and ends with its own deadline, not with a shed.
	if err := rdb.BLPop(t.Context(), 100*time.Millisecond, "q").Err(); errors.Is(err, admit.ErrOverloaded) {
		t.Fatalf("BLPOP was shed: %v", err)
	}
	hung.Wait()
	if b.Failures() != 0 || b.State() != breaker.Closed {
		t.Fatalf("failures %d, state %v after sheds: the circuit must not count them", b.Failures(), b.State())
	}
	if lim.ShedCount() != 21 {
		t.Fatalf("ShedCount %d; want the 20 commands and the pipeline", lim.ShedCount())
	}
}

// panicHook panics in every command it sees.
type panicHook struct{}

func (panicHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (panicHook) ProcessHook(redis.ProcessHook) redis.ProcessHook {
	return func(context.Context, redis.Cmder) error { panic("user hook") }
}
func (panicHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestPanicReleasesPermit: a panic inside the command (a user's hook
// after the circuit's) gives its permit back.
func TestPanicReleasesPermit(t *testing.T) {
	mr := miniredis.RunT(t)
	b := mustNew(t, breaker.Settings{})
	lim := admit.New(admit.Settings{MaxLimit: 2, Warmup: time.Nanosecond})
	t.Cleanup(lim.Close)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	rdb.AddHook(b.NewHook(circuit.HookEvents{Admit: lim}))
	rdb.AddHook(panicHook{})
	t.Cleanup(func() { _ = rdb.Close() })
	time.Sleep(time.Millisecond)
	for range 4 {
		func() {
			defer func() { _ = recover() }()
			_ = rdb.Get(t.Context(), "k").Err()
		}()
	}
	if n := lim.Inflight(); n != 0 {
		t.Fatalf("%d permits held after 4 recovered panics; want 0", n)
	}
}

// TestMultiOnAConnIsNotShed: between a Conn's MULTI and its EXEC, Redis
// only queues commands; shedding one of them would make EXEC commit the
// others without it. Commands of an open MULTI are never shed, even while
// the limiter refuses every other command (a hang holds its permits).
func TestMultiOnAConnIsNotShed(t *testing.T) {
	mr := miniredis.RunT(t)
	proxy := faultproxy.New(t, mr.Addr())
	b := mustNew(t, breaker.Settings{})
	lim := admit.New(admit.Settings{MaxLimit: 2, Warmup: time.Nanosecond})
	t.Cleanup(lim.Close)
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), MaxRetries: -1, DialerRetries: 1, ReadTimeout: 5 * time.Second})
	rdb.AddHook(b.NewHook(circuit.HookEvents{Admit: lim}))
	t.Cleanup(func() { _ = rdb.Close() })
	time.Sleep(time.Millisecond) // past the warm-up

	conn := rdb.Conn()
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.Do(t.Context(), "multi").Err(); err != nil {
		t.Fatal(err)
	}
	// New connections hang: two commands hold the limit, unanswered,
	// until the limiter refuses every other command.
	if err := proxy.SetMode(faultproxy.Hang); err != nil {
		t.Fatal(err)
	}
	var hung sync.WaitGroup
	for range 2 {
		hung.Go(func() { _ = rdb.Get(t.Context(), "k").Err() })
	}
	deadline := time.Now().Add(10 * time.Second)
	for lim.Inflight() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if lim.Inflight() != 2 {
		t.Fatalf("inflight %d; want the 2 hung commands", lim.Inflight())
	}
	if err := rdb.Get(t.Context(), "k").Err(); !errors.Is(err, admit.ErrOverloaded) {
		t.Fatalf("a command beyond the hung limit: %v; want it shed", err)
	}
	for _, k := range []string{"a", "b"} {
		if err := conn.Do(t.Context(), "set", k, "1").Err(); err != nil {
			t.Fatalf("SET %s inside MULTI: %v; want it queued, not shed", k, err)
		}
	}
	if err := conn.Do(t.Context(), "exec").Err(); err != nil {
		t.Fatalf("EXEC: %v", err)
	}
	for _, k := range []string{"a", "b"} {
		if v, err := mr.Get(k); err != nil || v != "1" {
			t.Fatalf("%s = %q (%v) after EXEC; want the whole transaction applied", k, v, err)
		}
	}
	// After EXEC the Conn's commands are limited again.
	if err := conn.Get(t.Context(), "a").Err(); !errors.Is(err, admit.ErrOverloaded) {
		t.Fatalf("GET on the Conn after EXEC: %v; want it shed like any other", err)
	}
	hung.Wait()
}
