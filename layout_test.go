package redismw_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules holds the three kinds of internal/ apart: what the
// library runs in production (its public packages and internal/'s
// machinery) never imports test infrastructure (internal/testkit) or a
// program (internal/cmd), so that neither can reach an importer's binary.
func TestImportRules(t *testing.T) {
	const module = "github.com/ankitoon/redismw"
	library := []string{".", "./connector", "./breaker", "./telemetry", "./redismwtest",
		"./internal/circuit", "./internal/errkind", "./internal/instrument", "./internal/zero"}
	out, err := exec.Command("go", append([]string{"list", "-deps"}, library...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	var ours int
	for pkg := range strings.FieldsSeq(string(out)) {
		if !strings.HasPrefix(pkg, module) {
			continue
		}
		ours++
		for _, banned := range []string{module + "/internal/testkit", module + "/internal/cmd", module + "/examples"} {
			if pkg == banned || strings.HasPrefix(pkg, banned+"/") {
				t.Errorf("the library's non-test import graph reaches %s (%s is for tests and programs only)", pkg, banned)
			}
		}
	}
	if ours < len(library) {
		t.Fatalf("go list -deps named %d of the module's packages, want at least the %d asked for:\n%s", ours, len(library), out)
	}
}
