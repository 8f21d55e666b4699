package breaker

import (
	"fmt"
	"time"
)

// Settings configures a [Breaker]. The zero value is ready to use: every
// field documents its default.
type Settings struct {
	// Name identifies the circuit in logs, spans and metrics.
	//
	// Default: "redis".
	Name string

	// Timeout is how long the circuit stays open before it lets one probe
	// through.
	//
	// Default: 5s.
	Timeout time.Duration

	// Jitter randomly lengthens or shortens each open period by up to this
	// fraction of Timeout, so that a fleet of processes that tripped together
	// does not probe together. It must be in [0, 1).
	//
	// Default: 0.2 (±20 %). Set DisableJitter for a fixed period.
	Jitter float64

	// DisableJitter makes every open period exactly Timeout long.
	DisableJitter bool

	// FailureThreshold is the number of consecutive failures that trips the
	// circuit. A success resets the count; see [Classify] for what counts.
	//
	// Default: 5.
	FailureThreshold uint32

	// OnStateChange, if not nil, is called on every transition of the
	// circuit, after the Breaker's own state has changed. It runs while
	// gobreaker holds its lock: it must return quickly and must not call the
	// Breaker.
	OnStateChange func(name string, from, to State)
}

const (
	defaultName             = "redis"
	defaultTimeout          = 5 * time.Second
	defaultJitter           = 0.2
	defaultFailureThreshold = 5
)

// withDefaults returns s with every zero field set to its default, or an
// error naming the first invalid field.
func (s Settings) withDefaults() (Settings, error) {
	if s.Name == "" {
		s.Name = defaultName
	}
	switch {
	case s.Timeout < 0:
		return s, fmt.Errorf("redismw: breaker.Settings.Timeout is negative (%s)", s.Timeout)
	case s.Timeout == 0:
		s.Timeout = defaultTimeout
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
