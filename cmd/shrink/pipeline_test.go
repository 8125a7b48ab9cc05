package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPipelineBadInput(t *testing.T) {
	dir := t.TempDir()
	recipe := filepath.Join(dir, "r.json")
	os.WriteFile(recipe, []byte(`{"inputs": {"m": "x"}, "steps": [{"id": "a", "kind": "nosuch", "input": "m"}]}`), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"pipeline"}, "want RECIPE.json"},
		{[]string{"pipeline", filepath.Join(dir, "missing.json")}, "no such file"},
		{[]string{"pipeline", recipe, "--dry-run"}, `step "a" (nosuch): kind "nosuch" is not available`},
		{[]string{"pipeline", recipe, "--input", "m"}, `--input "m": want NAME=PATH`},
		{[]string{"pipeline", recipe, "--input", "z=y"}, `input "z": the recipe has no such input`},
	} {
		code, _, e := run(t, c.args...)
		if code != 2 || !strings.Contains(e, c.want) || strings.Count(e, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", c.args, code, e, c.want)
		}
	}
}
