package zero_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ankitoon/redismw/internal/zero"
)

func TestRule(t *testing.T) {
	if d, err := zero.Value("X", 0, time.Second); d != time.Second || err != nil {
		t.Errorf("Value(0s) = %v, %v; want the default", d, err)
	}
	if d, err := zero.Value("X", 2*time.Second, time.Second); d != 2*time.Second || err != nil {
		t.Errorf("Value(2s) = %v, %v; want 2s", d, err)
	}
	if _, err := zero.Value("Config.X", -1, time.Second); err == nil || !strings.Contains(err.Error(), "Config.X is negative") {
		t.Errorf("Value(-1ns): %v; want an error naming the field", err)
	}
	if n, err := zero.Value("N", 0, 3); n != 3 || err != nil {
		t.Errorf("Value(0) = %v, %v; want the default", n, err)
	}
	if _, err := zero.Value("Config.N", -2, 3); err == nil || !strings.Contains(err.Error(), "Config.N is negative (-2)") {
		t.Errorf("Value(-2): %v; want an error naming the field", err)
	}
	type opt interface{ set(*[]int) }
	got := zero.Apply([]int{1}, []opt{nil, optFunc(func(c *[]int) { *c = append(*c, 2) })}, opt.set)
	if len(got) != 2 || got[1] != 2 {
		t.Errorf("Apply = %v; want the defaults, then the options, nil skipped", got)
	}
}

type optFunc func(*[]int)

func (f optFunc) set(c *[]int) { f(c) }
