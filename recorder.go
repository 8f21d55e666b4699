package redismw

import (
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"

	"github.com/ankitoon/redismw/internal/instrument"
)

// CommandRecorder returns a recorder for go-redis' own measurements, to
// install once per process with redis.SetOTelRecorder: go-redis times
// every command, pipeline and wait for a pooled connection of every client
// in the process, and the recorder records them with the instruments of
// mp (the global provider if nil) under the OpenTelemetry semantic
// conventions' names:
//
//	db.client.operation.duration         histogram, s  {db.operation.name, db.namespace, error.type on failure}
//	db.client.connection.wait_time       histogram, s  (a command's wait for a connection from the pool)
//	db.client.connection.create_time     histogram, s  (dial and handshake of a pooled connection)
//	db.client.connection.pending_requests up-down counter (commands waiting for a connection)
//
// Every series carries db.system.name=redis, server.address and
// server.port — the address the client was configured with, as on the
// connector's series, so the two join on them. error.type is the one
// vocabulary of redismw (telemetry.ErrorType); a missing key (redis.Nil)
// is no failure. The connector's own PINGs (connect attempts, checks,
// probes) are operations too. db.client.connection.pool.name, which the
// conventions ask for on the connection metrics, is left out: go-redis
// names each client's pool with a random id, and the connector makes a
// client per probe.
//
// Nothing is recorded until it is installed, and installing it is the
// process's choice (redis.SetOTelRecorder is global; redis.SetOTelRecorder(nil)
// removes it). It costs a command a map lookup under a read lock and the
// SDK's recording; the connector's ready path is untouched.
func CommandRecorder(mp metric.MeterProvider) redis.OTelRecorder {
	return instrument.NewRecorder(mp)
}
