// Command covreport prints per-package statement coverage from a merged
// cover profile, and fails when a package named with -require is below
// -min percent:
//
//	go test -coverpkg=./... -coverprofile=cover.out ./...
//	go run ./internal/cmd/covreport -min 90 -require github.com/ankitoon/redismw,github.com/ankitoon/redismw/connector cover.out
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
)

func main() {
	minPct := flag.Float64("min", 90, "the least coverage, in percent, of the -require packages")
	require := flag.String("require", "", "comma-separated import paths that must reach -min")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: covreport [-min N] [-require pkg,…] cover.out")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "covreport:", err)
		os.Exit(1)
	}
	defer func() { _ = f.Close() }()
	cov, err := parse(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "covreport:", err)
		os.Exit(1)
	}
	pkgs := make([]string, 0, len(cov))
	for p := range cov {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	failed := false
	required := map[string]bool{}
	for p := range strings.SplitSeq(*require, ",") {
		if p != "" {
			required[p] = true
		}
	}
	for _, p := range pkgs {
		pct := cov[p].percent()
		mark := ""
		if required[p] {
			mark = "  (required ≥ " + strconv.FormatFloat(*minPct, 'f', -1, 64) + "%)"
			if pct < *minPct {
				mark += "  BELOW"
				failed = true
			}
		}
		fmt.Printf("%-60s %6.1f%%  of %4d statements%s\n", p, pct, cov[p].total, mark)
	}
	for p := range required {
		if _, ok := cov[p]; !ok {
			fmt.Printf("%s: not in the profile\n", p)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

// counts is a package's statements, and those run at least once.
type counts struct{ total, covered int }

func (c counts) percent() float64 {
	if c.total == 0 {
		return 100
	}
	return 100 * float64(c.covered) / float64(c.total)
}

// parse reads a cover profile. A block may appear several times (one per
// test binary): it counts as covered if any run covered it.
func parse(r io.Reader) (map[string]counts, error) {
	type block struct {
		pkg   string
		stmts int
		hit   bool
	}
	blocks := map[string]*block{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "mode:") || line == "" {
			continue
		}
		// file.go:12.2,14.3 2 1
		fields := strings.Fields(line)
		if len(fields) != 3 {
			return nil, fmt.Errorf("bad line %q", line)
		}
		colon := strings.LastIndex(fields[0], ":")
		if colon < 0 {
			return nil, fmt.Errorf("bad line %q", line)
		}
		stmts, err1 := strconv.Atoi(fields[1])
		count, err2 := strconv.Atoi(fields[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad line %q", line)
		}
		b := blocks[fields[0]]
		if b == nil {
			b = &block{pkg: path.Dir(fields[0][:colon]), stmts: stmts}
			blocks[fields[0]] = b
		}
		b.hit = b.hit || count > 0
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := map[string]counts{}
	for _, b := range blocks {
		c := out[b.pkg]
		c.total += b.stmts
		if b.hit {
			c.covered += b.stmts
		}
		out[b.pkg] = c
	}
	return out, nil
}
