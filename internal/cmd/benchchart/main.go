// Command benchchart renders the thundering-herd and outage figures of a
// `go test -bench` run as an SVG chart:
//
//	go test -run='^$' -bench='ThunderingHerd|Outage' -benchtime=5x ./ | tee bench.txt
//	go run ./internal/cmd/benchchart -o docs/bench.svg bench.txt
//
// Bars are p99 latencies on a logarithmic scale; each bar is labelled with
// its value and dials per op. With several runs of one benchmark (-count),
// the median is drawn.
package main

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ankitoon/redismw/internal/cmd/chartio"
)

func main() {
	chartio.Main("benchchart", func(in io.Reader) (string, error) {
		results, err := parse(in)
		if err != nil {
			return "", err
		}
		return render(results), nil
	})
}

// result is one benchmark's metrics, by unit, each the median of its runs.
type result map[string]float64

var line = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parse reads benchmark output and returns, by benchmark name (without
// "Benchmark" and the -GOMAXPROCS suffix), the median of every metric.
func parse(r io.Reader) (map[string]result, error) {
	runs := map[string]map[string][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		fields := strings.Fields(m[2])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			if runs[m[1]] == nil {
				runs[m[1]] = map[string][]float64{}
			}
			runs[m[1]][fields[i+1]] = append(runs[m[1]][fields[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := map[string]result{}
	for name, metrics := range runs {
		out[name] = result{}
		for unit, vs := range metrics {
			slices.Sort(vs)
			out[name][unit] = vs[len(vs)/2]
		}
	}
	return out, nil
}

// bar is one row of a panel.
type bar struct {
	label string
	value float64 // ms
	note  string
	ours  bool
}

// panel is a titled group of bars.
type panel struct {
	title string
	bars  []bar
}

func panels(results map[string]result) []panel {
	var ps []panel
	for _, callers := range []string{"100", "1000", "10000"} {
		p := panel{title: "Cold start, " + callers + " callers, 20 ms per new connection: p99 until client + PING (ms)"}
		for _, s := range []string{"connector", "shared", "floor", "mutex", "once", "poll", "per-request"} {
			r, ok := results["ThunderingHerd/strategy="+s+"/callers="+callers]
			if !ok {
				continue
			}
			p.bars = append(p.bars, bar{s, r["p99-ms"], fmt.Sprintf("%s dials", trim(r["dials/op"])), s == "connector"})
		}
		if len(p.bars) > 0 {
			ps = append(ps, p)
		}
	}
	p := panel{title: "Outage, one request after the fault (connector: circuit open): p99 (ms)"}
	for _, f := range []string{"hang", "refused", "reset"} {
		for _, s := range []string{"connector", "shared"} {
			r, ok := results["Outage/fault="+f+"/strategy="+s]
			if !ok {
				continue
			}
			p.bars = append(p.bars, bar{f + " · " + s, r["p99-ms"], fmt.Sprintf("%s dials/request", trim(r["dials/op"])), s == "connector"})
		}
	}
	if len(p.bars) > 0 {
		ps = append(ps, p)
	}
	return ps
}

func trim(v float64) string {
	return strconv.FormatFloat(v, 'g', 4, 64)
}

const (
	width   = 860
	labelW  = 170
	barMax  = 470
	rowH    = 20
	titleH  = 28
	panelGp = 14
	minMS   = 0.0001 // 0.1 µs: the left edge of the log scale
	maxMS   = 100000 // 100 s
)

// x maps a value in ms to a bar length on the log scale.
func x(ms float64) float64 {
	ms = math.Min(math.Max(ms, minMS), maxMS)
	return barMax * (math.Log10(ms) - math.Log10(minMS)) / (math.Log10(maxMS) - math.Log10(minMS))
}

func render(results map[string]result) string {
	ps := panels(results)
	height := 40
	for _, p := range ps {
		height += titleH + rowH*len(p.bars) + panelGp
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="15" font-weight="bold">redismw benchmarks (log scale; shorter is better)</text>`+"\n")
	y := 40
	for _, p := range ps {
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", y+18, html.EscapeString(p.title))
		y += titleH
		for _, br := range p.bars {
			fill := "#9aa5b1"
			if br.ours {
				fill = "#1f77b4"
			}
			w := math.Max(x(br.value), 1)
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-6, y+14, html.EscapeString(br.label))
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", labelW, y+3, w, rowH-6, fill)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s ms · %s</text>`+"\n", float64(labelW)+w+6, y+14, trim(br.value), html.EscapeString(br.note))
			y += rowH
		}
		y += panelGp
	}
	b.WriteString("</svg>\n")
	return b.String()
}
