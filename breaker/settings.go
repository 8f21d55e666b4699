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

	// Timeout is the longest the circuit stays open before the connector
	// probes Redis again. The first open period of an outage is
	// BaseTimeout; each failed probe doubles it, up to Timeout, so that a
	// blip recovers in about its own length and a long outage costs Redis
	// one probe per Timeout. A successful probe closes the circuit and
	// starts the next outage at BaseTimeout again.
	//
	// Default: 5s.
	Timeout time.Duration

	// BaseTimeout is the first open period of an outage (see Timeout). It
	// is at most Timeout; set it equal to Timeout for a fixed open period.
	//
	// Default: 100ms, or Timeout if that is shorter.
	BaseTimeout time.Duration

	// Jitter randomly lengthens or shortens each open period by up to this
	// fraction of it, so that a fleet of processes that tripped together
	// does not probe together. It must be in [0, 1).
	//
	// Default: 0.2 (±20 %). Set DisableJitter for a fixed period.
	Jitter float64

	// DisableJitter makes every open period exactly as long as the schedule
	// of Timeout and BaseTimeout says.
	DisableJitter bool

	// FailureThreshold is the number of consecutive failures that trips the
	// circuit. A success resets the count; see [Classify] for what counts.
	// A failure that retrying cannot fix (refused credentials, an untrusted
	// certificate) and a hang the connector has confirmed trip it at once.
	//
	// Default: 5.
	FailureThreshold uint32

	// OnStateChange, if not nil, is called on every transition of the
	// circuit, in order, after the circuit's state has changed. The
	// connector calls it from a goroutine of its own that holds no lock: it
	// may call the connector (even Close); a panic in it is recovered and
	// reported to otel.Handle.
	OnStateChange func(name string, from, to State)
}

const (
	defaultName             = "redis"
	defaultTimeout          = 5 * time.Second
	defaultBaseTimeout      = 100 * time.Millisecond
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
	case s.BaseTimeout < 0:
		return s, fmt.Errorf("redismw: breaker.Settings.BaseTimeout is negative (%s)", s.BaseTimeout)
	case s.BaseTimeout > s.Timeout:
		return s, fmt.Errorf("redismw: breaker.Settings.BaseTimeout (%s) is longer than Timeout (%s)", s.BaseTimeout, s.Timeout)
	case s.BaseTimeout == 0:
		s.BaseTimeout = min(defaultBaseTimeout, s.Timeout)
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
