package redismw_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// TestOverloadCapacityComesBack: Redis 10× slower than the load for 8 s
// (a 20 ms script per request, 500 a second), then fast again — cheap
// GETs, now behind a 6 ms network, 500 a second, which need about three
// commands in flight, more than the limit's floor (2) that the slow spell
// left. (At 1 000 a second under -race beside two busy loops, the test's
// own HTTP load starved the service's CPU: the permits' holders waited
// seconds to run, and nearly every request was shed from the start.) The limit must find the capacity again within a couple of
// seconds: the last two seconds of the run shed nothing.
func TestOverloadCapacityComesBack(t *testing.T) {
	srv := redistest.Start(t)
	proxy := faultproxy.New(t, srv.Addr)
	c, _ := overloadConnector(t, &redistest.Server{Addr: proxy.Addr()}, "", nil)
	var slow atomic.Bool
	slow.Store(true)
	slowH, fastH := scriptHandler(20*time.Millisecond), getHandler()
	h := redismw.Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			slowH.ServeHTTP(w, r)
			return
		}
		fastH.ServeHTTP(w, r)
	}))
	ts := httptest.NewServer(h)
	defer ts.Close()
	const rate, slowFor, fastFor = 500, 8 * time.Second, 5 * time.Second
	time.AfterFunc(slowFor, func() { proxy.SetLatency(6 * time.Millisecond); slow.Store(false) })
	limits := make(chan []int, 1)
	go func() {
		var l []int
		for range int((slowFor + fastFor) / (250 * time.Millisecond)) {
			time.Sleep(250 * time.Millisecond)
			l = append(l, c.Stats().Limit)
		}
		limits <- l
	}()
	out := openLoop(t.Context(), ts.URL, rate, slowFor+fastFor)
	// Sheds per half second of the fast part, by send time.
	per := rate / 2
	var buckets []int
	for i := int(slowFor.Seconds()) * rate; i < len(out); i += per {
		n := 0
		for _, o := range out[i:min(i+per, len(out))] {
			if o.status != http.StatusOK {
				n++
			}
		}
		buckets = append(buckets, n)
	}
	t.Logf("not served per 500 ms after Redis became fast: %v; limit every 250 ms: %v; stats %+v", buckets, <-limits, c.Stats())
	// The limit's floor serves about 2 / 6 ms ≈ 330 a second here: a
	// limit stuck at it fails one request in three.
	for i, n := range buckets[len(buckets)-4:] {
		if n != 0 {
			t.Errorf("%d requests not served in the half second from %v after Redis became fast: the limit must find the capacity again within a couple of seconds",
				n, fastFor-2*time.Second+time.Duration(i)*500*time.Millisecond)
		}
	}
}
