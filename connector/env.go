package connector

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variables read by [ConfigFromEnv].
const (
	EnvURL              = "REDIS_URL"
	EnvAttemptTimeout   = "REDIS_ATTEMPT_TIMEOUT"
	EnvMaxAttempts      = "REDIS_MAX_ATTEMPTS"
	EnvBreakerTimeout   = "REDIS_BREAKER_TIMEOUT"
	EnvBreakerThreshold = "REDIS_BREAKER_FAILURES"
	EnvOverload         = "REDIS_OVERLOAD"
)

// ConfigFromEnv returns a Config read from the environment:
//
//	REDIS_URL               required; see [Config.URL]
//	REDIS_ATTEMPT_TIMEOUT   [Config.AttemptTimeout], a Go duration ("2s")
//	REDIS_MAX_ATTEMPTS      [Config.MaxAttempts], a positive integer
//	REDIS_BREAKER_TIMEOUT   breaker.Settings.Timeout, a Go duration ("5s")
//	REDIS_BREAKER_FAILURES  breaker.Settings.FailureThreshold, a positive integer
//	REDIS_OVERLOAD          "off" turns load shedding off ([OverloadSettings].Disable);
//	                        "on" keeps the default
//
// Unset or empty variables select the defaults; "0" is refused (in the
// environment, a zero more likely means "none" than "the default", which
// an empty value says); surrounding white space
// (a mounted secret's trailing newline) is ignored. The error for a missing or
// malformed variable names the variable and the problem, and never contains
// the URL's password.
func ConfigFromEnv() (Config, error) {
	var cfg Config
	raw, ok := os.LookupEnv(EnvURL)
	raw = strings.TrimSpace(raw) // mounted secrets often end with a newline
	if !ok || raw == "" {
		return cfg, fmt.Errorf("redismw: %s is not set (want e.g. redis://localhost:6379/0)", EnvURL)
	}
	if _, err := parseDeployment(EnvURL, raw); err != nil {
		return cfg, err
	}
	cfg.URL = raw
	var err error
	if cfg.AttemptTimeout, err = envDuration(EnvAttemptTimeout); err != nil {
		return cfg, err
	}
	if cfg.MaxAttempts, err = envPositive(EnvMaxAttempts); err != nil {
		return cfg, err
	}
	if cfg.Breaker.Timeout, err = envDuration(EnvBreakerTimeout); err != nil {
		return cfg, err
	}
	n, err := envPositive(EnvBreakerThreshold)
	if err != nil {
		return cfg, err
	}
	cfg.Breaker.FailureThreshold = uint32(n)
	switch s := strings.TrimSpace(os.Getenv(EnvOverload)); strings.ToLower(s) {
	case "", "on":
	case "off":
		cfg.Overload.Disable = true
	default:
		return cfg, fmt.Errorf("redismw: %s=%q is neither on nor off", EnvOverload, s)
	}
	return cfg, nil
}

func envDuration(name string) (time.Duration, error) {
	s := strings.TrimSpace(os.Getenv(name))
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("redismw: %s=%q is not a positive duration (want e.g. 2s or 500ms)", name, s)
	}
	return d, nil
}

func envPositive(name string) (int, error) {
	s := strings.TrimSpace(os.Getenv(name))
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 1<<20 {
		return 0, fmt.Errorf("redismw: %s=%q is not a positive integer", name, s)
	}
	return n, nil
}
