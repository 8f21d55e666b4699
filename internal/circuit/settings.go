package circuit

import (
	"fmt"
	"time"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/internal/zero"
)

const (
	defaultTimeout          = 5 * time.Second
	defaultBaseTimeout      = 100 * time.Millisecond
	defaultJitter           = 0.2
	defaultFailureThreshold = 5
)

// settle returns s with every zero field set to its default, or an
// error naming the first invalid field. Name is the connector's to choose
// (Connector.Name): it is left as it is.
func settle(s breaker.Settings) (breaker.Settings, error) {
	var err error
	if s.Timeout, err = zero.Value("breaker.Settings.Timeout", s.Timeout, defaultTimeout); err != nil {
		return s, err
	}
	if s.BaseTimeout, err = zero.Value("breaker.Settings.BaseTimeout", s.BaseTimeout, min(defaultBaseTimeout, s.Timeout)); err != nil {
		return s, err
	}
	if s.BaseTimeout > s.Timeout {
		return s, fmt.Errorf("redismw: breaker.Settings.BaseTimeout (%s) is longer than Timeout (%s)", s.BaseTimeout, s.Timeout)
	}
	switch {
	case s.DisableJitter:
		s.Jitter = 0
	case s.Jitter != s.Jitter || s.Jitter < 0 || s.Jitter >= 1: // NaN included
		return s, fmt.Errorf("redismw: breaker.Settings.Jitter must be in [0, 1), got %v", s.Jitter)
	case s.Jitter == 0:
		s.Jitter = defaultJitter
	}
	if s.FailureThreshold == 0 {
		s.FailureThreshold = defaultFailureThreshold
	}
	return s, nil
}
