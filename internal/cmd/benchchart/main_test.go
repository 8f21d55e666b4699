package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkThunderingHerd/strategy=connector/callers=100-2   5  47407286 ns/op  1.000 connect-dials/op  20.00 dials/op  27.08 p50-ms  46.42 p99-ms  2377424 B/op  6197 allocs/op
BenchmarkThunderingHerd/strategy=connector/callers=100-2   5  47407286 ns/op  1.000 connect-dials/op  20.00 dials/op  27.08 p50-ms  40.00 p99-ms  2377424 B/op  6197 allocs/op
BenchmarkThunderingHerd/strategy=connector/callers=100-2   5  47407286 ns/op  1.000 connect-dials/op  20.00 dials/op  27.08 p50-ms  50.00 p99-ms  2377424 B/op  6197 allocs/op
BenchmarkThunderingHerd/strategy=shared/callers=100-2      5  27095511 ns/op  0 connect-dials/op  20.00 dials/op  24.57 p50-ms  25.41 p99-ms
BenchmarkOutage/fault=hang/strategy=shared-2  1  5015762882 ns/op  1.000 dials/op  5016 p99-ms
BenchmarkOutage/fault=hang/strategy=connector-2  1000000  1000 ns/op  0 dials/op  0.0012 p99-ms
PASS
`

func TestParseAndRender(t *testing.T) {
	results, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got := results["ThunderingHerd/strategy=connector/callers=100"]["p99-ms"]; got != 46.42 {
		t.Errorf("median p99 of three runs = %v, want 46.42", got)
	}
	if got := results["Outage/fault=hang/strategy=shared"]["p99-ms"]; got != 5016 {
		t.Errorf("outage p99 = %v", got)
	}
	svg := render(results)
	for _, want := range []string{"<svg", "100 callers", "connector", "hang · shared", "5016 ms", "0.0012 ms", "</svg>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if x(0.0012) >= x(5016) || x(1e9) != x(maxMS) {
		t.Error("scale is not monotonic and bounded")
	}
}
