package redismw

import (
	"net/http"
	"testing"
	"time"
)

// TestOptionsZeroMeansDefault: the options' one rule: a zero argument
// selects the default, whatever an earlier option set.
func TestOptionsZeroMeansDefault(t *testing.T) {
	skip := func(*http.Request) bool { return true }
	onError := func(http.ResponseWriter, *http.Request, error) {}
	cfg := newConfig([]Option{
		WithWaitBudget(time.Second), WithWaitBudget(0),
		WithSkip(skip), WithSkip(nil),
		WithErrorHandler(onError), WithErrorHandler(nil),
		nil,
	})
	if cfg.waitBudget != defaultWaitBudget || cfg.skip != nil || cfg.onError == nil || cfg.failOpen {
		t.Errorf("middleware options back to zero: budget %v, skip set %v, error handler nil %v, fail-open %v; want the defaults",
			cfg.waitBudget, cfg.skip != nil, cfg.onError == nil, cfg.failOpen)
	}
	if cfg := newConfig([]Option{WithWaitBudget(2 * time.Second)}); cfg.waitBudget != 2*time.Second {
		t.Errorf("WithWaitBudget(2s): %v", cfg.waitBudget)
	}
	h := newHealthConfig([]HealthOption{WithHealthCache(time.Minute), WithHealthCache(0), WithProbeTimeout(time.Minute), WithProbeTimeout(0), nil})
	if h.cacheFor != defaultHealthCache || h.probeTimeout != defaultProbeTimeout || h.showError {
		t.Errorf("health options back to zero: %+v; want the defaults", h)
	}
}

// TestRetryAfterSeconds: Retry-After is whole seconds, rounded up; 0 when
// unknown.
func TestRetryAfterSeconds(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		secs int
	}{{0, 0}, {-time.Second, 0}, {time.Millisecond, 1}, {time.Second, 1}, {2100 * time.Millisecond, 3}} {
		if got := retryAfterSeconds(tt.d); got != tt.secs {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", tt.d, got, tt.secs)
		}
	}
}
