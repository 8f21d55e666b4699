package connector_test

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

const secret = "s3cr%t-P@ss" // must never appear in an error

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  connector.Config
		want string // in the error; "" means no error
	}{
		{"redis URL", connector.Config{URL: "redis://localhost:6379/0"}, ""},
		{"rediss URL with user", connector.Config{URL: "rediss://app:pw@localhost:6380"}, ""},
		{"unix socket", connector.Config{URL: "unix:///run/redis.sock?db=2"}, ""},
		{"go-redis options", connector.Config{URL: "redis://localhost?dial_timeout=1s&pool_size=4&max_retries=2"}, ""},
		{"empty URL", connector.Config{}, "Config.URL is empty"},
		{"wrong scheme", connector.Config{URL: "http://localhost:6379"}, `unsupported scheme "http"`},
		{"no scheme", connector.Config{URL: "localhost:6379"}, "no redis://"},
		{"bad database", connector.Config{URL: "redis://localhost/abc"}, "invalid database number"},
		{"unknown option", connector.Config{URL: "redis://localhost?colour=blue"}, "unexpected option: colour"},
		{"bad option value", connector.Config{URL: "redis://localhost?pool_size=many"}, "invalid pool_size number"},
		{"empty unix path", connector.Config{URL: "unix://"}, "empty unix socket path"},
		{"negative AttemptTimeout", connector.Config{URL: "redis://localhost", AttemptTimeout: -time.Second}, "AttemptTimeout is negative"},
		{"negative MaxAttempts", connector.Config{URL: "redis://localhost", MaxAttempts: -1}, "MaxAttempts is negative"},
		{"bad breaker jitter", connector.Config{URL: "redis://localhost", Breaker: breaker.Settings{Jitter: 2}}, "Jitter"},
		{"cluster URL", connector.Config{URL: "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002"}, ""},
		{"sentinel URL", connector.Config{URL: "redis://127.0.0.1:26379/1?master_name=mymaster&addr=127.0.0.1:26380"}, ""},
		{"unix cluster", connector.Config{URL: "unix:///tmp/redis.sock?addr=127.0.0.1:7001"}, "a unix:// URL names one server"},
		{"bad cluster option", connector.Config{URL: "redis://127.0.0.1:7000?addr=127.0.0.1:7001&colour=red"}, "unexpected option: colour"},
		{"URL and Options", connector.Config{URL: "redis://localhost", Options: &redis.UniversalOptions{Addrs: []string{"localhost:6379"}}}, "both URL and Options"},
		{"Options", connector.Config{Options: &redis.UniversalOptions{Addrs: []string{"localhost:6379"}}}, ""},
		{"cluster Options", connector.Config{Options: &redis.UniversalOptions{Addrs: []string{"a:1", "b:2"}}}, ""},
		{"sentinel Options", connector.Config{Options: &redis.UniversalOptions{Addrs: []string{"a:26379"}, MasterName: "m"}}, ""},
		{"Options without Addrs", connector.Config{Options: &redis.UniversalOptions{}}, "Options.Addrs is empty"},
		{"Sentinel and cluster", connector.Config{Options: &redis.UniversalOptions{Addrs: []string{"a:1"}, MasterName: "m", IsClusterMode: true}}, "both MasterName (Sentinel) and IsClusterMode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := connector.New(tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if s := c.Stats(); s.State != connector.StateIdle || s.Attempts != 0 {
					t.Errorf("New did work: %+v", s)
				}
				_ = c.Close()
				return
			}
			if err == nil {
				t.Fatalf("New(%q) succeeded, want an error containing %q", tt.cfg.URL, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "redismw: ") {
				t.Errorf("error %q, want it to start with \"redismw: \" and contain %q", err, tt.want)
			}
		})
	}
}

// TestErrorsNeverContainThePassword feeds URLs with a password into every
// error path; the password, raw or encoded, must not come back.
func TestErrorsNeverContainThePassword(t *testing.T) {
	enc := strings.NewReplacer("%", "%25", "@", "%40").Replace(secret)
	urls := []string{
		"redis://user:" + enc + "@localhost:6379/abc",
		"redis://user:" + enc + "@localhost:6379?pool_size=x",
		"redis://user:" + enc + "@localhost:6379?" + enc + "=1",
		"redis://user:" + enc + "@localhost:6379/" + enc,
		"redis://user:" + enc + "@localhost:notaport",
		"redis://user:" + secret + "@localhost:6379", // unescaped: not a URL
		"user:" + enc + "@localhost:6379",            // no scheme
		"http://user:" + enc + "@localhost:6379",
		"rediss://:" + enc + "@localhost:6379?skip_verify=maybe",
		"unix://:" + enc + "@?db=1",
		"s3cr:" + enc + "@host",
		"redis://?:" + enc + "@0",        // the userinfo lands in the query (found by FuzzURL)
		"redis://host/?:" + enc + "@0/x", // …or in the path
		"redis://s:26379?master_name=m&password=" + enc + "&pool_size=x",
		"redis://s:7000?addr=" + enc + "@x:1&pool_size=x",
	}
	for _, u := range urls {
		_, err := connector.New(connector.Config{URL: u})
		if err == nil {
			t.Errorf("New(%q) succeeded, want an error", u)
			continue
		}
		for _, form := range []string{secret, enc, "s3cr%25t", "s3cr"} {
			if strings.Contains(err.Error(), form) {
				t.Errorf("error for %q contains %q: %v", u, form, err)
			}
		}
		t.Setenv(connector.EnvURL, u)
		if _, err := connector.ConfigFromEnv(); err == nil || strings.Contains(err.Error(), "s3cr") {
			t.Errorf("ConfigFromEnv with REDIS_URL=%q: %v", u, err)
		} else if !strings.Contains(err.Error(), "REDIS_URL") {
			t.Errorf("ConfigFromEnv error %q does not name REDIS_URL", err)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	const url = "redis://app:pw@127.0.0.1:6379/1"
	tests := []struct {
		name  string
		env   map[string]string
		want  string // in the error; "" means no error
		check func(*testing.T, connector.Config)
	}{
		{name: "missing URL", env: map[string]string{}, want: "REDIS_URL is not set"},
		{name: "blank URL", env: map[string]string{"REDIS_URL": "  "}, want: "REDIS_URL is not set"},
		{name: "URL only", env: map[string]string{"REDIS_URL": url}, check: func(t *testing.T, c connector.Config) {
			if c.URL != url || c.AttemptTimeout != 0 || c.MaxAttempts != 0 || c.Breaker.Timeout != 0 {
				t.Errorf("got %+v, want the URL and zero (default) knobs", c)
			}
		}},
		{name: "URL with a trailing newline", env: map[string]string{"REDIS_URL": url + "\n"}, check: func(t *testing.T, c connector.Config) {
			if c.URL != url {
				t.Errorf("URL %q, want %q without the newline", c.URL, url)
			}
		}},
		{name: "all knobs", env: map[string]string{
			"REDIS_URL": url, "REDIS_ATTEMPT_TIMEOUT": "750ms", "REDIS_MAX_ATTEMPTS": "4",
			"REDIS_BREAKER_TIMEOUT": "10s", "REDIS_BREAKER_FAILURES": "7", "REDIS_OVERLOAD": " OFF\n",
		}, check: func(t *testing.T, c connector.Config) {
			if c.AttemptTimeout != 750*time.Millisecond || c.MaxAttempts != 4 ||
				c.Breaker.Timeout != 10*time.Second || c.Breaker.FailureThreshold != 7 || !c.Overload.Disable {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "shedding on", env: map[string]string{"REDIS_URL": url, "REDIS_OVERLOAD": "on"}, check: func(t *testing.T, c connector.Config) {
			if c.Overload.Disable {
				t.Error("REDIS_OVERLOAD=on disabled shedding")
			}
		}},
		{name: "bad overload switch", env: map[string]string{"REDIS_URL": url, "REDIS_OVERLOAD": "false"}, want: `REDIS_OVERLOAD="false" is neither on nor off`},
		{name: "bad duration", env: map[string]string{"REDIS_URL": url, "REDIS_ATTEMPT_TIMEOUT": "2"}, want: `REDIS_ATTEMPT_TIMEOUT="2" is not a positive duration`},
		{name: "negative duration", env: map[string]string{"REDIS_URL": url, "REDIS_BREAKER_TIMEOUT": "-1s"}, want: "REDIS_BREAKER_TIMEOUT"},
		{name: "bad number", env: map[string]string{"REDIS_URL": url, "REDIS_MAX_ATTEMPTS": "three"}, want: `REDIS_MAX_ATTEMPTS="three" is not a positive integer`},
		{name: "zero number", env: map[string]string{"REDIS_URL": url, "REDIS_BREAKER_FAILURES": "0"}, want: "REDIS_BREAKER_FAILURES"},
		{name: "wrong scheme", env: map[string]string{"REDIS_URL": "memcached://localhost"}, want: `REDIS_URL has unsupported scheme "memcached"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{connector.EnvURL, connector.EnvAttemptTimeout, connector.EnvMaxAttempts, connector.EnvBreakerTimeout, connector.EnvBreakerThreshold, connector.EnvOverload} {
				t.Setenv(k, tt.env[k])
			}
			cfg, err := connector.ConfigFromEnv()
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want one containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg)
		})
	}
}

func TestFullJitter(t *testing.T) {
	b := connector.FullJitter(100*time.Millisecond, 2*time.Second)
	for attempt, ceiling := range []time.Duration{100, 200, 400, 800, 1600, 2000, 2000} {
		ceiling *= time.Millisecond
		var hi time.Duration
		for range 500 {
			d := b(attempt)
			if d < 0 || d >= ceiling {
				t.Fatalf("attempt %d: pause %v outside [0, %v)", attempt, d, ceiling)
			}
			hi = max(hi, d)
		}
		if hi < ceiling/2 {
			t.Errorf("attempt %d: 500 pauses all below %v: not spread over [0, %v)", attempt, hi, ceiling)
		}
	}
	if d := b(1000); d < 0 || d >= 2*time.Second {
		t.Errorf("attempt 1000: pause %v, want it capped below 2s", d)
	}
}

// TestShortPasswordRedaction: a one-character password is removed where it
// stands as the password, not wherever its character occurs: an error that
// names 127.0.0.1:1 stays readable.
func TestShortPasswordRedaction(t *testing.T) {
	t.Run("connect error", func(t *testing.T) {
		c := newConnector(t, "redis://app:1@127.0.0.1:1/0", nil) // nothing listens on port 1
		_, err := c.Client(t.Context())
		if err == nil {
			t.Fatal("connect to port 1 succeeded")
		}
		if !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("error %q; want the address intact (nothing in it is the password)", err)
		}
	})
	t.Run("bad URL", func(t *testing.T) {
		if _, err := connector.New(connector.Config{URL: "redis://app:1@127.0.0.1:6379/abc"}); err == nil || strings.Contains(err.Error(), ":1@") {
			t.Errorf("New with a bad database: %v; want an error without the userinfo", err)
		}
	})
}

// TestPanicNeverShowsThePassword: a panic in OnNewClient whose value quotes
// the URL reaches the log line, the span and the callers' error without
// the password.
func TestPanicNeverShowsThePassword(t *testing.T) {
	const pw = "Sup3rSecretPW"
	srv := redistest.Start(t)
	url := "redis://app:" + pw + "@" + srv.Addr
	var logs strings.Builder
	var mu sync.Mutex
	c := newConnector(t, url, func(cfg *connector.Config) {
		cfg.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))
		cfg.OnNewClient = func(redis.UniversalClient) error { panic("cannot instrument " + url) }
	})
	var recovered any
	func() {
		defer func() { recovered = recover() }()
		_, _ = c.Client(t.Context())
	}()
	if recovered == nil {
		t.Fatal("the connect's panic was not re-raised")
	}
	_ = c.Close() // the log line is written
	mu.Lock()
	defer mu.Unlock()
	for what, text := range map[string]string{"the re-raised panic": fmt.Sprint(recovered), "the log": logs.String(), "LastError": c.Stats().LastError} {
		if strings.Contains(text, pw) {
			t.Errorf("%s contains the password: %s", what, text)
		}
	}
	if !strings.Contains(logs.String(), "panic during connect") {
		t.Errorf("no log line for the panic: %s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
