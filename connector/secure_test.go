package connector_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ankitoon/redismw/breaker"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// countingDials returns an OnNewClient that counts dial attempts.
func countingDials(d *redistest.DialCounter) func(redis.UniversalClient) error {
	return func(rdb redis.UniversalClient) error { rdb.AddHook(d); return nil }
}

// TestTLS: a rediss:// connector with the right CA connects; with a wrong
// CA it fails at once with a certificate error, counts it as fatal
// (one attempt, circuit open), and does not retry.
func TestTLS(t *testing.T) {
	certs := redistest.NewCerts(t)
	srv := redistest.StartWith(t, redistest.Options{TLS: certs})
	url := "rediss://" + srv.Addr

	// Generous attempts: a TLS handshake under -race on a busy machine may
	// take longer than the helper's 500ms; nothing here waits for one to
	// time out.
	generous := func(cfg *connector.Config) { cfg.AttemptTimeout = 30 * time.Second }
	var unknown x509.UnknownAuthorityError

	t.Run("right CA", func(t *testing.T) {
		good := newConnector(t, url, func(cfg *connector.Config) {
			generous(cfg)
			cfg.TLSConfig = &tls.Config{RootCAs: certs.Pool, MinVersion: tls.VersionTLS12}
		})
		rdb, err := good.Client(t.Context())
		if err != nil {
			t.Fatalf("TLS with the right CA: %v", err)
		}
		if err := rdb.Set(t.Context(), "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("wrong CA", func(t *testing.T) {
		dials := &redistest.DialCounter{}
		bad := newConnector(t, url, func(cfg *connector.Config) {
			generous(cfg)
			cfg.TLSConfig = &tls.Config{RootCAs: redistest.OtherCA(t), MinVersion: tls.VersionTLS12}
			cfg.OnNewClient = countingDials(dials)
		})
		_, err := bad.Client(t.Context())
		if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "not retried") {
			t.Fatalf("wrong CA: %v; want an x509 unknown-authority error, not retried", err)
		}
		s := bad.Stats()
		if s.Attempts != 1 || s.Circuit != breaker.Open {
			t.Errorf("wrong CA: %d attempts, circuit %v; want one attempt, the circuit open at once", s.Attempts, s.Circuit)
		}
		for range 50 {
			_, _ = bad.Client(t.Context())
		}
		if n := dials.Dials(); n != 1 {
			t.Errorf("%d dials for 51 calls with an untrusted certificate; want 1 (no retry storm)", n)
		}
	})

	t.Run("system roots", func(t *testing.T) {
		// The system roots do not know the test CA either: plain rediss://.
		system := newConnector(t, url, generous)
		if _, err := system.Client(t.Context()); !errors.As(err, &unknown) {
			t.Errorf("rediss:// without a CA: %v; want verification against the system roots to fail", err)
		}
	})
}

// TestTLSToPlainServer: rediss:// to a real redis-server that speaks
// plain RESP gets no answer to its TLS handshake; the connector sees that
// the server answers a plain PING, says so ("is the server speaking
// TLS?"), and treats it as fatal: one attempt, the circuit open.
func TestTLSToPlainServer(t *testing.T) {
	insecure := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // loopback test server

	t.Run("plain server", func(t *testing.T) {
		srv := redistest.Start(t, "--requirepass", "plain-secret")
		c := newConnector(t, "rediss://:plain-secret@"+srv.Addr, func(cfg *connector.Config) {
			cfg.AttemptTimeout = 2 * time.Second // the handshake never gets an answer: it times out
			cfg.TLSConfig = insecure
		})
		_, err := c.Client(t.Context())
		if err == nil || !strings.Contains(err.Error(), "is the server speaking TLS?") || !strings.Contains(err.Error(), "not retried") {
			t.Fatalf("rediss:// to a plain server: %v; want the TLS hint, not retried", err)
		}
		if strings.Contains(err.Error(), "plain-secret") {
			t.Errorf("the error shows the password: %v", err)
		}
		if s := c.Stats(); s.Attempts != 1 || s.Circuit != breaker.Open {
			t.Errorf("after the plain server: %d attempts, circuit %v; want 1, open", s.Attempts, s.Circuit)
		}
	})

	t.Run("hung server", func(t *testing.T) {
		// A hung server is no plain server: its timeout stays an ordinary
		// failure, retried.
		_, proxy := behindProxy(t)
		if err := proxy.SetMode(faultproxy.Hang); err != nil {
			t.Fatal(err)
		}
		h := newConnector(t, "rediss://"+proxy.Addr(), func(cfg *connector.Config) {
			cfg.AttemptTimeout = 300 * time.Millisecond
			cfg.MaxAttempts = 2
			cfg.TLSConfig = insecure
		})
		_, err := h.Client(t.Context())
		if err == nil || strings.Contains(err.Error(), "speaking TLS") {
			t.Fatalf("rediss:// to a hung server: %v; want an ordinary failure", err)
		}
		eventually(t, 10*time.Second, "the second attempt", func() bool { return h.Stats().Attempts == 2 })
	})
}

// TestACL: an ACL user with its password connects; a wrong password is a
// fatal error: one attempt, the circuit open, no hammering.
func TestACL(t *testing.T) {
	srv := redistest.Start(t)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer func() { _ = admin.Close() }()
	if err := admin.Do(t.Context(), "ACL", "SETUSER", "app", "on", ">app-pass", "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}

	t.Run("right password", func(t *testing.T) {
		good := newConnector(t, "redis://app:app-pass@"+srv.Addr, nil)
		rdb, err := good.Client(t.Context())
		if err != nil {
			t.Fatalf("ACL user with its password: %v", err)
		}
		if got, err := rdb.Do(t.Context(), "ACL", "WHOAMI").Text(); err != nil || got != "app" {
			t.Errorf("ACL WHOAMI = %q, %v; want app", got, err)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		dials := &redistest.DialCounter{}
		var moves <-chan breaker.State
		bad := newConnector(t, "redis://app:wrong-pass@"+srv.Addr, func(cfg *connector.Config) {
			cfg.OnNewClient = countingDials(dials)
			moves = watch(cfg)
		})
		_, err := bad.Client(t.Context())
		if !redis.IsAuthError(err) || !strings.Contains(err.Error(), "not retried") || strings.Contains(err.Error(), "wrong-pass") {
			t.Fatalf("wrong password: %v; want an auth error, not retried, without the password", err)
		}
		for range 50 {
			_, _ = bad.Client(t.Context())
		}
		await(t, moves, breaker.Open)
		s := bad.Stats()
		if s.Attempts != 1 || dials.Dials() != 1 || s.Circuit != breaker.Open || s.AttemptFailures != 1 || len(moves) != 0 {
			t.Errorf("51 calls with a wrong password: %d attempts, %d dials, circuit %v, %d more transitions; want 1, 1, open after one transition",
				s.Attempts, dials.Dials(), s.Circuit, len(moves))
		}
		if strings.Contains(s.LastError, "wrong-pass") || !strings.Contains(s.LastError, "WRONGPASS") {
			t.Errorf("LastError %q; want WRONGPASS, without the password", s.LastError)
		}
	})
}

// TestACLWithoutPing: a least-privileged ACL user that may GET, SET and
// INCR but not PING works with a plain go-redis client, and so it does
// through the connector: readiness takes NOPERM for PING as an answer.
func TestACLWithoutPing(t *testing.T) {
	srv := redistest.Start(t)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer func() { _ = admin.Close() }()
	if err := admin.Do(t.Context(), "ACL", "SETUSER", "worker", "on", ">w-pass", "~*", "+get", "+set", "+incr").Err(); err != nil {
		t.Fatal(err)
	}
	url := "redis://worker:w-pass@" + srv.Addr
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	plain := redis.NewClient(opts)
	defer func() { _ = plain.Close() }()
	if err := plain.Incr(t.Context(), "n").Err(); err != nil {
		t.Fatalf("INCR through a plain go-redis client as the user: %v", err)
	}
	if err := plain.Ping(t.Context()).Err(); !redis.IsPermissionError(err) {
		t.Fatalf("PING as the user: %v, want NOPERM", err)
	}

	c := newConnector(t, url, nil)
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatalf("Client as a user without +ping: %v", err)
	}
	if n, err := rdb.Incr(t.Context(), "n").Result(); err != nil || n != 2 {
		t.Errorf("INCR through the connector: %d, %v; want 2", n, err)
	}
	if s := c.Stats(); s.Circuit != breaker.Closed || s.Failures != 0 {
		t.Errorf("after connecting as a user without +ping: %+v", s)
	}

	// NOPERM on something the configuration needs (SELECT of db 1) is
	// fatal: one attempt, the circuit open, an error naming it.
	bad := newConnector(t, url+"/1", nil)
	if _, err := bad.Client(t.Context()); !redis.IsPermissionError(err) || !strings.Contains(err.Error(), "not retried") {
		t.Errorf("Client as the user on db 1: %v; want NOPERM, not retried", err)
	}
	if s := bad.Stats(); s.Attempts != 1 || s.Circuit != breaker.Open {
		t.Errorf("after NOPERM on SELECT: %d attempts, circuit %v; want 1, open", s.Attempts, s.Circuit)
	}
}
