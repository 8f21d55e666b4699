package main

import (
	"strings"
	"testing"
)

func TestParseAndRender(t *testing.T) {
	in := `    chaos_test.go:300: timeline kill-restart-x5/users=100 t=0 requests=15497 ok=15497 unavailable=0 p99ms=12.8 dials=99
    chaos_test.go:300: timeline kill-restart-x5/users=100 t=1 requests=41423 ok=0 unavailable=41423 p99ms=4.7 dials=0
    chaos_test.go:300: timeline kill-restart-x5/users=1000 t=0 requests=1 ok=1 unavailable=0 p99ms=1 dials=1
`
	secs, err := parse(strings.NewReader(in), "kill-restart-x5/users=100")
	if err != nil {
		t.Fatal(err)
	}
	if len(secs) != 2 || secs[1].unavailable != 41423 || secs[0].dials != 99 || secs[0].p99ms != 12.8 {
		t.Fatalf("parsed %+v", secs)
	}
	svg := render("kill-restart-x5/users=100", secs)
	for _, want := range []string{"<svg", "requests per second", "p99 latency", "dials per second", "0s", "</svg>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}
