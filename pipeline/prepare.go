package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// prepared is a step checked and resolved before anything runs.
type prepared struct {
	Step
	kind Kind
	// record is the options as decoded, paths as written: what the
	// manifest records and compares.
	record json.RawMessage
	// opts is the options value with paths resolved, for Run.
	opts any
	// input is the resolved path of the step's input.
	input string
	// refs are the files the step reads, the input first.
	refs []ref
	// upstream are the steps whose outputs the step reads.
	upstream []string
	// output is the output's path, outName its name in the output folder.
	output, outName string
	// scratch are the files the step's scratch options name in the
	// output folder.
	scratch []string
}

// ref is one file a step reads.
type ref struct{ role, path string }

// planner resolves names while walking the steps in order.
type planner struct {
	r      *Recipe
	outDir string
	kinds  map[string]Kind
	paths  map[string]string // input or step name -> path
	makes  map[string]string // step id -> what it produces
}

// prepare checks every step of r and resolves its input, options and
// output, before any step runs.
func prepare(r *Recipe, outDir string, opt RunOptions) ([]*prepared, error) {
	p := &planner{r: r, outDir: outDir, kinds: opt.Kinds, paths: map[string]string{}, makes: map[string]string{}}
	if p.kinds == nil {
		p.kinds = Kinds()
	}
	for name, path := range r.Inputs {
		p.paths[name] = r.resolve(path)
	}
	for name, path := range opt.Inputs {
		if _, ok := r.Inputs[name]; !ok {
			return nil, r.errorf("input %q: the recipe has no such input (it has: %s)", name, strings.Join(sortedKeys(r.Inputs), ", "))
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		p.paths[name] = abs
	}
	var out []*prepared
	for _, s := range r.Steps {
		ps, err := p.step(s)
		if err != nil {
			return nil, r.errorf("step %q (%s): %w", s.ID, s.Kind, err)
		}
		out = append(out, ps)
		p.paths[s.ID] = ps.output
		p.makes[s.ID] = ps.kind.Produces
	}
	return out, nil
}

// step prepares one step.
func (p *planner) step(s Step) (*prepared, error) {
	k, ok := p.kinds[s.Kind]
	if !ok {
		return nil, fmt.Errorf("kind %q is not available (available: %s)", s.Kind, strings.Join(sortedKeys(p.kinds), ", "))
	}
	if made, ok := p.makes[s.Input]; ok && made != k.Accepts {
		return nil, fmt.Errorf("input %q is a %s; a %s step reads a %s", s.Input, made, s.Kind, k.Accepts)
	}
	ps := &prepared{Step: s, kind: k, input: p.paths[s.Input]}
	ps.outName = s.ID + k.Ext
	ps.output = filepath.Join(p.outDir, ps.outName)
	ps.addRef("input", s.Input, ps.input, p)
	if err := p.options(ps); err != nil {
		return nil, err
	}
	return ps, nil
}

// addRef records that ps reads path (named name in the recipe, or "").
func (ps *prepared) addRef(role, name, path string, p *planner) {
	ps.refs = append(ps.refs, ref{role, path})
	if _, isStep := p.makes[name]; isStep && !slices.Contains(ps.upstream, name) {
		ps.upstream = append(ps.upstream, name)
	}
}

// options decodes the step's options twice: as written (the record) and
// with paths resolved (what runs).
func (p *planner) options(ps *prepared) error {
	raw := ps.Options
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = json.RawMessage("{}")
	}
	rec := ps.kind.Options()
	if err := decodeStrict(raw, rec); err != nil {
		return fmt.Errorf("options: %v", err)
	}
	var err error
	if ps.record, err = json.Marshal(rec); err != nil {
		return err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("options: %v", err)
	}
	for _, key := range sortedKeys(m) {
		if s, ok := m[key].(string); ok && s != "" && slices.Contains(ps.kind.Scratch, key) && !filepath.IsAbs(s) {
			m[key] = filepath.Join(p.outDir, s)
			ps.scratch = append(ps.scratch, m[key].(string))
			continue
		}
		isPath := slices.Contains(ps.kind.Paths, key)
		v, err := p.resolveValue(ps, key, m[key], isPath)
		if err != nil {
			return fmt.Errorf("option %q: %w", key, err)
		}
		m[key] = v
	}
	resolved, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ps.opts = ps.kind.Options()
	if err := decodeStrict(resolved, ps.opts); err != nil {
		return err
	}
	if ps.kind.Check != nil {
		return ps.kind.Check(ps.opts)
	}
	return nil
}

// resolveValue resolves a string or list-of-strings option value: "@name"
// references, and relative paths of path options.
func (p *planner) resolveValue(ps *prepared, key string, v any, isPath bool) (any, error) {
	switch v := v.(type) {
	case string:
		return p.resolveString(ps, key, v, isPath)
	case []any:
		for i, e := range v {
			if s, ok := e.(string); ok {
				r, err := p.resolveString(ps, key, s, isPath)
				if err != nil {
					return nil, err
				}
				v[i] = r
			}
		}
	}
	return v, nil
}

// resolveString resolves one string option value.
func (p *planner) resolveString(ps *prepared, key, s string, isPath bool) (string, error) {
	if name, ok := strings.CutPrefix(s, "@"); ok {
		path, known := p.paths[name]
		switch {
		case known:
			ps.addRef(key, name, path, p)
			return path, nil
		case isPath:
			return "", fmt.Errorf("%q names neither an input nor an earlier step (known: %s)", s, strings.Join(sortedKeys(p.paths), ", "))
		}
		return s, nil
	}
	if !isPath || s == "" {
		return s, nil
	}
	path := p.r.resolve(s)
	ps.addRef(key, "", path, p)
	return path, nil
}

// decodeStrict decodes data into v, rejecting unknown fields.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	return nil
}

// errorf returns an error about the recipe, naming its file when known.
func (r *Recipe) errorf(format string, a ...any) error {
	err := fmt.Errorf(format, a...)
	if r.Path != "" {
		return fmt.Errorf("%s: %w", r.Path, err)
	}
	return err
}
