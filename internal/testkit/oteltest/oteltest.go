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
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
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

// AssertSpan fails t unless got is want in everything a test can know of
// a span: its name, kind and status, its attributes (as a set, typed: key
// and value), and its events, in order, by name and attributes. IDs,
// times, links, and what the SDK adds (resource, scope) are not compared.
// Every difference is reported, not only the first.
func AssertSpan(t testing.TB, want tracetest.SpanStub, got sdktrace.ReadOnlySpan) {
	t.Helper()
	name := want.Name
	if got.Name() != want.Name {
		t.Errorf("span name %q, want %q", got.Name(), want.Name)
	}
	if got.SpanKind() != want.SpanKind {
		t.Errorf("span %s: kind %v, want %v", name, got.SpanKind(), want.SpanKind)
	}
	if got.Status() != want.Status {
		t.Errorf("span %s: status %+v, want %+v", name, got.Status(), want.Status)
	}
	assertAttrs(t, "span "+name, want.Attributes, got.Attributes())
	evs := got.Events()
	if len(evs) != len(want.Events) {
		t.Errorf("span %s: %d events %v, want %d %v", name, len(evs), eventNames(evs), len(want.Events), eventNames(want.Events))
		return
	}
	for i, e := range evs {
		if e.Name != want.Events[i].Name {
			t.Errorf("span %s: event %d is %q, want %q", name, i, e.Name, want.Events[i].Name)
		}
		assertAttrs(t, "span "+name+" event "+e.Name, want.Events[i].Attributes, e.Attributes)
	}
}

// assertAttrs fails t unless got and want are the same attribute set.
func assertAttrs(t testing.TB, what string, want, got []attribute.KeyValue) {
	t.Helper()
	w, g := attribute.NewSet(want...), attribute.NewSet(got...)
	if w.Equals(&g) {
		return
	}
	for _, kv := range w.ToSlice() {
		if v, ok := g.Value(kv.Key); !ok {
			t.Errorf("%s: no attribute %s, want %s", what, kv.Key, kv.Value.String())
		} else if v != kv.Value {
			t.Errorf("%s: %s = %s (%s), want %s (%s)", what, kv.Key, v.String(), v.Type(), kv.Value.String(), kv.Value.Type())
		}
	}
	for _, kv := range g.ToSlice() {
		if !w.HasValue(kv.Key) {
			t.Errorf("%s: unexpected attribute %s = %s", what, kv.Key, kv.Value.String())
		}
	}
}

func eventNames(evs []sdktrace.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Name
	}
	return out
}

// Events returns the events of s named name.
func Events(s sdktrace.ReadOnlySpan, name string) []sdktrace.Event {
	var out []sdktrace.Event
	for _, e := range s.Events() {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
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
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				d.DataPoints = only(d.DataPoints, with)
				m.Data = d
			case metricdata.Gauge[int64]:
				d.DataPoints = only(d.DataPoints, with)
				m.Data = d
			}
			return m
		}
	}
	t.Fatalf("no metric %s", name)
	return metricdata.Metrics{}
}

// only returns the points of dps whose attributes hold every one of with.
func only[N int64 | float64](dps []metricdata.DataPoint[N], with []attribute.KeyValue) []metricdata.DataPoint[N] {
	return slices.DeleteFunc(slices.Clone(dps), func(dp metricdata.DataPoint[N]) bool { return !has(dp.Attributes, with) })
}

// Counter is what an Int64Counter named name records, with points: the
// want of an [AssertMetric].
func Counter(name, description, unit string, points []metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Description: description, Unit: unit,
		Data: metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: points}}
}

// AssertMetric fails t unless got, a metric as [Providers.Metric] returns
// it, is want: name, description, unit, kind and every data point, with
// its whole attribute set and value. Times and exemplars (the spans that
// were sampled when a value was recorded) are not compared.
func AssertMetric(t testing.TB, want, got metricdata.Metrics) {
	t.Helper()
	metricdatatest.AssertEqual(t, want, got, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
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
