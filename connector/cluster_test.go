package connector_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// startCluster starts three redis-server processes in cluster mode, gives
// each a third of the slots, joins them, and waits until the cluster is ok.
func startCluster(t *testing.T) []*redistest.Server {
	t.Helper()
	var nodes []*redistest.Server
	for range 3 {
		nodes = append(nodes, redistest.Start(t, "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000"))
	}
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, n := range nodes {
		c := redis.NewClient(&redis.Options{Addr: n.Addr})
		if err := c.Do(t.Context(), "CLUSTER", "ADDSLOTSRANGE", ranges[i][0], ranges[i][1]).Err(); err != nil {
			t.Fatalf("ADDSLOTSRANGE on %s: %v", n.Addr, err)
		}
		if i > 0 {
			if err := c.Do(t.Context(), "CLUSTER", "MEET", "127.0.0.1", nodes[0].Port).Err(); err != nil {
				t.Fatalf("CLUSTER MEET: %v", err)
			}
		}
		_ = c.Close()
	}
	waitClusterOK(t, nodes)
	return nodes
}

// waitClusterOK waits until every node reports cluster_state:ok with three
// known nodes.
func waitClusterOK(t *testing.T, nodes []*redistest.Server) {
	t.Helper()
	eventually(t, 30*time.Second, "the cluster reaching state ok", func() bool {
		for _, n := range nodes {
			c := redis.NewClient(&redis.Options{Addr: n.Addr})
			info, err := c.ClusterInfo(context.Background()).Result()
			_ = c.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				return false
			}
		}
		return true
	})
}

// TestCluster: a 3-master Redis Cluster. A herd on a cold connector makes
// one connect; commands reach every slot; a master killed opens the circuit
// (the cluster cannot serve all its slots) and commands then fail fast;
// the master restarted, the connector recovers.
func TestCluster(t *testing.T) {
	nodes := startCluster(t)
	url := fmt.Sprintf("redis://%s?addr=%s&addr=%s", nodes[0].Addr, nodes[1].Addr, nodes[2].Addr)
	c := newConnector(t, url, func(cfg *connector.Config) {
		cfg.Breaker.Timeout = time.Second
	})
	ctx := t.Context()

	const callers = 1000
	clients := make([]redis.UniversalClient, callers)
	errs := make([]error, callers)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-gate
			clients[i], errs[i] = c.Client(ctx)
		})
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	herd := time.Since(start)
	for i := range callers {
		if errs[i] != nil || clients[i] != clients[0] {
			t.Fatalf("caller %d: %v (same client: %v)", i, errs[i], clients[i] == clients[0])
		}
	}
	if _, ok := clients[0].(*redis.ClusterClient); !ok {
		t.Fatalf("client is a %T, want *redis.ClusterClient", clients[0])
	}
	if s := c.Stats(); s.Connects != 1 || s.Attempts != 1 {
		t.Errorf("herd of %d: %d connects, %d attempts; want 1, 1", callers, s.Connects, s.Attempts)
	}
	t.Logf("cluster herd: %d callers, %d connect, all served in %v", callers, c.Stats().Connects, herd)

	rdb := clients[0]
	for i := range 300 {
		if err := rdb.Set(ctx, "key:"+strconv.Itoa(i), i, 0).Err(); err != nil {
			t.Fatalf("SET across slots: %v", err)
		}
	}
	for _, n := range nodes {
		nc := redis.NewClient(&redis.Options{Addr: n.Addr})
		size, err := nc.DBSize(ctx).Result()
		_ = nc.Close()
		if err != nil || size == 0 {
			t.Errorf("master %s holds %d keys (%v): the commands did not spread over the slots", n.Addr, size, err)
		}
	}

	// A master dies: commands for its slots fail, the circuit opens.
	nodes[1].Kill()
	// The first failed command asks for the connector's check, which
	// PINGs every master: the dead one does not answer.
	for i := 0; c.Stats().Circuit != breaker.Open; i++ {
		if i == 10_000 {
			t.Fatal("circuit still closed after 10 000 commands (10s) with a master down")
		}
		_ = rdb.Set(ctx, "key:"+strconv.Itoa(i%300), i, 0).Err()
		time.Sleep(time.Millisecond)
	}
	var slowest time.Duration
	for i := range 300 {
		start := time.Now()
		err := rdb.Get(ctx, "key:"+strconv.Itoa(i)).Err()
		slowest = max(slowest, time.Since(start))
		if !errors.Is(err, connector.ErrUnavailable) {
			t.Fatalf("GET with the circuit open: %v, want ErrUnavailable", err)
		}
	}
	if slowest > 50*time.Millisecond {
		t.Errorf("slowest refused command took %v, want it immediate", slowest)
	}

	nodes[1].Restart()
	back := time.Now()
	waitClusterOK(t, nodes)
	var rdb2 redis.UniversalClient
	eventually(t, 15*time.Second, "the connector recovering", func() bool {
		var err error
		rdb2, err = c.Client(ctx)
		return err == nil
	})
	for i := range 300 {
		if err := rdb2.Set(ctx, "key:"+strconv.Itoa(i), i, 0).Err(); err != nil {
			t.Fatalf("SET after recovery: %v", err)
		}
	}
	t.Logf("master killed: 300 commands refused, slowest %v; restarted: connector ready %v after the restart", slowest, time.Since(back).Round(time.Millisecond))
}

// TestClusterNoRetry: go-redis' ClusterClient retries a command after a
// timeout or network error within max_redirects; through the connector it
// does not (unless the URL sets max_retries): an EVAL that runs an INCR
// and then 300ms of work, with read_timeout=100ms, applies the INCR once
// and counts at most one failure.
func TestClusterNoRetry(t *testing.T) {
	nodes := startCluster(t)
	url := fmt.Sprintf("redis://%s?addr=%s&addr=%s&read_timeout=100ms", nodes[0].Addr, nodes[1].Addr, nodes[2].Addr)
	c := newConnector(t, url, nil)
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = rdb.Eval(t.Context(), busyScript, []string{"counter"}, 300_000).Err()
	took := time.Since(start)
	if err == nil || !isTimeout(err) {
		t.Fatalf("EVAL of 300ms with read_timeout=100ms: %v, want a timeout", err)
	}
	plain := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{nodes[0].Addr}})
	defer func() { _ = plain.Close() }()
	eventually(t, 10*time.Second, "the script finishing", func() bool {
		return plain.Get(t.Context(), "counter").Err() == nil
	})
	if n, err := plain.Get(t.Context(), "counter").Int(); err != nil || n != 1 {
		t.Errorf("the INCR was applied %d times (%v), want once: the command was retried", n, err)
	}
	if f := c.Stats().Failures; f > 1 {
		t.Errorf("one command counted %d failures, want at most 1", f)
	}
	if took > 250*time.Millisecond+time.Second {
		t.Errorf("the EVAL took %v: retried after its timeout", took)
	}
	t.Logf("EVAL with read_timeout=100ms: %v after %v; %d failure(s) counted", err, took.Round(time.Millisecond), c.Stats().Failures)
}
