package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shrink-llm/shrink"
	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/publish"
)

// CardName is the model card a successful run writes in the output
// folder: the README.md of a Hugging Face Hub repository holding the
// chain's final model (package publish).
const CardName = "README.md"

// writeCard writes OUT/README.md from the run: the recipe, the bench
// report of every bench step in chain order, the last gate's checks, and
// the final model (with its Modelfile, when one was written).
func (x *runner) writeCard(r *Recipe) error {
	info := publish.CardInfo{
		Name:        r.Name,
		Description: r.Note,
		BaseModel:   baseModel(r, x.steps),
		License:     r.License,
		ToolVersion: shrink.Version,
		Modelfile:   x.m.Modelfile != "",
	}
	switch {
	case lastKind(x.steps, "prune") != nil || lastKind(x.steps, "distill") != nil:
		info.BaseModelRelation = "finetune"
	case lastKind(x.steps, "quantize") != nil:
		info.BaseModelRelation = "quantized"
	}
	for _, ps := range x.steps {
		if rep := x.reports[ps.ID]; rep != nil {
			info.Stages = append(info.Stages, publish.Stage{Label: strings.TrimPrefix(ps.Input, "@"), Report: rep})
		}
		if checks, ok := x.checks[ps.ID]; ok {
			info.Checks = checks
		} else if ps.Kind == "gate" {
			checks, err := readChecks(ps.output)
			if err != nil {
				return err
			}
			info.Checks = checks
		}
	}
	for _, name := range []string{x.m.Final, x.m.Modelfile} {
		if name == "" {
			continue
		}
		st, err := os.Stat(filepath.Join(x.outDir, name))
		if err != nil {
			return err
		}
		info.Files = append(info.Files, publish.CardFile{Name: name, Bytes: st.Size()})
	}
	if r.Path != "" {
		data, err := os.ReadFile(r.Path)
		if err != nil {
			return err
		}
		info.Recipe = strings.TrimSpace(string(data))
	}
	var buf bytes.Buffer
	if err := publish.ModelCard(&buf, info); err != nil {
		return fmt.Errorf("model card: %w", err)
	}
	return format.WriteFileAtomic(filepath.Join(x.outDir, CardName), buf.Bytes())
}

// readChecks reads the checks of a gate step's output (shrink.GateResult),
// for a gate this run skipped.
func readChecks(path string) ([]bench.Check, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res shrink.GateResult
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return res.Checks, nil
}

// baseModel names the chain's original model: the recipe's base_model, or
// else the recipe input the first step reads (as the recipe wrote it).
func baseModel(r *Recipe, steps []*prepared) string {
	if r.BaseModel != "" {
		return r.BaseModel
	}
	if len(steps) == 0 {
		return ""
	}
	in := strings.TrimPrefix(steps[0].Input, "@")
	if p, ok := r.Inputs[in]; ok {
		return p
	}
	return in
}

// lastKind returns the last step of the kind, or nil.
func lastKind(steps []*prepared, kind string) *prepared {
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].Kind == kind {
			return steps[i]
		}
	}
	return nil
}
