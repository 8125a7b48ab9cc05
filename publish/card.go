// Package publish writes what people publish a shrunk model with: a model
// card (the README.md of a Hugging Face Hub repository) that states where
// the model comes from, how it was made (the recipe), what it measures
// before and after (bench reports) and which release checks it passed
// (gate results).
//
// The card's YAML front matter is the Hub's model card metadata (license,
// base_model, base_model_relation, tags, quantized_by). It is written by
// hand rather than with a YAML library: every value is either a plain
// token or a JSON string, which YAML reads as a double-quoted scalar, so
// no dependency is needed.
package publish

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/shrink-llm/shrink/bench"
)

// CardInfo is what a model card says.
type CardInfo struct {
	// Name is the model's name, the card's title.
	Name string
	// Description is an optional paragraph under the title (Markdown).
	Description string
	// BaseModel is the Hub id (or path) of the model it was made from.
	BaseModel string
	// BaseModelRelation is the Hub's relation to the base model:
	// quantized, finetune, adapter or merge; empty omits it.
	BaseModelRelation string
	// License is the license id (the Hub's, e.g. apache-2.0); empty when
	// unknown, and then omitted.
	License string
	// QuantizedBy names who made it; empty omits it.
	QuantizedBy string
	// Tags are added to the gguf and shrink tags.
	Tags []string
	// Files are the published files, the first GGUF one used in the usage
	// lines.
	Files []CardFile
	// Modelfile says an Ollama Modelfile is published beside the GGUF.
	Modelfile bool
	// Stages are the bench reports of the chain, in order: the original
	// first, then the model after each step.
	Stages []Stage
	// Checks are the gate's checks of the final model.
	Checks []bench.Check
	// Recipe is the recipe that made the model, shown as it is, in
	// RecipeFormat (default json).
	Recipe       string
	RecipeFormat string
	// ToolVersion is the shrink version that made it (default: the first
	// report's).
	ToolVersion string
}

// CardFile is one published file.
type CardFile struct {
	Name  string // file name in the repository
	Bytes int64  // size
}

// Stage is one row of the metrics table: a label and its bench report.
type Stage struct {
	Label  string // e.g. "original", "pruned", "q4_k_m" (default: the model's file name)
	Report *bench.Report
}

// ModelCard writes the model card of info to w as Markdown with YAML front
// matter.
func ModelCard(w io.Writer, info CardInfo) error {
	var b strings.Builder
	writeFrontMatter(&b, &info)
	fmt.Fprintf(&b, "# %s\n\n", oneLine(info.Name))
	if d := strings.TrimSpace(info.Description); d != "" {
		fmt.Fprintf(&b, "%s\n\n", d)
	}
	writeIntro(&b, &info)
	writeFiles(&b, &info)
	writeMetrics(&b, info.Stages)
	writeTasks(&b, info.Stages)
	writeChecks(&b, info.Checks)
	if r := strings.TrimSpace(info.Recipe); r != "" {
		lang := info.RecipeFormat
		if lang == "" {
			lang = "json"
		}
		fmt.Fprintf(&b, "## Recipe\n\n```%s\n%s\n```\n", lang, r)
	}
	_, err := io.WriteString(w, strings.TrimRight(b.String(), "\n")+"\n")
	return err
}

// writeFrontMatter writes the Hub metadata block.
func writeFrontMatter(b *strings.Builder, info *CardInfo) {
	b.WriteString("---\n")
	field := func(key, v string) {
		if v != "" {
			fmt.Fprintf(b, "%s: %s\n", key, yamlScalar(v))
		}
	}
	field("license", info.License)
	field("base_model", info.BaseModel)
	field("base_model_relation", info.BaseModelRelation)
	b.WriteString("tags:\n")
	tags := []string{"gguf", "shrink"}
	for _, t := range info.Tags {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	for _, t := range tags {
		fmt.Fprintf(b, "- %s\n", yamlScalar(t))
	}
	field("quantized_by", info.QuantizedBy)
	b.WriteString("---\n\n")
}

// plainYAML matches values YAML reads as the same plain string: no
// indicator characters, no leading sign or digit (numbers, dates), no
// spaces.
var plainYAML = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._/-]*$`)

// yamlScalar returns v as a YAML scalar: plain when unambiguous, else a
// JSON string (a valid YAML double-quoted scalar).
func yamlScalar(v string) string {
	switch strings.ToLower(v) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf":
	default:
		if plainYAML.MatchString(v) {
			return v
		}
	}
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a string always encodes
	return strings.TrimSuffix(sb.String(), "\n")
}

// writeIntro says where the model comes from and what made it.
func writeIntro(b *strings.Builder, info *CardInfo) {
	version := info.ToolVersion
	if version == "" {
		for _, s := range info.Stages {
			if s.Report != nil && s.Report.Tool != nil {
				version = s.Report.Tool.Version
				break
			}
		}
	}
	made := "Made with [shrink](https://github.com/shrink-llm/shrink)"
	if version != "" {
		made += " " + version
	}
	if info.BaseModel != "" {
		made += " from `" + info.BaseModel + "`"
	}
	b.WriteString(made + ".")
	if info.Recipe != "" {
		b.WriteString(" The recipe below reproduces it.")
	}
	b.WriteString("\n\n")
}

// writeFiles lists the files and how to run the model.
func writeFiles(b *strings.Builder, info *CardInfo) {
	if len(info.Files) == 0 {
		return
	}
	b.WriteString("## Files\n\n| File | Size |\n|---|---:|\n")
	gguf := ""
	for _, f := range info.Files {
		fmt.Fprintf(b, "| %s | %s |\n", cell(f.Name), bench.HumanBytes(f.Bytes))
		if gguf == "" && strings.HasSuffix(strings.ToLower(f.Name), ".gguf") {
			gguf = f.Name
		}
	}
	b.WriteString("\n")
	if gguf == "" {
		return
	}
	fmt.Fprintf(b, "## Usage\n\nWith llama.cpp:\n\n```sh\nllama-cli -m %s -p \"Hello\"\n```\n\n", shellWord(gguf))
	if info.Modelfile {
		name := strings.ToLower(strings.TrimSuffix(filepath.Base(gguf), filepath.Ext(gguf)))
		fmt.Fprintf(b, "With Ollama (the Modelfile is in this repository):\n\n```sh\nollama create %s -f Modelfile\nollama run %s\n```\n\n", shellWord(name), shellWord(name))
	}
}

// writeMetrics writes the table of size and quality after each stage.
func writeMetrics(b *strings.Builder, stages []Stage) {
	if len(stages) == 0 {
		return
	}
	b.WriteString("## Metrics\n\n")
	if t := textOf(stages); t != nil {
		fmt.Fprintf(b, "Measured with `shrink bench`: perplexity on `%s` (%d tokens)", filepath.Base(t.Path), t.Tokens)
		if base := baselineOf(stages); base != "" {
			fmt.Fprintf(b, ", KL divergence and top-1 agreement against `%s`", filepath.Base(base))
		}
		b.WriteString(".\n\n")
	}
	b.WriteString("| Model | Size | Bits/weight | Perplexity | KLD | Top-1 | Decode tok/s |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range stages {
		r := s.Report
		if r == nil {
			continue
		}
		size, bpw := "-", "-"
		if r.Model != nil {
			size, bpw = bench.HumanBytes(r.Model.FileBytes), fmt.Sprintf("%.2f", r.Model.BitsPerWeight)
		}
		ppl, kld, top1, tps := "-", "-", "-", "-"
		if r.Perplexity != nil {
			ppl = fmt.Sprintf("%.4f ± %.4f", r.Perplexity.Value, r.Perplexity.Stderr)
		}
		if r.KLD != nil {
			kld = fmt.Sprintf("%.5f", r.KLD.Mean)
		}
		if r.Top1Agreement != nil {
			top1 = fmt.Sprintf("%.2f%%", 100**r.Top1Agreement)
		}
		if r.Speed != nil {
			tps = fmt.Sprintf("%.1f", r.Speed.DecodeTokensPerS)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", cell(label(s)), size, bpw, ppl, kld, top1, tps)
	}
	b.WriteString("\n")
}

// writeTasks writes each task's accuracy after each stage, when any
// report scored tasks.
func writeTasks(b *strings.Builder, stages []Stage) {
	var names []string
	for _, s := range stages {
		if s.Report == nil {
			continue
		}
		for _, t := range s.Report.Tasks {
			if !slices.Contains(names, t.Name) {
				names = append(names, t.Name)
			}
		}
	}
	if len(names) == 0 {
		return
	}
	b.WriteString("### Task accuracy\n\n| Task |")
	for _, s := range stages {
		fmt.Fprintf(b, " %s |", cell(label(s)))
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(stages)) + "\n")
	for _, name := range names {
		fmt.Fprintf(b, "| %s |", cell(name))
		for _, s := range stages {
			acc := "-"
			if s.Report != nil {
				for _, t := range s.Report.Tasks {
					if t.Name == name {
						acc = fmt.Sprintf("%.2f%% (n=%d)", 100*t.Accuracy, t.N)
					}
				}
			}
			fmt.Fprintf(b, " %s |", acc)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// writeChecks writes the gate's checks and verdict.
func writeChecks(b *strings.Builder, checks []bench.Check) {
	if len(checks) == 0 {
		return
	}
	b.WriteString("## Release checks\n\nChecked with `shrink gate`:\n\n| Check | Limit | Value | Result |\n|---|---:|---:|---|\n")
	for _, c := range checks {
		limit, value := fmt.Sprintf("%s %.4g", c.Op, c.Threshold), fmt.Sprintf("%.4g", c.Value)
		switch {
		case c.Metric == "failure":
			limit, value = "-", c.Failure
		case c.Missing:
			value = "missing"
		}
		result := "pass"
		if !c.Pass {
			result = "**FAIL**"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", cell(checkName(c)), limit, cell(value), result)
	}
	failed := bench.Failed(checks)
	switch {
	case failed == 0 && len(checks) == 1:
		b.WriteString("\nThe check passed.\n\n")
	case failed == 0:
		fmt.Fprintf(b, "\nAll %d checks passed.\n\n", len(checks))
	default:
		fmt.Fprintf(b, "\n%d of %d checks failed.\n\n", failed, len(checks))
	}
}

// checkName names a check by its metric, marking comparisons with an
// older release.
func checkName(c bench.Check) string {
	switch {
	case c.Metric == "failure":
		return "no recorded failure"
	case c.Relative:
		return c.Metric + " (vs. previous release)"
	}
	return c.Metric
}

// label returns the stage's label, or its model's file name.
func label(s Stage) string {
	if s.Label != "" {
		return s.Label
	}
	if s.Report != nil {
		return s.Report.Name()
	}
	return "-"
}

// textOf returns the evaluation text of the first report that has one.
func textOf(stages []Stage) *bench.TextInfo {
	for _, s := range stages {
		if s.Report != nil && s.Report.Text != nil {
			return s.Report.Text
		}
	}
	return nil
}

// baselineOf returns the baseline of the first report compared with one.
func baselineOf(stages []Stage) string {
	for _, s := range stages {
		if s.Report != nil && s.Report.Baseline != nil && s.Report.Baseline.Path != "" {
			return s.Report.Baseline.Path
		}
	}
	return ""
}

// cell escapes a table cell's text.
func cell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

// oneLine joins the lines of s with spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// safeShell matches words a POSIX shell reads as they are.
var safeShell = regexp.MustCompile(`^[A-Za-z0-9._/:=-]+$`)

// shellWord quotes s for a POSIX shell when it holds anything but safe
// characters.
func shellWord(s string) string {
	if safeShell.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
