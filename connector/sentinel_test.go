package connector_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// TestSentinelFailover: a master, a replica and three sentinels. The master
// is killed; the sentinels promote the replica; the connector follows and
// commands succeed again.
func TestSentinelFailover(t *testing.T) {
	master := redistest.Start(t)
	replica := redistest.Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port))
	conf := fmt.Sprintf("sentinel monitor mymaster 127.0.0.1 %d 2\n"+
		"sentinel down-after-milliseconds mymaster 1000\n"+
		"sentinel failover-timeout mymaster 5000\n"+
		"sentinel parallel-syncs mymaster 1\n", master.Port)
	var sentinels []*redistest.Server
	for range 3 {
		sentinels = append(sentinels, redistest.StartWith(t, redistest.Options{Sentinel: conf}))
	}
	ctx := t.Context()
	eventually(t, 30*time.Second, "the replica in sync and every sentinel knowing the replica and the other sentinels", func() bool {
		rc := redis.NewClient(&redis.Options{Addr: replica.Addr})
		info, err := rc.Info(ctx, "replication").Result()
		_ = rc.Close()
		if err != nil || !strings.Contains(info, "master_link_status:up") {
			return false
		}
		for _, s := range sentinels {
			sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
			replicas, err1 := sc.Replicas(ctx, "mymaster").Result()
			others, err2 := sc.Sentinels(ctx, "mymaster").Result()
			_ = sc.Close()
			if err1 != nil || err2 != nil || len(replicas) == 0 || len(others) < 2 {
				return false
			}
		}
		return true
	})

	url := fmt.Sprintf("redis://%s?master_name=mymaster&addr=%s&addr=%s", sentinels[0].Addr, sentinels[1].Addr, sentinels[2].Addr)
	c := newConnector(t, url, func(cfg *connector.Config) { cfg.Breaker.Timeout = time.Second })
	rdb, err := c.Client(ctx)
	if err != nil {
		t.Fatalf("connect through Sentinel: %v", err)
	}
	if err := rdb.Incr(ctx, "n").Err(); err != nil {
		t.Fatal(err)
	}
	// Replication is asynchronous: wait until the replica has the write,
	// or the failover could lose it (Redis' property, not the connector's).
	if n, err := rdb.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT for the replica: %d, %v", n, err)
	}

	master.Kill()
	killed := time.Now()
	var served time.Duration
	eventually(t, 60*time.Second, "a command succeeding on the promoted replica", func() bool {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		rdb, err := c.Client(rctx)
		if err != nil {
			return false
		}
		if rdb.Incr(rctx, "n").Err() != nil {
			return false
		}
		served = time.Since(killed)
		return true
	})
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr})
	defer func() { _ = rc.Close() }()
	role, err := rc.Do(ctx, "ROLE").Slice()
	if err != nil || len(role) == 0 || role[0] != "master" {
		t.Errorf("ROLE of the old replica: %v %v; want it promoted to master", role, err)
	}
	if n, err := rc.Get(ctx, "n").Int(); err != nil || n != 2 {
		t.Errorf("counter on the new master: %d, %v; want 2", n, err)
	}
	t.Logf("Sentinel failover: commands succeed again %v after the master was killed (down-after 1s, circuit open 1s)", served.Round(time.Millisecond))
}
