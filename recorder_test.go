package redismw_test

import (
	"errors"
	"net"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/ankitoon/redismw"
	"github.com/ankitoon/redismw/connector"
	"github.com/ankitoon/redismw/internal/testkit/oteltest"
	"github.com/ankitoon/redismw/redismwtest"
	"github.com/ankitoon/redismw/telemetry"
)

// TestCommandRecorder: installed with redis.SetOTelRecorder, the recorder
// turns go-redis' own measurements into the semantic conventions'
// command latency and pool waits, labelled so that they join the
// connector's series on server.address and server.port: a command's
// duration by name, a failure's error.type in redismw's vocabulary, a
// missing key no failure.
func TestCommandRecorder(t *testing.T) {
	p := oteltest.New(t)
	redis.SetOTelRecorder(redismw.CommandRecorder(p.Meter))
	t.Cleanup(func() { redis.SetOTelRecorder(nil) })

	c, mr := redismwtest.NewConnector(t, func(cfg *connector.Config) { cfg.MeterProvider = p.Meter })
	rdb, err := c.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := rdb.Set(ctx, "s", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Get(ctx, "missing").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET missing: %v", err)
	}
	if err := rdb.Incr(ctx, "s").Err(); err == nil {
		t.Fatal("INCR of a non-number succeeded")
	}

	host, portText, _ := net.SplitHostPort(mr.Addr())
	port, _ := strconv.Atoi(portText)
	server := []attribute.KeyValue{semconv.DBSystemNameRedis, semconv.ServerAddress(host), semconv.ServerPort(port)}
	m := p.Collect(t)
	op := func(name string, more ...attribute.KeyValue) []attribute.KeyValue {
		return append(append(server[:len(server):len(server)], semconv.DBOperationName(name), semconv.DBNamespace("0")), more...)
	}
	for _, tt := range []struct {
		what  string
		attrs []attribute.KeyValue
	}{
		{"SET", op("SET")},
		{"GET of a missing key, no failure", op("GET")},
		{"INCR that failed", op("INCR", semconv.ErrorTypeKey.String("ERR"))},
	} {
		if n, ok := oteltest.Value(m, "db.client.operation.duration", tt.attrs...); !ok || n != 1 {
			t.Errorf("%s: db.client.operation.duration{%v} count %v (found %v), want 1", tt.what, tt.attrs, n, ok)
		}
	}
	for _, pt := range m["db.client.operation.duration"] {
		if v, ok := pt.Attrs.Value(semconv.DBOperationNameKey); ok && v.AsString() == "GET" {
			if _, failed := pt.Attrs.Value(semconv.ErrorTypeKey); failed {
				t.Errorf("GET of a missing key recorded as a failure: %v", pt.Attrs)
			}
		}
	}
	if n, ok := oteltest.Value(m, "db.client.connection.wait_time", server...); !ok || n < 3 {
		t.Errorf("db.client.connection.wait_time{%v} count %v (found %v), want ≥ 3: one per command", server, n, ok)
	}
	if n, ok := oteltest.Value(m, "db.client.connection.pending_requests", server...); !ok || n != 0 {
		t.Errorf("pending_requests = %v (found %v), want back to 0", n, ok)
	}
	// The connector's series carry the same server.address and
	// server.port: the join key.
	if _, ok := oteltest.Value(m, telemetry.MetricUnusable, append(server, semconv.DBClientConnectionPoolName(c.Name()))...); !ok {
		t.Errorf("the connector's redismw.unusable lacks %v", server)
	}
	if _, ok := oteltest.Value(m, "db.client.connection.count", server...); !ok {
		t.Errorf("the connector's db.client.connection.count lacks %v", server)
	}
}
