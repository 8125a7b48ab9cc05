package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/internal/testutil"
)

// TestCIRecipes checks that every shrink command line of docs/ci names a
// command and only flags it declares. A command line runs from "shrink CMD"
// to the end of its line and the lines continuing it (a trailing "\" or,
// in YAML, more indentation).
func TestCIRecipes(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testutil.RepoRoot(t), "docs", "ci", "*.yml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("docs/ci: %v %v", files, err)
	}
	byName := map[string]*command{}
	for _, c := range commands {
		byName[c.name] = c
	}
	start := regexp.MustCompile(`(?:^|[\s/])shrink (\w+)`)
	flagRe := regexp.MustCompile(`(?:^|\s)--([a-z0-9-]+)`)
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		for i, line := range lines {
			m := start.FindStringSubmatchIndex(line)
			if m == nil || strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			name := line[m[2]:m[3]]
			c := byName[name]
			if c == nil {
				t.Errorf("%s:%d: no command %q", filepath.Base(f), i+1, name)
				continue
			}
			fs := newFlagSet(c)
			text := line[m[1]:]
			indent := len(line) - len(strings.TrimLeft(line, " "))
			for j := i + 1; j < len(lines); j++ {
				prev := strings.TrimRight(lines[j-1], " ")
				ind := len(lines[j]) - len(strings.TrimLeft(lines[j], " "))
				trimmed := strings.TrimSpace(lines[j])
				if !strings.HasSuffix(prev, "\\") && (ind <= indent || strings.HasPrefix(trimmed, "- ")) || trimmed == "" {
					break
				}
				text += " " + lines[j]
			}
			for _, fm := range flagRe.FindAllStringSubmatch(text, -1) {
				if fs.Lookup(fm[1]) == nil && fm[1] != "help" {
					t.Errorf("%s:%d: shrink %s has no flag --%s", filepath.Base(f), i+1, name, fm[1])
				}
			}
			n++
		}
	}
	if n < 8 {
		t.Errorf("%d shrink command lines found, want at least 8", n)
	}
}
