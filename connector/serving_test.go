package connector_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// The circuit opens when Redis does not serve the connections this
// service has: never because a new connection could not be made for a
// reason Redis states, never on evidence that involved no I/O. Each test
// below reproduces, against real redis-server processes, a case where the
// circuit used to open (or flap) while a plain go-redis client kept
// serving, and serves at least 90 % of what that plain client serves in
// the same run.

// served runs n sequential INCRs on rdb and returns how many succeeded.
func served(ctx context.Context, rdb redis.UniversalClient, n int) int {
	ok := 0
	for range n {
		if rdb.Incr(ctx, "served").Err() == nil {
			ok++
		}
	}
	return ok
}

// moved drains moves and reports whether the circuit opened meanwhile.
func moved(moves <-chan breaker.State) (opened bool) {
	for {
		select {
		case to := <-moves:
			opened = opened || to == breaker.Open
		default:
			return opened
		}
	}
}

// warm makes each client's pool hold n established connections: n
// concurrent slow scripts each need one, and go-redis initialises (HELLO,
// AUTH) a pooled connection only when it is first used.
func warm(t *testing.T, n int, clients ...redis.UniversalClient) {
	t.Helper()
	for _, rdb := range clients {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if err := rdb.Eval(t.Context(), busyScript, nil, 50_000).Err(); err != nil {
					t.Errorf("warming the pool: %v", err)
				}
			})
		}
		wg.Wait()
		if idle := rdb.PoolStats().IdleConns; idle < uint32(n) {
			t.Fatalf("%d idle connections after warming, want %d", idle, n)
		}
	}
}

// fillClients takes every free client slot of the server at addr (its
// maxclients): it keeps open connections that Redis answered, until
// Redis answers "max number of clients reached". They close when the test
// ends.
func fillClients(t *testing.T, addr string) {
	t.Helper()
	for i := range 1000 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("filling the server's client slots: %v", err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		// An accepted client says nothing until asked; a refused one
		// gets the error reply and is closed.
		_, _ = c.Write([]byte("PING\r\n"))
		line, err := bufio.NewReader(c).ReadString('\n')
		_ = c.SetDeadline(time.Time{})
		if err != nil || !strings.HasPrefix(line, "+PONG") {
			_ = c.Close()
			if i == 0 {
				t.Fatalf("the first filler got %q, %v", line, err)
			}
			return
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Fatal("the server took 1000 clients")
}

func TestServingRedisKeepsTheCircuitClosed(t *testing.T) {
	t.Run("maxclients", func(t *testing.T) {
		srv := redistest.Start(t, "--maxclients", "24")
		var moves <-chan breaker.State
		c := newConnector(t, srv.URL()+"?pool_size=8", func(cfg *connector.Config) { moves = watch(cfg) })
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		plain := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 8})
		t.Cleanup(func() { _ = plain.Close() })
		warm(t, 3, rdb, plain)
		fillClients(t, srv.Addr)
		checks := c.Stats().Checks

		// 3 blocking commands hold the 3 connections; a 4th command
		// needs a new one, which Redis refuses: it fails on each client.
		for i, client := range []redis.UniversalClient{rdb, plain} {
			var wg sync.WaitGroup
			for range 3 {
				wg.Go(func() { _ = client.BLPop(t.Context(), 500*time.Millisecond, "nothing").Err() })
			}
			eventually(t, 10*time.Second, "3 blocked commands", func() bool { return client.PoolStats().IdleConns == 0 })
			err := client.Ping(t.Context()).Err()
			wg.Wait()
			if err == nil {
				t.Fatalf("client %d: a command that needed a 4th connection succeeded: the server's client slots were not full", i)
			}
		}
		settled(t, c, checks+1)
		ours, theirs := served(t.Context(), rdb, 100), served(t.Context(), plain, 100)
		t.Logf("at maxclients: served %d of 100, a plain client %d", ours, theirs)
		if opened := moved(moves); opened || 10*ours < 9*theirs {
			t.Errorf("at maxclients: circuit opened %v, served %d of 100 where a plain client served %d", opened, ours, theirs)
		}
	})

	t.Run("password rotated", func(t *testing.T) {
		srv := redistest.Start(t)
		admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { _ = admin.Close() })
		if err := admin.Do(t.Context(), "ACL", "SETUSER", "app", "on", ">p1", "~*", "+@all").Err(); err != nil {
			t.Fatal(err)
		}
		var moves <-chan breaker.State
		c := newConnector(t, "redis://app:p1@"+srv.Addr+"?pool_size=8", func(cfg *connector.Config) { moves = watch(cfg) })
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		plain := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: "app", Password: "p1", PoolSize: 8})
		t.Cleanup(func() { _ = plain.Close() })
		warm(t, 3, rdb, plain)
		if err := admin.Do(t.Context(), "ACL", "SETUSER", "app", "resetpass", ">p2").Err(); err != nil {
			t.Fatal(err)
		}
		checks := c.Stats().Checks
		// A caller's short deadline on a blocking command: a suspicion,
		// which the connector checks while new connections get WRONGPASS.
		for _, client := range []redis.UniversalClient{rdb, plain} {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			_ = client.BLPop(ctx, time.Second, "nothing").Err()
			cancel()
		}
		settled(t, c, checks+1)
		ours, theirs := served(t.Context(), rdb, 100), served(t.Context(), plain, 100)
		t.Logf("after a password rotation: served %d of 100, a plain client %d", ours, theirs)
		if opened := moved(moves); opened || 10*ours < 9*theirs {
			t.Errorf("after a password rotation: circuit opened %v, served %d of 100 where a plain client served %d", opened, ours, theirs)
		}
	})

	t.Run("CLIENT KILL", func(t *testing.T) {
		srv := redistest.Start(t)
		admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { _ = admin.Close() })
		var moves <-chan breaker.State
		c := newConnector(t, srv.URL(), func(cfg *connector.Config) { moves = watch(cfg) })
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var killed atomic.Int32
		for i := range 8 {
			wg.Go(func() {
				if err := rdb.BLPop(t.Context(), 10*time.Second, "key"+itoa(i)).Err(); err != nil && !errors.Is(err, redis.Nil) {
					killed.Add(1)
				}
			})
		}
		eventually(t, 10*time.Second, "8 blocked clients", func() bool {
			info, _ := admin.Info(t.Context(), "clients").Result()
			return strings.Contains(info, "blocked_clients:8")
		})
		checks := c.Stats().Checks
		if err := admin.Do(t.Context(), "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if killed.Load() != 8 {
			t.Fatalf("%d of the 8 blocked commands failed, want 8", killed.Load())
		}
		settled(t, c, checks+1)
		ours := served(t.Context(), rdb, 100)
		t.Logf("after CLIENT KILL: served %d of 100 (stats %+v)", ours, c.Stats())
		if opened := moved(moves); opened || ours < 90 {
			t.Errorf("after CLIENT KILL: circuit opened %v, served %d of 100 (stats %+v)", opened, ours, c.Stats())
		}
	})

	t.Run("stale holder", func(t *testing.T) {
		srv := redistest.Start(t)
		var moves <-chan breaker.State
		c := newConnector(t, srv.URL(), func(cfg *connector.Config) { moves = watch(cfg) })
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		conn := rdb.(*redis.Client).Conn()
		t.Cleanup(func() { _ = conn.Close() })
		if err := conn.Ping(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		srv.Kill()
		if err := conn.Ping(t.Context()).Err(); err == nil {
			t.Fatal("a PING on a connection to a killed server succeeded")
		}
		await(t, moves, breaker.Open)
		srv.Restart()
		await(t, moves, breaker.Closed)
		// The holder's connection died in the outage: go-redis answers
		// every call on it with its old error, without any I/O.
		checks := c.Stats().Checks
		for range 200 {
			if err := conn.Ping(t.Context()).Err(); err == nil {
				t.Fatal("a PING on a dead sticky connection succeeded")
			}
		}
		settled(t, c, checks+1)
		if opened := moved(moves); opened || served(t.Context(), rdb, 100) < 90 {
			t.Errorf("a stale holder's errors: circuit opened %v (stats %+v)", opened, c.Stats())
		}
	})

	t.Run("READONLY replica", func(t *testing.T) {
		srv := redistest.Start(t)
		admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { _ = admin.Close() })
		var moves <-chan breaker.State
		c := newConnector(t, srv.URL()+"?pool_size=30", func(cfg *connector.Config) { moves = watch(cfg) })
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		plain := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 30})
		t.Cleanup(func() { _ = plain.Close() })
		if err := admin.Set(t.Context(), "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		// A demoted master: its replication link never comes up, it
		// serves stale reads and refuses writes with READONLY.
		if err := admin.Do(t.Context(), "REPLICAOF", "127.0.0.1", itoa(redistest.FreePort(t))).Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Do(context.Background(), "REPLICAOF", "NO", "ONE").Err() })
		readShare := func(client redis.UniversalClient) float64 {
			var reads, ok atomic.Int64
			var wg sync.WaitGroup
			stop := time.Now().Add(1500 * time.Millisecond)
			for range 20 {
				wg.Go(func() {
					for i := 0; i < 2000 && time.Now().Before(stop); i++ {
						if i%10 == 0 {
							_ = client.Set(t.Context(), "k", "w", 0).Err() // refused: READONLY
							continue
						}
						reads.Add(1)
						if client.Get(t.Context(), "k").Err() == nil {
							ok.Add(1)
						}
					}
				})
			}
			wg.Wait()
			return float64(ok.Load()) / float64(max(reads.Load(), 1))
		}
		theirs, ours := readShare(plain), readShare(rdb)
		t.Logf("on a READONLY replica: %.1f %% of reads served, a plain client %.1f %%", 100*ours, 100*theirs)
		if opened := moved(moves); opened || ours < 0.9*theirs {
			t.Errorf("on a READONLY replica: circuit opened %v, %.1f %% of reads served where a plain client served %.1f %%",
				opened, 100*ours, 100*theirs)
		}
	})
}

// TestDetectedWithinTwoReadTimeouts: the hangs whose detection used to
// take longer than 2 × read_timeout — a partition that drops new
// connections' SYNs (the check's dial was bounded by AttemptTimeout), and
// a hang while blocking commands hold the whole pool (the first suspicion
// came only at go-redis' PoolTimeout, read_timeout + 1s).
func TestDetectedWithinTwoReadTimeouts(t *testing.T) {
	const rt = 500 * time.Millisecond
	const slack = 800 * time.Millisecond // below the 1s the old bounds added
	detect := func(t *testing.T, c *connector.Connector, moves <-chan breaker.State, hang func()) {
		t.Helper()
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		hang()
		hung := time.Now()
		opened := make(chan time.Duration, 1)
		go func() {
			await(t, moves, breaker.Open)
			opened <- time.Since(hung)
		}()
		for {
			select {
			case took := <-opened:
				if took > 2*rt+slack {
					t.Errorf("circuit open %v after the hang, want within 2 × read_timeout (%v) + %v", took, 2*rt, slack)
				}
				t.Logf("circuit open %v after the hang", took.Round(time.Millisecond))
				return
			default:
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			_ = rdb.Ping(ctx).Err()
			cancel()
		}
	}

	t.Run("partition", func(t *testing.T) {
		srv := redistest.Start(t)
		proxy := faultproxy.New(t, srv.Addr)
		var moves <-chan breaker.State
		c := newConnector(t, proxy.URL()+"?read_timeout=500ms", func(cfg *connector.Config) {
			moves = watch(cfg)
			cfg.AttemptTimeout = 5 * time.Second
		})
		t.Cleanup(srv.Resume)
		detect(t, c, moves, func() {
			srv.Pause() // established connections get no answer
			if err := proxy.SetMode(faultproxy.Drop); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("pool held by blocking commands", func(t *testing.T) {
		srv := redistest.Start(t)
		admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { _ = admin.Close() })
		var moves <-chan breaker.State
		c := newConnector(t, srv.URL()+"?read_timeout=500ms&pool_size=4", func(cfg *connector.Config) { moves = watch(cfg) })
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		t.Cleanup(func() {
			srv.Resume()
			cancel()
			for i := range 4 { // BLPOP 0 has no deadline: a push ends it
				_ = admin.LPush(context.Background(), "held"+itoa(i), "x").Err()
			}
			wg.Wait()
		})
		for i := range 4 {
			wg.Go(func() { _ = rdb.BLPop(ctx, 0, "held"+itoa(i)).Err() })
		}
		eventually(t, 10*time.Second, "4 blocked clients", func() bool {
			info, _ := admin.Info(t.Context(), "clients").Result()
			return strings.Contains(info, "blocked_clients:4")
		})
		detect(t, c, moves, srv.Pause)
	})
}

// TestWatchLeftBehind: a WATCH transaction during which the circuit opens
// leaves no WATCH on a pooled connection: after recovery an unrelated
// transaction is not failed by it.
func TestWatchLeftBehind(t *testing.T) {
	srv := redistest.Start(t)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = admin.Close() })
	var moves <-chan breaker.State
	c := newConnector(t, srv.URL()+"?read_timeout=300ms&pool_size=1", func(cfg *connector.Config) {
		moves = watch(cfg)
		cfg.Breaker.BaseTimeout = time.Second // long enough for EXEC to meet the open circuit
		cfg.Breaker.Timeout = time.Second
	})
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Resume)
	err = rdb.Watch(t.Context(), func(tx *redis.Tx) error {
		if err := tx.Get(t.Context(), "k").Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		// The circuit opens now: Redis hangs, and a command that waits
		// for the pool's only connection (held here) raises a suspicion
		// that the connector's check confirms.
		srv.Pause()
		go func() { _ = rdb.Ping(context.Background()).Err() }()
		await(t, moves, breaker.Open)
		srv.Resume()
		_, err := tx.TxPipelined(t.Context(), func(p redis.Pipeliner) error {
			p.Set(t.Context(), "k", "1", 0)
			return nil
		})
		return err
	}, "k")
	if !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("EXEC on the open circuit: %v, want ErrUnavailable", err)
	}
	await(t, moves, breaker.Closed)
	noWatchLeft(t, admin, rdb)
}

// noWatchLeft fails t if a WATCH of key "k" was left on a pooled connection
// of rdb: it changes "k", then runs an unrelated WATCH transaction, which
// such a left-over WATCH would fail.
func noWatchLeft(t *testing.T, admin *redis.Client, rdb redis.UniversalClient) {
	t.Helper()
	if err := admin.Set(t.Context(), "k", "changed", 0).Err(); err != nil {
		t.Fatal(err)
	}
	err := rdb.Watch(t.Context(), func(tx *redis.Tx) error {
		_, err := tx.TxPipelined(t.Context(), func(p redis.Pipeliner) error {
			p.Set(t.Context(), "other", "1", 0)
			return nil
		})
		return err
	}, "other")
	if err != nil {
		t.Errorf("an unrelated transaction after recovery: %v (a WATCH of the interrupted one was left on the connection)", err)
	}
}

// TestHonestFigures: Stats counts what the circuit counted, and says what
// the connector is doing.
func TestHonestFigures(t *testing.T) {
	t.Run("failures are what the circuit counted", func(t *testing.T) {
		srv := redistest.Start(t)
		var moves <-chan breaker.State
		c := newConnector(t, srv.URL()+"?pool_size=120", func(cfg *connector.Config) {
			moves = watch(cfg)
			cfg.Breaker.BaseTimeout = time.Minute // no probe while the figures are read
			cfg.Breaker.Timeout = time.Minute
		})
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() { _ = rdb.BLPop(t.Context(), 10*time.Second, "key"+itoa(i)).Err() })
		}
		eventually(t, 10*time.Second, "100 commands in flight", func() bool { return rdb.PoolStats().TotalConns >= 100 })
		srv.Kill()
		wg.Wait()
		await(t, moves, breaker.Open)
		s := c.Stats()
		t.Logf("100 commands in flight when Redis was killed: %d failures, %d checks, %d failed", s.Failures, s.Checks, s.ChecksFailed)
		if s.Failures > 5 || s.ChecksFailed > 1 {
			t.Errorf("100 commands in flight when Redis was killed: %d failures and %d failed checks counted; the circuit counts at most its threshold (5) before it opens, and one check opened it",
				s.Failures, s.ChecksFailed)
		}
	})

	t.Run("state during a probe", func(t *testing.T) {
		srv := redistest.Start(t)
		var moves <-chan breaker.State
		c := newConnector(t, srv.URL()+"?read_timeout=200ms", func(cfg *connector.Config) { moves = watch(cfg) })
		rdb, err := c.Client(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		srv.Pause()
		t.Cleanup(srv.Resume)
		for c.Stats().Circuit == breaker.Closed {
			_ = rdb.Ping(t.Context()).Err()
		}
		await(t, moves, breaker.HalfOpen) // a probe is in flight
		wrong := map[connector.State]int{}
		for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
			if s := c.Stats(); s.Circuit != breaker.Closed && s.State != connector.StateCircuitOpen {
				wrong[s.State]++
			}
		}
		if len(wrong) > 0 {
			t.Errorf("while the circuit was open or probing, Stats().State said %v; want circuit_open", wrong)
		}
	})

	t.Run("Close from OnNewClient", func(t *testing.T) {
		srv := redistest.Start(t)
		var c *connector.Connector
		returned := make(chan error, 1)
		c = newConnector(t, srv.URL(), func(cfg *connector.Config) {
			cfg.OnNewClient = func(redis.UniversalClient) error {
				returned <- c.Close()
				return nil
			}
		})
		go func() { _, _ = c.Client(context.Background()) }()
		select {
		case err := <-returned:
			if err != nil {
				t.Errorf("Close from OnNewClient: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close called from OnNewClient did not return within 10s")
		}
		if _, err := c.Client(t.Context()); !errors.Is(err, connector.ErrClosed) {
			t.Errorf("Client after Close: %v, want ErrClosed", err)
		}
	})
}
