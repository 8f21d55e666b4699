package main

import (
	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/ankitoon/redismw"
)

// recordCommands installs redismw's recorder of go-redis' own
// measurements for the whole process — command latency
// (db.client.operation.duration), pool waits
// (db.client.connection.wait_time, .pending_requests) and dials
// (.create_time) — with mp's instruments, and returns the function that
// removes it. go-redis' recorder is process-wide: a program installs one.
func recordCommands(mp *sdkmetric.MeterProvider) (remove func()) {
	redis.SetOTelRecorder(redismw.CommandRecorder(mp))
	return func() { redis.SetOTelRecorder(nil) }
}
