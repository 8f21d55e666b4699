// Package zero holds redismw's one rule for settings: the zero value of a
// field or an option selects its default, and a negative value is a
// mistake, reported with the name of the field or option.
package zero

import "fmt"

// Value returns v, or def when v is zero; a negative v is an error that
// names field. It serves durations and counts alike.
func Value[T ~int | ~int64](field string, v, def T) (T, error) {
	switch {
	case v < 0:
		return v, fmt.Errorf("redismw: %s is negative (%v)", field, v)
	}
	return Or(v, def), nil
}

// Or returns v, or def when v is zero.
func Or[T comparable](v, def T) T {
	var z T
	if v == z {
		return def
	}
	return v
}

// Apply applies opts in order to cfg, skipping nil options, and returns
// it; the caller then resolves the zero values ([Or], [Value]).
func Apply[C, O any](cfg C, opts []O, apply func(O, *C)) C {
	for _, o := range opts {
		if any(o) != nil {
			apply(o, &cfg)
		}
	}
	return cfg
}
