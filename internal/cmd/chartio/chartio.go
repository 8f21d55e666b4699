// Package chartio is the command-line shell of the chart programs: it
// parses the flags, reads benchmark or test output from a file or standard
// input, and writes the SVG to -o or standard output.
package chartio

import (
	"flag"
	"fmt"
	"io"
	"os"
)

// Main runs a chart program called name whose render turns the input into
// an SVG document. Define extra flags before calling it.
func Main(name string, render func(in io.Reader) (string, error)) {
	out := flag.String("o", "", "write the SVG here instead of standard output")
	flag.Parse()
	if err := run(*out, flag.Args(), render); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

func run(out string, args []string, render func(io.Reader) (string, error)) error {
	var in io.Reader = os.Stdin
	if len(args) > 0 {
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		in = f
	}
	svg, err := render(in)
	if err != nil {
		return err
	}
	if out == "" {
		_, err = io.WriteString(os.Stdout, svg)
		return err
	}
	return os.WriteFile(out, []byte(svg), 0o644)
}
