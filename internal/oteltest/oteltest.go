// Package oteltest gives tests in-memory OpenTelemetry providers and easy
// reads of what they recorded.
package oteltest

import (
	"context"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Providers are an in-memory tracer and meter provider.
type Providers struct {
	Tracer *sdktrace.TracerProvider
	Spans  *tracetest.SpanRecorder
	Meter  *sdkmetric.MeterProvider
	Reader *sdkmetric.ManualReader
}

// New returns providers that keep everything in memory, shut down when the
// test ends.
func New(t testing.TB) *Providers {
	p := &Providers{Spans: tracetest.NewSpanRecorder(), Reader: sdkmetric.NewManualReader()}
	p.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p.Spans))
	p.Meter = sdkmetric.NewMeterProvider(sdkmetric.WithReader(p.Reader))
	t.Cleanup(func() {
		_ = p.Tracer.Shutdown(context.Background())
		_ = p.Meter.Shutdown(context.Background())
	})
	return p
}

// Ended returns the ended spans named name.
func (p *Providers) Ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range p.Spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// Point is one data point: its attributes and its value (a histogram's
// count).
type Point struct {
	Attrs attribute.Set
	Value float64
}

// Collect reads every metric now, by name.
func (p *Providers) Collect(t testing.TB) map[string][]Point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := p.Reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	out := map[string][]Point{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = append(out[m.Name], points(m.Data)...)
		}
	}
	return out
}

// Value returns the value of the points of metric name whose attributes
// hold every one of with (compared typed, key and value), summed, and
// whether any matched.
func Value(metrics map[string][]Point, name string, with ...attribute.KeyValue) (float64, bool) {
	var sum float64
	found := false
	for _, pt := range metrics[name] {
		if has(pt.Attrs, with) {
			sum += pt.Value
			found = true
		}
	}
	return sum, found
}

func points(data metricdata.Aggregation) []Point {
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		return values(d.DataPoints)
	case metricdata.Sum[float64]:
		return values(d.DataPoints)
	case metricdata.Gauge[int64]:
		return values(d.DataPoints)
	case metricdata.Gauge[float64]:
		return values(d.DataPoints)
	case metricdata.Histogram[float64]:
		out := make([]Point, 0, len(d.DataPoints))
		for _, dp := range d.DataPoints {
			out = append(out, Point{dp.Attributes, float64(dp.Count)})
		}
		return out
	}
	return nil
}

func values[N int64 | float64](dps []metricdata.DataPoint[N]) []Point {
	out := make([]Point, 0, len(dps))
	for _, dp := range dps {
		out = append(out, Point{dp.Attributes, float64(dp.Value)})
	}
	return out
}

// Attr returns the value of attribute key among kvs, as text, and whether
// it is there.
func Attr(kvs []attribute.KeyValue, key string) (string, bool) {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value.String(), true
		}
	}
	return "", false
}

// Metric returns metric name as recorded now, with only its data points
// whose attributes include every one of with; the test fails if there is
// no such metric. Compare it with metricdatatest.AssertEqual.
func (p *Providers) Metric(t testing.TB, name string, with ...attribute.KeyValue) metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := p.Reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
				sum.DataPoints = slices.DeleteFunc(slices.Clone(sum.DataPoints), func(dp metricdata.DataPoint[int64]) bool {
					return !has(dp.Attributes, with)
				})
				m.Data = sum
			}
			return m
		}
	}
	t.Fatalf("no metric %s", name)
	return metricdata.Metrics{}
}

// has reports whether set holds every one of kvs.
func has(set attribute.Set, kvs []attribute.KeyValue) bool {
	for _, kv := range kvs {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}
