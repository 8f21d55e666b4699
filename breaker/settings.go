package breaker

import "time"

// Settings configures a connector's circuit breaker. The zero value is ready to use: every
// field documents its default.
type Settings struct {
	// Name names the connector and its circuit in every metric series and
	// span (db.client.connection.pool.name), log line and OnStateChange
	// call; unique in the process (a second connector of the same name
	// gets "#2" appended; see connector.Connector.Name).
	//
	// Default: the deployment's first address and database, "host:port/db".
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
