package redismw_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// TestOverloadLatencyStep: light load (100 cheap GETs a second over HTTP,
// 6 s, pool of 20) when the network between the service and Redis
// becomes slow in the middle, 0 → 50 ms at 1.5 s, for good. The pool then
// serves 400 a second: it keeps up, and a slow network is not overload.
// The review of issue 22 measured 43 to 218 of the 600 shed (on 0a109af,
// with the cost ceiling since reverted); main sheds 0 or 1 now. The bound
// allows 2 % for a noisy machine. (A 150 ms step still sheds about half
// of what follows: the limit, learned at 0 ms, does not grow to the 15 in
// flight that 100 a second need at 150 ms in time; docs/design.md.)
func TestOverloadLatencyStep(t *testing.T) {
	srv := redistest.Start(t)
	proxy := faultproxy.New(t, srv.Addr)
	c, log := overloadConnector(t, &redistest.Server{Addr: proxy.Addr()}, "", nil)
	ts := httptest.NewServer(redismw.Middleware(c)(getHandler()))
	defer ts.Close()
	step := time.AfterFunc(1500*time.Millisecond, func() { proxy.SetLatency(50 * time.Millisecond) })
	defer step.Stop()
	out := openLoop(t.Context(), ts.URL, 100, 6*time.Second)
	status := map[int]int{}
	for _, o := range out {
		status[o.status]++
	}
	st := c.Stats()
	t.Logf("statuses %v; limit %d, shed %d, episodes %d, circuit %v", status, st.Limit, st.Shed, log.count(shedStarted), st.Circuit)
	if bad := len(out) - status[http.StatusOK]; bad > len(out)/50 {
		t.Errorf("network latency 0 → 50 ms under light load: %v; want all served (at most %d not)", status, len(out)/50)
	}
}

// getHandler runs one GET per request.
func getHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rdb, _ := redismw.FromContext(r.Context())
		if err := rdb.Get(r.Context(), "k").Err(); err != nil && !errors.Is(err, redis.Nil) {
			redismw.WriteUnavailable(w, r, err)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
}
