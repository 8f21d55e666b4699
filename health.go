package redismw

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/admit"
	"github.com/ankitoon/redismw/internal/errkind"
	"github.com/ankitoon/redismw/telemetry"
)

// healthReport is the JSON body of [HealthHandler]; each field is
// documented there.
type healthReport struct {
	Status    string   `json:"status"`             // "up" or "down"
	Reason    string   `json:"reason,omitempty"`   // why down: one of the health reasons below
	State     string   `json:"state"`              // connector.State: ready, connecting, circuit_open, closed, idle
	Circuit   string   `json:"circuit"`            // closed, half-open, open
	RetryIn   int      `json:"retry_in,omitempty"` // the Retry-After header's seconds, when down
	LatencyMS *float64 `json:"latency_ms"`         // the probe's PING, null when none answered
	CheckedAt string   `json:"checked_at"`         // RFC 3339, when what the body says was found
	Error     string   `json:"error,omitempty"`    // only WithErrorDetail
}

// Why [HealthHandler] answers down: the body's "reason". Where a reason
// means what one of the middleware's rejection reasons means, it is that
// one (telemetry.Reason…).
const (
	healthCircuitOpen   = telemetry.ReasonCircuitOpen   // the circuit is open, or its probe in flight
	healthConnectFailed = telemetry.ReasonConnectFailed // no client: the connect failed, or an outage is under way
	healthClosed        = telemetry.ReasonClosed        // the connector was closed
	healthDeadline      = telemetry.ReasonDeadline      // the readiness request's own deadline ended first
	healthTimeout       = "timeout"                     // no answer within the probe timeout
	healthPingFailed    = "ping_failed"                 // the PING got an error reply or a broken connection
)

// HealthHandler returns c's readiness handler — readiness, not liveness:
// mount it where the orchestrator asks whether to route traffic to this
// instance (/readyz), and keep liveness free of Redis. GET and HEAD answer
// 200 with {"status":"up",…} when Redis answers a PING, and 503 with
// {"status":"down","reason":…,…} otherwise, with the Retry-After of
// [WriteUnavailable]. Responses carry Cache-Control: no-store; other
// methods get 405.
//
// The body is one JSON object:
//
//   - status: "up" or "down".
//   - reason, only when down: circuit_open (the circuit is open, or its
//     probe in flight: Redis failed and the connector confirmed it;
//     requests get 503 at once), connect_failed (no client: the connect
//     failed, or an outage is under way and nothing has succeeded since),
//     timeout (no PING answer, or no connect ended, within the probe
//     timeout: Redis is slow or hung; the circuit may still be closed
//     while the connector checks), ping_failed (the PING got an error
//     reply, or its connection broke), deadline (this request's own
//     deadline ended before the probe did), closed (the connector was
//     closed: the service is shutting down).
//   - state: the connector's [connector.State]: ready, connecting,
//     circuit_open, closed or idle.
//   - circuit: the circuit's [breaker.State]: closed, half-open or open.
//   - retry_in, only when down and not closed: the Retry-After header's
//     seconds.
//   - latency_ms: the probe's PING round trip in milliseconds; null when
//     none answered.
//   - checked_at: when what the body says was found (RFC 3339): the
//     probe's time, or the answer's own when the connector's state decided.
//   - error, only with [WithErrorDetail]: the internal error text,
//     passwords removed.
//
// Only the PING costs Redis, so only its result is cached
// ([WithHealthCache], default 1s): concurrent requests share one probe,
// and a flood of probes costs Redis at most one PING per period. A probe
// never waits longer than [WithProbeTimeout] (default 1s). What the
// connector's state decides — closed, or the circuit open — is read when
// each request comes, never from the cache and without I/O, so the
// handler and a request at the same moment get the same answer and the
// same Retry-After: the open period's rest, rounded up; 1 when that is
// unknown; none after Close.
//
// Liveness must not depend on Redis: restarting a process does not bring
// Redis back. A liveness handler is one line:
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

// probeResult is one answer's finding: Redis is up when err is nil, and
// down for reason otherwise.
type probeResult struct {
	at      time.Time
	latency time.Duration // PING round trip; valid when err is nil
	err     error
	reason  string // why down; "" when up
}

// down returns the finding that err, found now, makes Redis down.
func down(err error, reason string) probeResult {
	return probeResult{at: time.Now(), err: err, reason: reason}
}

// reusable reports whether r may be served again from the cache: only if
// its answer does not depend on the moment. A refusal of the circuit or of
// a closed connector, or a failure that carries the open period's rest,
// is the connector's state, which each request reads afresh, for free.
func (r probeResult) reusable() bool {
	var ue *connector.UnavailableError
	if errors.As(r.err, &ue) {
		return !ue.CircuitOpen && ue.RetryAfter == 0
	}
	return !errors.Is(r.err, connector.ErrClosed)
}

func (h *health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	res, st, ok := h.answer(r.Context())
	if !ok {
		return // the request was cancelled: nobody to answer
	}
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
		rep.Status, rep.Reason = "down", res.reason
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

// answer returns what the handler answers now, with the connector's Stats
// it describes; false if the request was cancelled. The connector's state
// decides first, as it decides a request's answer at this moment: after
// Close, or while the circuit is open, no probe runs. Otherwise the
// probe's finding (cached or fresh) is the answer, unless the state
// changed while the probe ran.
func (h *health) answer(ctx context.Context) (probeResult, connector.Stats, bool) {
	st := h.c.Stats()
	if res, ok := decided(st); ok {
		return res, st, true
	}
	res, ok := h.result(ctx)
	if !ok {
		if errors.Is(ctx.Err(), context.Canceled) {
			return probeResult{}, st, false
		}
		// Its deadline ended while the probe ran: down, for now.
		res = down(ctx.Err(), healthDeadline)
	}
	st = h.c.Stats()
	if now, ok := decided(st); ok {
		res = now
	}
	return res, st, true
}

// decided returns the answer when the connector's state alone decides
// it: the error a request gets from [connector.Connector.Client] at this
// moment — [connector.ErrClosed] after Close; while the circuit is open or
// its probe in flight, the circuit's refusal with the open period's rest —
// which costs no I/O.
func decided(st connector.Stats) (probeResult, bool) {
	switch {
	case st.State == connector.StateClosed:
		return down(connector.ErrClosed, healthClosed), true
	case st.Circuit != breaker.Closed:
		return down(&connector.UnavailableError{RetryAfter: st.RetryAfter, CircuitOpen: true}, healthCircuitOpen), true
	}
	return probeResult{}, false
}

// result returns a fresh probe result: the cached one, the one of the probe
// under way, or a new probe's. It reports false if ctx ended first.
func (h *health) result(ctx context.Context) (probeResult, bool) {
	h.mu.Lock()
	if !h.last.at.IsZero() && time.Since(h.last.at) < h.cfg.cacheFor && h.last.reusable() {
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
	at := time.Now()
	rdb, err := h.c.Client(ctx)
	if err != nil {
		return probeResult{at: at, err: err, reason: downReason(err)}
	}
	start := time.Now()
	err = rdb.Ping(admit.Exempt(ctx)).Err() // never shed: readiness must not flap while Redis is merely slow
	res := probeResult{at: at, latency: time.Since(start)}
	if !errkind.PingAnswered(err) { // NOPERM for PING itself is an answer: an ACL user without +ping
		res.err, res.reason = err, downReason(err)
	}
	return res
}

// downReason names why err, a probe's, makes Redis down: the middleware's
// reason for a refusal (circuit_open, closed), connect_failed for another
// unavailable Redis, timeout, or ping_failed.
func downReason(err error) string {
	switch r := reason(err, ""); {
	case r != "":
		return r
	case errors.Is(err, connector.ErrUnavailable):
		return healthConnectFailed
	case errkind.Of(err) == errkind.Timeout:
		return healthTimeout
	}
	return healthPingFailed
}
