package redismw

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ankitoon/redismw/connector"
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

// TestRetryAfter: Retry-After is whole seconds, rounded up, at least 1;
// 1 when unknown; none (0) after Close.
func TestRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		err  error
		secs int
	}{
		{&connector.UnavailableError{RetryAfter: 2100 * time.Millisecond}, 3},
		{&connector.UnavailableError{RetryAfter: time.Second}, 1},
		{&connector.UnavailableError{RetryAfter: time.Millisecond}, 1},
		{&connector.UnavailableError{}, 1},
		{fmt.Errorf("get: %w", &connector.UnavailableError{RetryAfter: 5 * time.Second}), 5},
		{errors.New("i/o timeout"), 1},
		{connector.ErrClosed, 0},
	} {
		if got := retryAfter(tt.err); got != tt.secs {
			t.Errorf("retryAfter(%v) = %d, want %d", tt.err, got, tt.secs)
		}
	}
}
