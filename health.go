package redismw

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/errkind"
)

// healthReport is the JSON body of [HealthHandler].
type healthReport struct {
	Status    string   `json:"status"`             // "up" or "down"
	State     string   `json:"state"`              // connector.State: ready, connecting, circuit_open, closed, idle
	Circuit   string   `json:"circuit"`            // closed, half-open, open
	LatencyMS *float64 `json:"latency_ms"`         // the probe's PING, null when none answered
	CheckedAt string   `json:"checked_at"`         // RFC 3339, when the probe ran
	Error     string   `json:"error,omitempty"`    // only WithErrorDetail
	RetryIn   int      `json:"retry_in,omitempty"` // the Retry-After header's seconds, when down
}

// HealthHandler returns a readiness handler for c: GET and HEAD answer 200
// with {"status":"up",…} when Redis answers a PING, and 503 with
// {"status":"down",…} otherwise, with the Retry-After of
// [WriteUnavailable] (the open period's rest, 1 when unknown, none after
// Close). The body also gives the connector's state ("ready",
// "connecting", "circuit_open", "closed" or "idle"), the circuit's, the
// probe's PING latency in milliseconds and when it ran. Internal error text
// is left out unless [WithErrorDetail] is given. Responses carry
// Cache-Control: no-store. Other methods get 405.
//
// Probe results are cached ([WithHealthCache], default 1s) and concurrent
// requests share one probe, so a flood of probes costs Redis at most one
// PING per period. A probe never waits longer than [WithProbeTimeout]
// (default 1s), and while the circuit is open it does no network I/O.
//
// This is readiness, not liveness: liveness must not depend on Redis
// (restarting a process does not bring Redis back). A liveness handler is
// one line:
//
//	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
func HealthHandler(c *connector.Connector, opts ...HealthOption) http.Handler {
	if c == nil {
		panic("redismw: HealthHandler: nil *connector.Connector")
	}
	return &health{c: c, cfg: newHealthConfig(opts)}
}

type health struct {
	c   *connector.Connector
	cfg healthConfig

	mu sync.Mutex
	// Guarded by mu.
	last    probeResult
	probing chan struct{} // closed when the probe under way ends; nil if none
}

// probeResult is one probe's outcome: Redis is up when err is nil.
type probeResult struct {
	at      time.Time
	latency time.Duration // PING round trip; valid when err is nil
	err     error
}

func (h *health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	res, ok := h.result(r.Context())
	if !ok {
		if errors.Is(r.Context().Err(), context.Canceled) {
			return // the request was cancelled: nobody to answer
		}
		// Its deadline ended while the probe ran: down, for now.
		res = probeResult{at: time.Now(), err: r.Context().Err()}
	}
	st := h.c.Stats()
	rep := healthReport{
		Status:    "up",
		State:     st.State.String(),
		Circuit:   st.Circuit.String(),
		CheckedAt: res.at.UTC().Format(time.RFC3339Nano),
	}
	code := http.StatusOK
	if res.err == nil {
		ms := float64(res.latency.Microseconds()) / 1000
		rep.LatencyMS = &ms
	} else {
		code = http.StatusServiceUnavailable
		rep.Status = "down"
		if rep.RetryIn = retryAfter(res.err); rep.RetryIn > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(rep.RetryIn))
		}
		if h.cfg.showError {
			rep.Error = res.err.Error()
		}
	}
	body, _ := json.Marshal(rep) // cannot fail: strings, numbers and a pointer to one
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// result returns a fresh probe result: the cached one, the one of the probe
// under way, or a new probe's. It reports false if ctx ended first.
func (h *health) result(ctx context.Context) (probeResult, bool) {
	h.mu.Lock()
	if !h.last.at.IsZero() && time.Since(h.last.at) < h.cfg.cacheFor {
		res := h.last
		h.mu.Unlock()
		return res, true
	}
	if ch := h.probing; ch != nil {
		h.mu.Unlock()
		select {
		case <-ch:
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.last, true
		case <-ctx.Done():
			return probeResult{}, false
		}
	}
	ch := make(chan struct{})
	h.probing = ch
	h.mu.Unlock()

	var res probeResult
	defer func() { // even if the probe panics, it is no longer under way
		h.mu.Lock()
		h.last, h.probing = res, nil
		h.mu.Unlock()
		close(ch)
	}()
	res = h.probe(context.WithoutCancel(ctx))
	return res, true
}

// probe gets a client (failing at once while the circuit is open) and
// PINGs it, within the probe timeout.
func (h *health) probe(ctx context.Context) probeResult {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.probeTimeout)
	defer cancel()
	res := probeResult{at: time.Now()}
	rdb, err := h.c.Client(ctx)
	if err != nil {
		res.err = err
		return res
	}
	start := time.Now()
	if err := rdb.Ping(ctx).Err(); !errkind.PingAnswered(err) {
		res.err = err // NOPERM for PING itself is an answer: an ACL user without +ping
	}
	res.latency = time.Since(start)
	return res
}
