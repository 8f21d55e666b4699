package connector

import (
	"context"
	"time"

	"github.com/ankitoon/redismw/breaker"
)

// What happens when the circuit moves: ready follows its state at once
// (onTransition, under gobreaker's lock), and while it is open one probe
// is armed for the end of the open period (scheduleProbe); when it fires,
// the probe is a shared connect of its own with no caller waiting
// (probeDue). The open period's length and growth are the circuit's
// (internal/circuit).

// onTransition follows the circuit: ready follows its state, an open
// circuit schedules its probe, and the transition is counted and logged.
// It runs under gobreaker's lock.
func (c *Connector) onTransition(from, to breaker.State) {
	c.mu.Lock()
	c.refreshLocked()
	c.mu.Unlock()
	if to == breaker.Open {
		c.scheduleProbe()
	}
	retry := c.brk.RetryAfter()
	cause := c.lastErr.Load()
	now := time.Now()
	var openFor time.Duration
	switch {
	case from == breaker.Closed:
		c.openedAt.Store(now.UnixNano())
	case to == breaker.Closed:
		openFor = now.Sub(time.Unix(0, c.openedAt.Load()))
	}
	c.tel.Transition(context.Background(), from, to)
	c.logs.post(func() {
		attrs := []any{"from", from.String(), "to", to.String()}
		switch to {
		case breaker.Open:
			attrs = append(attrs, "retry_after", retry)
			if cause != nil {
				attrs = append(attrs, "error", *cause)
			}
			c.log.Warn("redismw: circuit open", attrs...)
		case breaker.Closed:
			c.log.Info("redismw: circuit closed", append(attrs, "open_for", openFor)...)
		default:
			c.log.Debug("redismw: circuit "+to.String(), attrs...)
		}
	})
}

// scheduleProbe arms the probe for the end of the open period, unless the
// circuit is closed or a probe is armed already.
func (c *Connector) scheduleProbe() {
	if c.brk.State() == breaker.Closed {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed() || c.probe != nil {
		return
	}
	c.probe = time.AfterFunc(c.brk.RetryAfter(), c.probeDue)
}

// probeDue starts the probe: a connect of its own, with no caller waiting.
// A connect already under way serves as the probe.
func (c *Connector) probeDue() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.probe = nil
	if c.isClosed() || c.brk.State() == breaker.Closed {
		return
	}
	c.startLocked(context.Background())
}
