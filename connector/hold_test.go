package connector_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// A subscription dialed while a proxy resets new connections (the pool's
// established connections serve, the circuit stays closed) begins a hold
// on dials; the proxy passes again, and a subscription made at once must
// be served: a PubSub has no established connection to wait for, so its
// dial is not held (in review, held, 20 of 20 such subscriptions failed
// with "no new connection dialed").
func TestHoldSparesPubSub(t *testing.T) {
	srv := redistest.Start(t)
	proxy := faultproxy.New(t, srv.Addr)
	k := (*counting)(nil)
	c := newConnector(t, proxy.URL()+"?pool_size=8&read_timeout=500ms", func(cfg *connector.Config) { k = count(cfg) })
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	warm(t, 8, rdb)
	ctx := t.Context()
	subscribe := func() error {
		ps := rdb.Subscribe(ctx, "ch")
		defer func() { _ = ps.Close() }()
		_, err := ps.ReceiveTimeout(ctx, time.Second)
		return err
	}
	const rounds = 10
	var refused, failed int
	var errs []string
	for range rounds {
		if err := proxy.SetMode(faultproxy.Reset); err != nil {
			t.Fatal(err)
		}
		if subscribe() != nil {
			refused++
		}
		if err := proxy.SetMode(faultproxy.Pass); err != nil {
			t.Fatal(err)
		}
		if err := subscribe(); err != nil {
			failed++
			errs = append(errs, err.Error())
		}
		if err := rdb.Incr(ctx, "n").Err(); err != nil {
			t.Errorf("a command on the established connections failed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if refused < rounds/2 {
		t.Fatalf("only %d of %d subscriptions failed while the proxy reset new connections: the scenario did not hold", refused, rounds)
	}
	if failed > 1 {
		t.Errorf("%d of %d subscriptions made after the proxy passed again failed: %q", failed, rounds, errs)
	}
	if n := len(k.moves); n != 0 {
		t.Errorf("the circuit moved %d times while the established connections served", n)
	}
}

// CLIENT KILL of every normal connection of a healthy Redis, five times 2
// ms apart, under 20 callers on a pool of 8: connections killed during
// their HELLO begin holds on dials, which must end as soon as a new
// connection is served, the commands that waited running at once. The
// circuit must not move, and the load must be served again as before.
func TestHoldEndsAfterClientKill(t *testing.T) {
	srv := redistest.Start(t)
	k := (*counting)(nil)
	c := newConnector(t, srv.URL()+"?pool_size=8&read_timeout=500ms", func(cfg *connector.Config) { k = count(cfg) })
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	warm(t, 8, rdb)
	l := startOutageLoad(rdb, 20)
	end := sync.OnceFunc(l.end)
	defer end()
	time.Sleep(300 * time.Millisecond)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer func() { _ = admin.Close() }()
	before := l.ok.Load()
	time.Sleep(300 * time.Millisecond)
	before = l.ok.Load() - before
	ok0, f0 := l.ok.Load(), l.failed.Load()
	for range 5 {
		if err := admin.Do(context.Background(), "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	ok1 := l.ok.Load()
	time.Sleep(300 * time.Millisecond)
	after := l.ok.Load() - ok1
	end()
	failed := l.failed.Load() - f0
	t.Logf("300 ms before: %d served; kills: %d failed, %d served in the next 300 ms; 300 ms after that: %d served",
		before, failed, ok1-ok0, after)
	// At most the commands in flight on the killed connections, and those
	// that found none to wait for, once per kill.
	if failed > 5*20 {
		t.Errorf("%d commands failed across five kills of 20 callers' connections", failed)
	}
	if after < before/3 {
		t.Errorf("the load was not served again after the kills: %d served in 300 ms, %d before them", after, before)
	}
	if n := len(k.moves); n != 0 {
		t.Errorf("the circuit moved %d times after CLIENT KILL on a healthy Redis", n)
	}
}

// Per-request subscriptions (an SSE handler, say) while a proxy resets
// new connections and the pool's established ones serve, so the circuit
// stays closed: 20 callers loop Subscribe and Receive for a second. A
// PubSub's dial waits for the hold's next trial rather than dialing at
// once, so the subscriptions cost the proxy at most about one dial per
// trial (in review, dialing at every Subscribe and Receive: 6 168–6 830
// dials in the second; held: 22–35).
func TestHoldBoundsPubSubDials(t *testing.T) {
	srv := redistest.Start(t)
	proxy := faultproxy.New(t, srv.Addr)
	k := (*counting)(nil)
	c := newConnector(t, proxy.URL()+"?pool_size=8&read_timeout=500ms", func(cfg *connector.Config) { k = count(cfg) })
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	warm(t, 8, rdb)
	l := startOutageLoad(rdb, 8)
	end := sync.OnceFunc(l.end)
	defer end()
	if err := proxy.SetMode(faultproxy.Reset); err != nil {
		t.Fatal(err)
	}
	a0 := proxy.Accepted()
	var subs, fails atomic.Int64
	var wg sync.WaitGroup
	until := time.Now().Add(time.Second)
	for range 20 {
		wg.Go(func() {
			for i := 0; i < 100_000 && time.Now().Before(until); i++ {
				ps := rdb.Subscribe(t.Context(), "sse")
				_, err := ps.ReceiveTimeout(t.Context(), 500*time.Millisecond)
				_ = ps.Close()
				subs.Add(1)
				if err != nil {
					fails.Add(1)
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	dials := proxy.Accepted() - a0
	if err := proxy.SetMode(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	end()
	t.Logf("%d subscriptions in 1 s, %d failed; %d dials; INCR served %d, failed %d", subs.Load(), fails.Load(), dials, l.ok.Load(), l.failed.Load())
	if subs.Load() == 0 || fails.Load() != subs.Load() {
		t.Fatalf("%d of %d subscriptions failed while the proxy reset every new connection: the scenario did not hold", fails.Load(), subs.Load())
	}
	// Trials at most every 100 ms after the first few: about 15 in the
	// second; 200 leaves room for a busy machine and is 30 times fewer
	// than a dial per Subscribe and Receive.
	if dials > 200 {
		t.Errorf("%d dials in a second of subscriptions refused by a proxy: want them held to the hold's trials", dials)
	}
	if l.failed.Load() != 0 {
		t.Errorf("%d commands failed on the established connections", l.failed.Load())
	}
	if n := len(k.moves); n != 0 {
		t.Errorf("the circuit moved %d times while the established connections served", n)
	}
}
