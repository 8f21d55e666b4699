package instrument

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"

	"github.com/ankitoon/redismw/telemetry"
)

// CommandBuckets are the boundaries of the recorder's histograms, in
// seconds: from 100 µs (a command on a healthy Redis) to 10 s, fine
// enough to tell a 2 s stall from a 3 s read_timeout.
var CommandBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10}

// Recorder is go-redis' OTelRecorder (redis.SetOTelRecorder): go-redis
// measures, the Recorder records under the semantic conventions' names —
// db.client.operation.duration, db.client.connection.wait_time,
// db.client.connection.create_time and db.client.connection.pending_requests
// — with db.system.name, server.address and server.port (the address the
// client was configured with, as on the connector's series), and for an
// operation db.operation.name, db.namespace and, when it failed,
// error.type (telemetry.ErrorType's vocabulary; redis.Nil is no failure).
// It records nothing else go-redis offers (errors, Pub/Sub, streams,
// maintenance notifications); the connection count is the connector's
// (db.client.connection.count). Its methods are safe for concurrent use.
type Recorder struct {
	duration dbconv.ClientOperationDuration
	wait     dbconv.ClientConnectionWaitTime
	create   dbconv.ClientConnectionCreateTime
	pending  dbconv.ClientConnectionPendingRequests

	mu   sync.RWMutex
	sets map[recorderKey]attribute.Set // made once each: a command allocates no set; mu guards it
}

var (
	_ redis.OTelRecorder          = (*Recorder)(nil)
	_ redis.OTelConnectionCounter = (*Recorder)(nil)
)

// NewRecorder makes a Recorder whose instruments come from mp, or from the
// global provider if mp is nil.
func NewRecorder(mp metric.MeterProvider) *Recorder {
	m := Meter(mp)
	r := &Recorder{sets: map[recorderKey]attribute.Set{}}
	var err error
	r.duration, err = dbconv.NewClientOperationDuration(m, metric.WithExplicitBucketBoundaries(CommandBuckets...))
	handle(err)
	r.wait, err = dbconv.NewClientConnectionWaitTime(m, metric.WithExplicitBucketBoundaries(CommandBuckets...))
	handle(err)
	r.create, err = dbconv.NewClientConnectionCreateTime(m, metric.WithExplicitBucketBoundaries(CommandBuckets...))
	handle(err)
	r.pending, err = dbconv.NewClientConnectionPendingRequests(m)
	handle(err)
	return r
}

// recorderKey is what a series of the Recorder is told by.
type recorderKey struct {
	addr, op, errType string
	db                int // -1: no db.namespace
}

// set returns the attribute set of key, made once.
func (r *Recorder) set(key recorderKey) attribute.Set {
	r.mu.RLock()
	s, ok := r.sets[key]
	r.mu.RUnlock()
	if ok {
		return s
	}
	kv := []attribute.KeyValue{semconv.DBSystemNameRedis}
	if key.addr != "" {
		host, port, err := net.SplitHostPort(key.addr)
		if p, perr := strconv.Atoi(port); err == nil && perr == nil {
			kv = append(kv, semconv.ServerAddress(host), semconv.ServerPort(p))
		} else {
			kv = append(kv, semconv.ServerAddress(key.addr)) // a unix socket's path
		}
	}
	if key.op != "" {
		kv = append(kv, semconv.DBOperationName(strings.ToUpper(key.op))) // go-redis' names are lower case
	}
	if key.db >= 0 {
		kv = append(kv, semconv.DBNamespace(strconv.Itoa(key.db)))
	}
	if key.errType != "" {
		kv = append(kv, semconv.ErrorTypeKey.String(key.errType))
	}
	s = attribute.NewSet(kv...)
	r.mu.Lock()
	r.sets[key] = s
	r.mu.Unlock()
	return s
}

// address is the address a go-redis pool was configured with: its name
// is that address, "_" and an id, and "_pubsub" for a Pub/Sub pool.
func address(poolName string) string {
	poolName = strings.TrimSuffix(poolName, "_pubsub")
	if i := strings.LastIndexByte(poolName, '_'); i > 0 {
		return poolName[:i]
	}
	return poolName
}

// connAddress is the configured address of cn's pool, "" without cn.
func connAddress(cn redis.ConnInfo) string {
	if cn == nil {
		return ""
	}
	return address(cn.PoolName())
}

// errorType is the error.type of an operation's err: "" for success and
// for redis.Nil (a missing key is an answer).
func errorType(err error) string {
	if err == nil || errors.Is(err, redis.Nil) {
		return ""
	}
	return telemetry.ErrorType(err)
}

// RecordOperationDuration records db.client.operation.duration.
func (r *Recorder) RecordOperationDuration(ctx context.Context, d time.Duration, cmd redis.Cmder, _ int, err error, cn redis.ConnInfo, db int) {
	op := ""
	if cmd != nil {
		op = cmd.Name()
	}
	r.duration.RecordSet(ctx, d.Seconds(), r.set(recorderKey{addr: connAddress(cn), op: op, errType: errorType(err), db: db}))
}

// RecordPipelineOperationDuration records db.client.operation.duration
// for a pipeline (db.operation.name PIPELINE) or a transaction (MULTI).
func (r *Recorder) RecordPipelineOperationDuration(ctx context.Context, d time.Duration, name string, _, _ int, err error, cn redis.ConnInfo, db int) {
	r.duration.RecordSet(ctx, d.Seconds(), r.set(recorderKey{addr: connAddress(cn), op: name, errType: errorType(err), db: db}))
}

// RecordConnectionCreateTime records db.client.connection.create_time.
func (r *Recorder) RecordConnectionCreateTime(ctx context.Context, d time.Duration, cn redis.ConnInfo) {
	r.create.RecordSet(ctx, d.Seconds(), r.set(recorderKey{addr: connAddress(cn), db: -1}))
}

// RecordConnectionWaitTime records db.client.connection.wait_time: how
// long a command waited for a connection from the pool.
func (r *Recorder) RecordConnectionWaitTime(ctx context.Context, d time.Duration, cn redis.ConnInfo) {
	r.wait.RecordSet(ctx, d.Seconds(), r.set(recorderKey{addr: connAddress(cn), db: -1}))
}

// RecordPendingRequests adds delta to db.client.connection.pending_requests:
// the commands waiting for a connection from the pool.
func (r *Recorder) RecordPendingRequests(ctx context.Context, delta int, _ redis.ConnInfo, poolName string) {
	r.pending.AddSet(ctx, int64(delta), r.set(recorderKey{addr: address(poolName), db: -1}))
}

// RecordConnectionCount records nothing: the connector observes
// db.client.connection.count.
func (*Recorder) RecordConnectionCount(context.Context, int, redis.ConnInfo, string, bool) {}

// RecordConnectionRelaxedTimeout records nothing.
func (*Recorder) RecordConnectionRelaxedTimeout(context.Context, int, redis.ConnInfo, string, string) {
}

// RecordConnectionHandoff records nothing.
func (*Recorder) RecordConnectionHandoff(context.Context, redis.ConnInfo, string) {}

// RecordError records nothing: a failed operation's error.type is on its
// duration.
func (*Recorder) RecordError(context.Context, string, redis.ConnInfo, string, bool, int) {}

// RecordMaintenanceNotification records nothing.
func (*Recorder) RecordMaintenanceNotification(context.Context, redis.ConnInfo, string) {}

// RecordConnectionClosed records nothing.
func (*Recorder) RecordConnectionClosed(context.Context, redis.ConnInfo, string, error) {}

// RecordPubSubMessage records nothing.
func (*Recorder) RecordPubSubMessage(context.Context, redis.ConnInfo, string, string, bool) {}

// RecordStreamLag records nothing.
func (*Recorder) RecordStreamLag(context.Context, time.Duration, redis.ConnInfo, string, string, string) {
}
