// Package zero holds redismw's one rule for settings: the zero value of a
// field or an option selects its default, and a negative value is a
// mistake, reported with the name of the field or option.
package zero

import (
	"fmt"
	"time"
)

// Duration returns d, or def when d is zero; a negative d is an error that
// names field.
func Duration(field string, d, def time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return d, fmt.Errorf("redismw: %s is negative (%s)", field, d)
	case d == 0:
		return def, nil
	}
	return d, nil
}

// Int returns n, or def when n is zero; a negative n is an error that
// names field.
func Int(field string, n, def int) (int, error) {
	switch {
	case n < 0:
		return n, fmt.Errorf("redismw: %s is negative (%d)", field, n)
	case n == 0:
		return def, nil
	}
	return n, nil
}

// Apply applies opts in order to cfg, which holds the defaults, skipping
// nil options, and returns it.
func Apply[C, O any](cfg C, opts []O, apply func(O, *C)) C {
	for _, o := range opts {
		if any(o) != nil {
			apply(o, &cfg)
		}
	}
	return cfg
}
