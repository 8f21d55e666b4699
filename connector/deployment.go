package connector

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/ankitoon/redismw/internal/circuit"
	"github.com/ankitoon/redismw/internal/instrument"
	"github.com/ankitoon/redismw/internal/zero"
)

// kind is the shape of a Redis deployment.
type kind int

const (
	single   kind = iota // one server
	cluster              // Redis Cluster
	sentinel             // a master watched by Sentinel
)

// deployment is what a connector connects to: it makes clients (one per
// connect attempt, each from a fresh copy of the options) and checks that
// they are ready.
type deployment struct {
	kind     kind
	single   *redis.Options
	cluster  *redis.ClusterOptions
	failover *redis.FailoverOptions
	secrets  []string // passwords, scrubbed from every text
}

// newDeployment reads the deployment from cfg.URL or cfg.Options (exactly
// one of them), and applies the connector's rules to its options.
func newDeployment(cfg Config) (*deployment, error) {
	var d *deployment
	var err error
	switch {
	case cfg.URL != "" && cfg.Options != nil:
		return nil, errors.New("redismw: connector.Config has both URL and Options: set one")
	case cfg.Options != nil:
		d, err = fromOptions(cfg.Options)
	case cfg.URL != "":
		d, err = parseDeployment("connector.Config.URL", cfg.URL)
	default:
		return nil, errors.New("redismw: connector.Config.URL is empty (want e.g. redis://localhost:6379/0)")
	}
	if err != nil {
		return nil, err
	}
	d.tune(cfg)
	return d, nil
}

// parseDeployment parses a Redis URL: a cluster when it has addr=
// parameters (ParseClusterURL), Sentinel when it has master_name=
// (ParseFailoverURL), one server otherwise (ParseURL). Its errors name
// source and never contain a password.
func parseDeployment(source, raw string) (*deployment, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the URL, or a piece of it, in its error: say
		// nothing of the text.
		return nil, fmt.Errorf("redismw: %s is not a valid URL (check the host:port form and that special characters in the password are percent-encoded)", source)
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
	default:
		if u.Opaque != "" || u.Scheme == "" {
			// "user:pass@host" parses with "user" as the scheme: don't echo it.
			return nil, fmt.Errorf("redismw: %s has no redis://, rediss:// or unix:// scheme", source)
		}
		return nil, fmt.Errorf("redismw: %s has unsupported scheme %q (want redis, rediss or unix)", source, u.Scheme)
	}
	q := u.Query()
	d := &deployment{secrets: urlSecrets(u)}
	fail := func(err error) (*deployment, error) {
		return nil, fmt.Errorf("redismw: %s: %s", source, redact(goRedisProblem(raw, err), d.secrets...))
	}
	switch {
	case u.Scheme == "unix" && (q.Has("master_name") || q.Has("addr")):
		return nil, fmt.Errorf("redismw: %s: a unix:// URL names one server: master_name= (Sentinel) and addr= (cluster) need redis:// or rediss://", source)
	case q.Has("master_name"):
		d.kind = sentinel
		if d.failover, err = redis.ParseFailoverURL(raw); err != nil {
			return fail(err)
		}
	case q.Has("addr"):
		d.kind = cluster
		if d.cluster, err = redis.ParseClusterURL(raw); err != nil {
			return fail(err)
		}
	default:
		if d.single, err = redis.ParseURL(raw); err != nil {
			return fail(err)
		}
	}
	return d, nil
}

// fromOptions takes a deployment from go-redis' UniversalOptions, the way
// redis.NewUniversalClient reads them.
func fromOptions(o *redis.UniversalOptions) (*deployment, error) {
	d := &deployment{secrets: optionSecrets(o)}
	switch {
	case len(o.Addrs) == 0:
		return nil, errors.New("redismw: connector.Config.Options.Addrs is empty")
	case o.MasterName != "" && o.IsClusterMode:
		return nil, errors.New("redismw: connector.Config.Options sets both MasterName (Sentinel) and IsClusterMode: a Sentinel-managed cluster is not supported")
	case o.MasterName != "":
		d.kind, d.failover = sentinel, o.Failover()
	case len(o.Addrs) > 1 || o.IsClusterMode:
		d.kind, d.cluster = cluster, o.Cluster()
	default:
		d.single = o.Simple()
	}
	return d, nil
}

// tune applies the connector's rules (see [Config.URL]) to the options.
func (d *deployment) tune(cfg Config) {
	apply := func(dialerRetries, maxRetries, poolSize *int, ctxTimeout *bool, dialTimeout, readTimeout, poolTimeout *time.Duration, tlsConf **tls.Config) {
		*dialerRetries = 1
		if rt := zero.Or(*readTimeout, 5*time.Second); *poolTimeout == 0 && rt > 0 {
			// go-redis waits read_timeout + 1s for a pooled connection;
			// a command waiting longer than read_timeout is a suspicion
			// (a pool held by blocking commands on a hung Redis), so
			// that a hang is told within 2 × read_timeout whatever holds
			// the pool.
			*poolTimeout = rt
		}
		*ctxTimeout = true
		if *maxRetries == 0 {
			*maxRetries = -1
		}
		if *dialTimeout == 0 {
			*dialTimeout = cfg.AttemptTimeout
		}
		if *poolSize == 0 {
			*poolSize = 10 * runtime.GOMAXPROCS(0) // go-redis' default, made explicit for the pool metrics
		}
		if cfg.TLSConfig != nil {
			*tlsConf = cfg.TLSConfig.Clone()
		}
	}
	switch d.kind {
	case cluster:
		o := d.cluster
		apply(&o.DialerRetries, &o.MaxRetries, &o.PoolSize, &o.ContextTimeoutEnabled, &o.DialTimeout, &o.ReadTimeout, &o.PoolTimeout, &o.TLSConfig)
	case sentinel:
		o := d.failover
		apply(&o.DialerRetries, &o.MaxRetries, &o.PoolSize, &o.ContextTimeoutEnabled, &o.DialTimeout, &o.ReadTimeout, &o.PoolTimeout, &o.TLSConfig)
	default:
		o := d.single
		apply(&o.DialerRetries, &o.MaxRetries, &o.PoolSize, &o.ContextTimeoutEnabled, &o.DialTimeout, &o.ReadTimeout, &o.PoolTimeout, &o.TLSConfig)
	}
}

// newClient makes a client from a fresh copy of the options. A lean
// client — a probe's or a check's, thrown away after one PING — dials no
// idle connections (MinIdleConns) and skips the optional handshake round
// trips (CLIENT SETINFO, CLIENT MAINT_NOTIFICATIONS). A positive perRead
// bounds the dial and every read and write by itself instead of by the
// context's deadline: the connector's check, where each round trip gets
// read_timeout, as a command's read does, so that a partition (SYNs
// dropped) is told within read_timeout too.
func (d *deployment) newClient(lean bool, perRead time.Duration) redis.UniversalClient {
	set := func(minIdle *int, identity *bool, dial, read, write *time.Duration, ctxTimeout *bool) {
		if lean {
			*minIdle, *identity = 0, true
		}
		if perRead > 0 {
			*dial, *read, *write, *ctxTimeout = perRead, perRead, perRead, false
		}
	}
	noMaint := func(m **maintnotifications.Config) {
		if lean {
			*m = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		}
	}
	switch d.kind {
	case cluster:
		o := *d.cluster
		o.Addrs = append([]string(nil), o.Addrs...)
		set(&o.MinIdleConns, &o.DisableIdentity, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.ContextTimeoutEnabled)
		noMaint(&o.MaintNotificationsConfig)
		return redis.NewClusterClient(&o)
	case sentinel:
		o := *d.failover
		o.SentinelAddrs = append([]string(nil), o.SentinelAddrs...)
		set(&o.MinIdleConns, &o.DisableIdentity, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.ContextTimeoutEnabled)
		return redis.NewFailoverClient(&o)
	default:
		o := *d.single
		set(&o.MinIdleConns, &o.DisableIdentity, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.ContextTimeoutEnabled)
		noMaint(&o.MaintNotificationsConfig)
		return redis.NewClient(&o)
	}
}

// install adds hook to client. A cluster client gets it at the cluster
// level, where it judges each command once, whatever go-redis redirects
// and retries underneath, and every node gets the hook's node guard as
// go-redis creates it, so that nothing reaches a node while the circuit is
// open and, unless retries is set, no command is sent twice.
func install(client redis.UniversalClient, hook *circuit.Hook, retries bool) {
	if cc, ok := client.(*redis.ClusterClient); ok {
		guard := hook.NodeGuard(retries)
		cc.OnNewNode(func(node *redis.Client) { node.AddHook(guard) })
	}
	client.AddHook(hook)
}

// retries reports whether the options allow command retries: the URL or
// Options set MaxRetries (max_retries) to a positive number.
func (d *deployment) retries() bool {
	switch d.kind {
	case cluster:
		return d.cluster.MaxRetries > 0
	case sentinel:
		return d.failover.MaxRetries > 0
	default:
		return d.single.MaxRetries > 0
	}
}

// checkTimeout bounds the connector's check of a suspicion: the
// deployment's read timeout (go-redis' default 5s when unset), or
// fallback when reads have no timeout.
func (d *deployment) checkTimeout(fallback time.Duration) time.Duration {
	var rt time.Duration
	switch d.kind {
	case cluster:
		rt = d.cluster.ReadTimeout
	case sentinel:
		rt = d.failover.ReadTimeout
	default:
		rt = d.single.ReadTimeout
	}
	switch {
	case rt == 0:
		return 5 * time.Second
	case rt < 0:
		return fallback
	}
	return rt
}

// ping checks that client is ready: a PING to the server, to the current
// master for Sentinel, or to every master of a cluster (a cluster with a
// master down does not serve all its slots).
func ping(ctx context.Context, client redis.UniversalClient) error {
	if cc, ok := client.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return node.Ping(ctx).Err()
		})
	}
	return client.Ping(ctx).Err()
}

// first returns the deployment's first address (server, seed or sentinel)
// and its network.
func (d *deployment) first() (addr, network string, db int) {
	switch d.kind {
	case cluster:
		return d.cluster.Addrs[0], "tcp", 0
	case sentinel:
		return d.failover.SentinelAddrs[0], "tcp", d.failover.DB
	default:
		return d.single.Addr, d.single.Network, d.single.DB
	}
}

// server describes the deployment for telemetry: its first address and
// database; PoolName is left to the connector.
func (d *deployment) server() instrument.Server {
	addr, network, db := d.first()
	s := instrument.Server{Address: addr}
	if network != "unix" {
		if host, port, err := net.SplitHostPort(addr); err == nil {
			s.Address = host
			s.Port, _ = strconv.Atoi(port)
		}
	}
	if d.kind != cluster {
		s.Namespace = strconv.Itoa(db)
	}
	return s
}

// poolName is a connector's default name: the deployment's first address
// and database, "host:port/db" (for Sentinel, the first sentinel's).
func (d *deployment) poolName() string {
	addr, _, db := d.first()
	return addr + "/" + strconv.Itoa(db)
}

// pool returns the pool limits, for the pool metrics.
func (d *deployment) pool() (size, idleMax, idleMin int) {
	switch d.kind {
	case cluster:
		return d.cluster.PoolSize, d.cluster.MaxIdleConns, d.cluster.MinIdleConns
	case sentinel:
		return d.failover.PoolSize, d.failover.MaxIdleConns, d.failover.MinIdleConns
	default:
		return d.single.PoolSize, d.single.MaxIdleConns, d.single.MinIdleConns
	}
}

// tls reports whether the deployment's connections use TLS (rediss://
// or a TLSConfig).
func (d *deployment) tls() bool {
	switch d.kind {
	case cluster:
		return d.cluster.TLSConfig != nil
	case sentinel:
		return d.failover.TLSConfig != nil
	default:
		return d.single.TLSConfig != nil
	}
}

// errPlainServer is the cause of a TLS attempt against a server that
// answers plain RESP: a configuration problem that retrying cannot fix.
var errPlainServer = errors.New("is the server speaking TLS? it answers plain RESP on this port, not the TLS handshake: use redis:// (or the server's TLS port) instead of rediss://")

// plainCheck asks, while a TLS attempt is under way, whether the server
// answers plain RESP; see deployment.checkPlain.
type plainCheck struct {
	timer  *time.Timer
	cancel context.CancelFunc
	done   chan struct{}
	plain  bool
}

// checkPlain starts, after three quarters of budget, a check of whether
// the server at the deployment's first address answers a plain-text PING,
// bounded by the last quarter: the reason a TLS handshake with it would
// get no answer (a plain redis-server waits for the end of a command line
// that a TLS ClientHello never sends). Running beside the attempt, it does
// not make the attempt longer than budget; an attempt that ends sooner
// stops it before it dials (a healthy TLS connect slower than three
// quarters of its budget costs Redis one more connection). Unix sockets
// and Sentinel deployments are not checked (nil).
func (d *deployment) checkPlain(ctx context.Context, budget time.Duration) *plainCheck {
	addr, network, _ := d.first()
	if !d.tls() || d.kind == sentinel || network == "unix" {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &plainCheck{cancel: cancel, done: make(chan struct{})}
	p.timer = time.AfterFunc(budget*3/4, func() {
		defer close(p.done)
		p.plain = answersPlain(ctx, addr, budget/4)
	})
	return p
}

// result ends the check and reports whether the server answered plain
// RESP. Unless want is true, a check under way is cut short.
func (p *plainCheck) result(want bool) bool {
	if p == nil {
		return false
	}
	if !want {
		p.cancel()
	}
	defer p.cancel()
	if p.timer.Stop() {
		return false // not started
	}
	<-p.done
	return want && p.plain
}

// answersPlain reports whether the server at addr answers a plain PING
// within timeout.
func answersPlain(ctx context.Context, addr string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer func() { _ = conn.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() }) // cut short: the read ends now
	defer stop()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	reply := make([]byte, 1)
	if _, err := io.ReadFull(conn, reply); err != nil {
		return false
	}
	// +PONG, or an error reply such as -NOAUTH: either way plain RESP.
	return reply[0] == '+' || reply[0] == '-'
}
