package main

// The shipped Prometheus rules and Grafana dashboard (prometheus/) against
// the real example: every metric name and label they use must be in its
// /metrics, and what they increase() or divide must be there, at 0, before
// the first fault.

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ankitoon/redismw/internal/testkit/exampletest"
	"github.com/ankitoon/redismw/internal/testkit/faultproxy"
	"github.com/ankitoon/redismw/internal/testkit/redistest"
)

// shipped are the files of prometheus/ that name series.
var shipped = []string{"../../prometheus/redismw.rules.yml", "../../prometheus/redismw.dashboard.json"}

// sample is one line of a Prometheus text scrape.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseScrape reads the samples of a Prometheus text-format scrape.
func parseScrape(t *testing.T, text string) []sample {
	t.Helper()
	var out []sample
	for line := range strings.SplitSeq(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i > 0 {
			s.name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			rest = rest[1:]
			for !strings.HasPrefix(rest, "}") {
				eq := strings.Index(rest, `="`)
				if eq < 0 {
					t.Fatalf("bad scrape line %q", line)
				}
				key := strings.TrimPrefix(rest[:eq], ",")
				rest = rest[eq+2:]
				var val strings.Builder
				for i := 0; ; i++ {
					if rest[i] == '\\' {
						val.WriteByte(rest[i+1])
						i++
						continue
					}
					if rest[i] == '"' {
						rest = rest[i+1:]
						break
					}
					val.WriteByte(rest[i])
				}
				s.labels[key] = val.String()
				rest = strings.TrimPrefix(rest, ",")
			}
			rest = rest[1:]
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			t.Fatalf("bad value in %q: %v", line, err)
		}
		s.value = v
		out = append(out, s)
	}
	return out
}

// usedText is the text of the shipped files in which series are named:
// the rules file whole (expressions, annotations, comments), and every
// string of the dashboard (queries, variables, descriptions).
func usedText(t *testing.T) []string {
	t.Helper()
	var texts []string
	for _, path := range shipped {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Ext(path) != ".json" {
			texts = append(texts, string(b))
			continue
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var walk func(any)
		walk = func(v any) {
			switch v := v.(type) {
			case string:
				texts = append(texts, v)
			case []any:
				for _, e := range v {
					walk(e)
				}
			case map[string]any:
				for _, k := range slices.Sorted(maps.Keys(v)) {
					walk(v[k])
				}
			}
		}
		walk(doc)
	}
	return texts
}

var (
	// nameRE finds the package's series and label names: metric names of
	// redismw and of the semantic conventions, and labels spelled alike.
	nameRE = regexp.MustCompile(`\b(?:redismw|db_client)_[a-z0-9_]+\b`)
	// selectorRE finds a metric name with its label matchers.
	selectorRE = regexp.MustCompile(`\b((?:redismw|db_client)_[a-z0-9_]+)\{([^}]*)\}`)
	// matcherRE finds one label matcher.
	matcherRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	// groupingRE finds the labels of by, without, on, ignoring and
	// group_left/right clauses.
	groupingRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	// templateRE finds the labels an alert's annotations print.
	templateRE = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
)

// prometheusLabels are added by Prometheus at scrape time, or by
// histogram_quantile's input: not the example's to export.
var prometheusLabels = map[string]bool{"job": true, "instance": true, "le": true}

// TestShippedRulesMatchTheExample scrapes the real example — a real
// redis-server behind the fault proxy — before a fault, during a hang once
// the circuit is open, and after recovery, and checks the rules and
// dashboard against what it exports: every metric name and label they use
// exists; every value a matcher names exists; and every counter they
// increase() or divide (redismw's _total series) already exists, with the
// label values they name, before the first fault — at 0, so that the
// first trip of the process shows as an increase.
func TestShippedRulesMatchTheExample(t *testing.T) {
	srv := redistest.Start(t)
	proxy := faultproxy.New(t, srv.Addr)
	e := exampletest.Start(t, binary, []string{
		"REDIS_URL=" + proxy.URL() + "?read_timeout=300ms",
		"REDIS_ATTEMPT_TIMEOUT=300ms",
		"REDIS_BREAKER_TIMEOUT=1s",
		"REDIS_BREAKER_FAILURES=3",
	})
	for i := range 2 {
		if r := e.Get("/visits"); r.Code != http.StatusOK {
			t.Fatalf("/visits #%d before the fault: %d %s", i, r.Code, r.Body)
		}
	}
	before := parseScrape(t, e.Get("/metrics").Body)
	gauge := func(samples []sample, name string) float64 {
		for _, s := range samples {
			if s.name == name {
				return s.value
			}
		}
		t.Fatalf("/metrics lacks %s", name)
		return 0
	}
	if u := gauge(before, "redismw_unusable"); u != 0 {
		t.Errorf("redismw_unusable = %v before the fault, want 0", u)
	}

	if err := proxy.SetMode(faultproxy.Hang); err != nil {
		t.Fatal(err)
	}
	proxy.CutAll()
	start := time.Now()
	for {
		r := e.Get("/visits")
		if r.Code == http.StatusServiceUnavailable && r.Took < 100*time.Millisecond {
			break // the circuit answers: open
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("no fast 503 within 15s of the hang: %d after %v", r.Code, r.Took)
		}
	}
	during := parseScrape(t, e.Get("/metrics").Body)
	now := float64(time.Now().UnixNano()) / 1e9
	if u := gauge(during, "redismw_unusable"); u != 1 {
		t.Errorf("redismw_unusable = %v during the hang, want 1", u)
	}
	if s := gauge(during, "redismw_unusable_start_time_seconds"); s < float64(start.Add(-time.Second).Unix()) || s > now {
		t.Errorf("redismw_unusable_start_time_seconds = %v, want the hang's start (%v) or later, before now (%v)", s, start.Unix(), now)
	}
	if err := proxy.SetMode(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	for e.Get("/visits").Code != http.StatusOK {
		if time.Since(restored) > 15*time.Second {
			t.Fatal("/visits not 200 within 15s of the proxy's restoration")
		}
		time.Sleep(20 * time.Millisecond)
	}
	after := parseScrape(t, e.Get("/metrics").Body)
	if u := gauge(after, "redismw_unusable"); u != 0 {
		t.Errorf("redismw_unusable = %v after recovery, want 0", u)
	}
	e.Stop()

	all := slices.Concat(before, during, after)
	for _, s := range all {
		// Built through the workspace, Go calls the module's version
		// "(devel)"; the scope's version says "devel".
		if v, ok := s.labels["otel_scope_version"]; ok && strings.HasPrefix(s.name, "redismw_") && v != "devel" {
			t.Fatalf("%s has otel_scope_version %q, want devel for a workspace build", s.name, v)
		}
	}
	names, labels := map[string]bool{}, map[string]bool{}
	for _, s := range all {
		names[s.name] = true
		for k := range s.labels {
			labels[k] = true
		}
	}
	// has reports whether samples hold metric with label (any value when
	// value is nil).
	has := func(samples []sample, metric, label string, value *string) bool {
		for _, s := range samples {
			if s.name != metric {
				continue
			}
			if v, ok := s.labels[label]; ok && (value == nil || v == *value) {
				return true
			}
		}
		return false
	}
	checked := 0
	for _, text := range usedText(t) {
		for _, n := range nameRE.FindAllString(text, -1) {
			checked++
			if !names[n] && !labels[n] {
				t.Errorf("%s is used by prometheus/ but is neither a metric nor a label of the example's /metrics", n)
			}
		}
		for _, m := range selectorRE.FindAllStringSubmatch(text, -1) {
			metric := m[1]
			for _, mm := range matcherRE.FindAllStringSubmatch(m[2], -1) {
				label, op, value := mm[1], mm[2], mm[3]
				checked++
				switch {
				case prometheusLabels[label]:
				case op == "=" && !strings.Contains(value, "$"):
					if !has(all, metric, label, &value) {
						t.Errorf("%s{%s=%q}: no such series in the example's /metrics", metric, label, value)
					} else if strings.HasSuffix(metric, "_total") && strings.HasPrefix(metric, "redismw_") && !has(before, metric, label, &value) {
						t.Errorf("%s{%s=%q} is increased or divided by prometheus/ but is not there before the first fault", metric, label, value)
					}
				default:
					if !has(all, metric, label, nil) {
						t.Errorf("%s{%s%s%q}: %s has no label %s in the example's /metrics", metric, label, op, value, metric, label)
					}
				}
			}
		}
		for _, g := range groupingRE.FindAllStringSubmatch(text, -1) {
			for l := range strings.SplitSeq(g[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !prometheusLabels[l] {
					checked++
					if !labels[l] {
						t.Errorf("prometheus/ groups by %s, a label of no series in the example's /metrics", l)
					}
				}
			}
		}
		for _, l := range templateRE.FindAllStringSubmatch(text, -1) {
			if !prometheusLabels[l[1]] && !labels[l[1]] {
				t.Errorf("an annotation prints $labels.%s, a label of no series in the example's /metrics", l[1])
			}
		}
	}
	// Every redismw counter exists before the first fault.
	for n := range names {
		if strings.HasPrefix(n, "redismw_") && strings.HasSuffix(n, "_total") && !slices.ContainsFunc(before, func(s sample) bool { return s.name == n }) {
			t.Errorf("%s appeared only after the fault: an increase() misses its first events", n)
		}
	}
	if checked < 100 {
		t.Errorf("only %d names and labels checked: the extraction from prometheus/ is broken", checked)
	}
	t.Logf("%d uses of names and labels in prometheus/ checked against %d samples", checked, len(all))
}

// TestShippedQueriesParse: every query of the dashboard is valid PromQL
// (promtool check rules, with Grafana's variables filled in), as the rules
// file is; promtool comes with Debian's prometheus package, which .ci/run
// installs.
func TestShippedQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("REDISMW_REQUIRE_PROMTOOL") == "1" {
			t.Fatal("promtool not on PATH, and REDISMW_REQUIRE_PROMTOOL=1")
		}
		t.Skip("promtool not on PATH (apt-get install prometheus)")
	}
	b, err := os.ReadFile("../../prometheus/redismw.dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("$__rate_interval", "1m", "$job", ".*", "$pool", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			n++
			q, _ := json.Marshal(fill.Replace(tg.Expr)) // a JSON string is a YAML string
			fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", n, q)
		}
	}
	if n < 20 {
		t.Fatalf("only %d dashboard queries found", n)
	}
	path := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, "../../prometheus/redismw.rules.yml"} {
		if out, err := exec.CommandContext(t.Context(), promtool, "check", "rules", f).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules %s: %v\n%s", f, err, out)
		}
	}
}
