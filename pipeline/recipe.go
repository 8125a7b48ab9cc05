package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Recipe is a parsed recipe file.
type Recipe struct {
	// Name names the chain in reports.
	Name string `json:"name"`
	// Note is free text for people (JSON has no comments).
	Note string `json:"note,omitempty"`
	// Inputs maps input names to paths (files or model folders), relative
	// to the recipe file unless absolute.
	Inputs map[string]string `json:"inputs"`
	// Steps run in order.
	Steps []Step `json:"steps"`
	// Ollama asks for a Modelfile beside the chain's final GGUF.
	Ollama bool `json:"ollama,omitempty"`
	// BaseModel and License go into the model card (OUT/README.md):
	// the Hugging Face Hub id of the original model (default: the path of
	// the first step's input) and its license id (omitted when empty).
	BaseModel string `json:"base_model,omitempty"`
	License   string `json:"license,omitempty"`

	// Path is the recipe file ("" when parsed from memory), and Dir the
	// folder relative paths resolve against.
	Path string `json:"-"`
	Dir  string `json:"-"`
}

// Step is one step of a recipe.
type Step struct {
	// ID names the step; later steps and "@id" options refer to it, and
	// its output file is OUT/ID plus the kind's extension.
	ID string `json:"id"`
	// Kind is convert, prune, distill, quantize, bench or gate.
	Kind string `json:"kind"`
	// Input is an input name or the id of an earlier step.
	Input string `json:"input"`
	// Options are the command's flags by name.
	Options json.RawMessage `json:"options,omitempty"`
	// Note is free text for people.
	Note string `json:"note,omitempty"`
}

// maxRecipeBytes bounds a recipe file: recipes are small.
const maxRecipeBytes = 1 << 20

// Load reads and checks the recipe file path against the default kinds.
func Load(path string) (*Recipe, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > maxRecipeBytes {
		return nil, fmt.Errorf("%s: recipe larger than 1 MiB", path)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	r, err := Parse(data, dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.Path = path
	return r, nil
}

// Parse decodes a recipe whose relative paths resolve against dir. Unknown
// keys are an error. The steps' options are checked when the recipe runs,
// against the kinds it runs with.
func Parse(data []byte, dir string) (*Recipe, error) {
	var r Recipe
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, jsonError(data, err)
	}
	if dec.More() {
		return nil, errors.New("recipe: data after the JSON object")
	}
	r.Dir = dir
	if err := r.checkNames(); err != nil {
		return nil, err
	}
	return &r, nil
}

// jsonError adds the line of a JSON syntax or type error.
func jsonError(data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return fmt.Errorf("recipe: %v", err)
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	return fmt.Errorf("recipe: line %d (offset %d): %v", line, off, err)
}

// checkNames checks that ids are unique and inputs refer to known names.
func (r *Recipe) checkNames() error {
	if len(r.Steps) == 0 {
		return errors.New("recipe: no steps")
	}
	known := map[string]bool{}
	for name := range r.Inputs {
		if !validName(name) {
			return fmt.Errorf("recipe: input name %q: use letters, digits, '-' and '_'", name)
		}
		known[name] = true
	}
	for i, s := range r.Steps {
		switch {
		case !validName(s.ID):
			return fmt.Errorf("recipe: step %d: id %q: use letters, digits, '-' and '_'", i+1, s.ID)
		case known[s.ID]:
			return fmt.Errorf("recipe: step %d: id %q is already an input or step name", i+1, s.ID)
		case s.Input == "":
			return fmt.Errorf("recipe: step %q: no input", s.ID)
		case !known[s.Input]:
			return fmt.Errorf("recipe: step %q: input %q is neither an input nor an earlier step (known: %s)", s.ID, s.Input, strings.Join(sortedKeys(known), ", "))
		}
		known[s.ID] = true
	}
	return nil
}

// validName reports whether s is a usable id: it becomes a file name, and
// the step's temporary files are ".ID.*".
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// resolve returns path made absolute against the recipe's folder.
func (r *Recipe) resolve(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(r.Dir, path)
}

// step returns the step called id.
func (r *Recipe) step(id string) (int, bool) {
	for i, s := range r.Steps {
		if s.ID == id {
			return i, true
		}
	}
	return -1, false
}
