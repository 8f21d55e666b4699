package main

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	profile := `mode: atomic
example.com/m/a.go:1.1,2.2 3 0
example.com/m/a.go:3.1,4.2 1 5
example.com/m/a.go:1.1,2.2 3 2
example.com/m/sub/b.go:1.1,2.2 4 0
`
	cov, err := parse(strings.NewReader(profile))
	if err != nil {
		t.Fatal(err)
	}
	if c := cov["example.com/m"]; c.total != 4 || c.covered != 4 {
		t.Errorf("example.com/m: %+v; want 4 of 4 (a block covered by either binary counts)", c)
	}
	if c := cov["example.com/m/sub"]; c.total != 4 || c.covered != 0 || c.percent() != 0 {
		t.Errorf("example.com/m/sub: %+v", c)
	}
	if _, err := parse(strings.NewReader("mode: set\nnonsense\n")); err == nil {
		t.Error("a malformed line was accepted")
	}
}
