package redismw

import (
	"net/http"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/ankitoon/redismw/internal/zero"
)

// The options of [Middleware] and [HealthHandler] follow one rule: the zero
// value of an argument (0, nil) selects the default, and a negative
// duration, a setup mistake that no error can report, panics with a
// message that names the option. An option records its argument as
// given; newConfig and newHealthConfig, the one place of every default,
// resolve the zeros once every option has been applied.

// Defaults of the options, each documented on its option.
const (
	defaultWaitBudget   = 500 * time.Millisecond // WithWaitBudget
	defaultHealthCache  = time.Second            // WithHealthCache
	defaultProbeTimeout = time.Second            // WithProbeTimeout
)

// Option configures [Middleware].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	failOpen   bool
	onError    func(http.ResponseWriter, *http.Request, error)
	skip       func(*http.Request) bool
	waitBudget time.Duration
	meter      metric.MeterProvider // nil: the global provider
}

// newConfig returns the middleware's configuration: opts in order (nil
// options are skipped), then the default of every setting left zero.
func newConfig(opts []Option) config {
	c := zero.Apply(config{}, opts, Option.apply)
	c.waitBudget = zero.Or(c.waitBudget, defaultWaitBudget)
	if c.onError == nil {
		c.onError = WriteUnavailable
	}
	return c
}

// HealthOption configures [HealthHandler].
type HealthOption interface{ applyHealth(*healthConfig) }

type healthOptionFunc func(*healthConfig)

func (f healthOptionFunc) applyHealth(c *healthConfig) { f(c) }

type healthConfig struct {
	cacheFor     time.Duration
	probeTimeout time.Duration
	showError    bool
}

// newHealthConfig returns the health handler's configuration: opts in
// order (nil options are skipped), then the default of every setting left
// zero.
func newHealthConfig(opts []HealthOption) healthConfig {
	c := zero.Apply(healthConfig{}, opts, HealthOption.applyHealth)
	c.cacheFor = zero.Or(c.cacheFor, defaultHealthCache)
	c.probeTimeout = zero.Or(c.probeTimeout, defaultProbeTimeout)
	return c
}

// notNegative returns d; it panics, naming option, when d is negative.
func notNegative(option string, d time.Duration) time.Duration {
	if _, err := zero.Value(option, d, 0); err != nil {
		panic(err.Error())
	}
	return d
}

// WithMeterProvider makes the middleware's rejection counter
// (redismw.middleware.rejections) from mp.
//
// Default (nil): otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meter = mp })
}

// WithFailOpen makes the middleware call the handler without a client while
// Redis is unavailable, instead of answering 503: [FromContext] then
// returns nil, false, and the handler decides how to degrade. Load
// shedding still applies to the handler's commands: while Redis is slower
// than the load, a command may fail with [connector.ErrOverloaded] in the
// handler (answer it with [WriteUnavailable], or degrade); only while
// the limiter judges Redis stalled (nothing it admitted answered for a
// while: a hang before the circuit opens, or a pause in an overload —
// 134–188 of about 4 450 refusals at 10× overload) does the middleware
// pass requests on without a client before their handlers run.
func WithFailOpen() Option {
	return optionFunc(func(c *config) { c.failOpen = true })
}

// WithErrorHandler replaces the 503 answer of a fail-closed middleware: h
// is called with the error, which matches [connector.ErrUnavailable] or
// [connector.ErrClosed]. Its text is internal: do not send it to clients.
//
// Default (nil): [WriteUnavailable].
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) Option {
	return optionFunc(func(c *config) { c.onError = h })
}

// WithSkip makes the middleware pass requests for which skip returns true
// straight to the handler, without a client and without waiting: static
// files, anything that does not use Redis.
//
// Default (nil): no request is skipped.
func WithSkip(skip func(r *http.Request) bool) Option {
	return optionFunc(func(c *config) { c.skip = skip })
}

// WithWaitBudget bounds how long a request waits for a connect in progress.
// Past it, the request takes the unavailable path (503, or the handler
// without a client when failing open) while the connect goes on for the
// others, so that a cold start against a hung Redis costs a request at
// most d rather than MaxAttempts × AttemptTimeout. It panics if d is
// negative.
//
// Default (0): 500ms: about seventeen times the 30ms
// a healthy cold connect took for a herd of 1 000 callers through a
// connection with 20ms of added latency (BenchmarkThunderingHerd), and a
// quarter of the 2s a single attempt may take.
func WithWaitBudget(d time.Duration) Option {
	d = notNegative("WithWaitBudget", d)
	return optionFunc(func(c *config) { c.waitBudget = d })
}

// WithHealthCache sets how long a probe result is reused: a flood of
// readiness probes causes at most one probe per period. It panics if d is
// negative.
//
// Default (0): 1s.
func WithHealthCache(d time.Duration) HealthOption {
	d = notNegative("WithHealthCache", d)
	return healthOptionFunc(func(c *healthConfig) { c.cacheFor = d })
}

// WithProbeTimeout bounds one probe: getting a client and a PING. It
// panics if d is negative.
//
// Default (0): 1s.
func WithProbeTimeout(d time.Duration) HealthOption {
	d = notNegative("WithProbeTimeout", d)
	return healthOptionFunc(func(c *healthConfig) { c.probeTimeout = d })
}

// WithErrorDetail adds the text of the last failure (passwords removed) to
// the body as "error". Off by default: it is internal, and readiness
// endpoints are often reachable from outside.
func WithErrorDetail() HealthOption {
	return healthOptionFunc(func(c *healthConfig) { c.showError = true })
}
