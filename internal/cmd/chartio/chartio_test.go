package chartio

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	out := filepath.Join(dir, "out.svg")
	if err := os.WriteFile(in, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	upper := func(r io.Reader) (string, error) {
		b, err := io.ReadAll(r)
		return "<svg>" + strings.ToUpper(string(b)) + "</svg>", err
	}
	if err := run(out, []string{in}, upper); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); string(got) != "<svg>DATA</svg>" {
		t.Errorf("wrote %q", got)
	}
	if err := run(out, []string{filepath.Join(dir, "missing")}, upper); err == nil {
		t.Error("a missing input was accepted")
	}
	boom := errors.New("boom")
	if err := run(out, []string{in}, func(io.Reader) (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Errorf("render error: %v", err)
	}
}
