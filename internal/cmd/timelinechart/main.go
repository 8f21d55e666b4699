// Command timelinechart renders one scenario's per-second timeline, as the
// chaos suite prints it, as an SVG chart: requests per second (200s and
// 503s stacked), p99 latency and dials per second.
//
//	REDISMW_CHAOS=1 go test -v -count=1 ./internal/testkit/chaos | tee docs/chaos.txt
//	go run ./internal/cmd/timelinechart -scenario kill-restart-x5/users=100 -o docs/chaos-kill-restart.svg docs/chaos.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/ankitoon/redismw/internal/cmd/chartio"
)

func main() {
	scenario := flag.String("scenario", "kill-restart-x5/users=100", "the scenario to draw")
	chartio.Main("timelinechart", func(in io.Reader) (string, error) {
		secs, err := parse(in, *scenario)
		if err != nil {
			return "", err
		}
		if len(secs) == 0 {
			return "", fmt.Errorf("no timeline lines for %q", *scenario)
		}
		return render(*scenario, secs), nil
	})
}

// sec is one second of the timeline.
type sec struct {
	t                         int
	requests, ok, unavailable int
	p99ms                     float64
	dials                     int
}

var field = regexp.MustCompile(`(\w+)=(\S+)`)

func parse(r io.Reader, scenario string) ([]sec, error) {
	var out []sec
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, "timeline "+scenario+" ")
		if i < 0 {
			continue
		}
		var s sec
		for _, m := range field.FindAllStringSubmatch(line[i:], -1) {
			v, _ := strconv.ParseFloat(m[2], 64)
			switch m[1] {
			case "t":
				s.t = int(v)
			case "requests":
				s.requests = int(v)
			case "ok":
				s.ok = int(v)
			case "unavailable":
				s.unavailable = int(v)
			case "p99ms":
				s.p99ms = v
			case "dials":
				s.dials = int(v)
			}
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func render(scenario string, secs []sec) string {
	const (
		width, left, right = 900, 70, 20
		panelH, gap, top   = 150, 40, 50
	)
	plotW := float64(width - left - right)
	colW := plotW / float64(len(secs))
	maxReq, maxP99, maxDials := 1.0, 1.0, 1.0
	for _, s := range secs {
		maxReq = max(maxReq, float64(s.requests))
		maxP99 = max(maxP99, s.p99ms)
		maxDials = max(maxDials, float64(s.dials))
	}
	height := top + 3*(panelH+gap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="15" font-weight="bold">Chaos timeline: %s (per second)</text>`+"\n", scenario)
	b.WriteString(`<text x="10" y="40" fill="#2ca02c">■ 200</text><text x="60" y="40" fill="#ff7f0e">■ 503 (fast, with Retry-After)</text>` + "\n")
	panel := func(i int, title string, maxV float64, draw func(x, base, scale float64, s sec)) {
		y0 := float64(top + i*(panelH+gap))
		base := y0 + panelH
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" font-weight="bold">%s</text>`+"\n", left, y0+12, title)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.0f" x2="%d" y2="%.0f" stroke="#333"/>`+"\n", left, base, width-right, base)
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%s</text>`+"\n", left-4, y0+24, strconv.FormatFloat(maxV, 'f', -1, 64))
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">0</text>`+"\n", left-4, base)
		scale := (panelH - 20) / maxV
		for j, s := range secs {
			draw(float64(left)+float64(j)*colW, base, scale, s)
		}
	}
	bar := func(x, base, h float64, fill string) float64 {
		if h > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x+1, base-h, colW-2, h, fill)
		}
		return base - h
	}
	panel(0, "requests per second", maxReq, func(x, base, scale float64, s sec) {
		top := bar(x, base, float64(s.ok)*scale, "#2ca02c")
		bar(x, top, float64(s.unavailable)*scale, "#ff7f0e")
	})
	panel(1, "p99 latency (ms)", maxP99, func(x, base, scale float64, s sec) {
		bar(x, base, s.p99ms*scale, "#1f77b4")
	})
	panel(2, "dials per second (connections the proxy accepted)", maxDials, func(x, base, scale float64, s sec) {
		bar(x, base, float64(s.dials)*scale, "#9467bd")
	})
	y := height - 8
	for j, s := range secs {
		if s.t%5 == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%ds</text>`+"\n", float64(left)+(float64(j)+0.5)*colW, y, s.t)
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}
