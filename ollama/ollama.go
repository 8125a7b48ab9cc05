// Package ollama writes Ollama Modelfiles for GGUF files, so that
// "ollama create NAME -f Modelfile" turns a shrunk model into a runnable
// Ollama model.
//
// A Modelfile names the weights (FROM ./file.gguf), the prompt format
// (TEMPLATE, a Go text/template over .System, .Prompt and .Response) and the
// stop sequences (PARAMETER stop). The template is translated from the GGUF's
// tokenizer.chat_template (Jinja) when it belongs to a recognised family,
// found by markers only that family's templates contain; Jinja itself is not
// interpreted. An unrecognised or missing template leaves TEMPLATE out, with
// a comment saying so: Ollama then uses the prompt as is.
package ollama

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
)

// Modelfile is the content of an Ollama Modelfile.
type Modelfile struct {
	// From is the weights' path, relative to the Modelfile.
	From string
	// Family is the recognised chat template family ("" when none).
	Family string
	// Template is the Ollama template ("" when the family is unknown).
	Template string
	// Stop are the stop sequences: the texts of the end-of-generation
	// tokens.
	Stop []string
	// Notes are comment lines, such as why TEMPLATE is missing.
	Notes []string
}

// family is one recognised chat template family.
type family struct {
	name string
	// match reports whether a chat template belongs to the family.
	match func(t string) bool
	// template is the Ollama template.
	template string
	// stops are the family's turn markers, used as stop sequences when
	// the vocabulary holds them.
	stops []string
}

// has reports whether t contains every marker.
func has(t string, markers ...string) bool {
	for _, m := range markers {
		if !strings.Contains(t, m) {
			return false
		}
	}
	return true
}

// families are tried in order: the first match wins.
var families = []family{
	{"llama-3", func(t string) bool { return has(t, "<|start_header_id|>", "<|end_header_id|>") },
		"{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}" +
			"{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}" +
			"<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>",
		[]string{"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}},
	{"chatml", func(t string) bool { return has(t, "<|im_start|>", "<|im_end|>") && !has(t, "<|im_sep|>") },
		"{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}" +
			"{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}" +
			"<|im_start|>assistant\n{{ .Response }}<|im_end|>\n",
		[]string{"<|im_start|>", "<|im_end|>"}},
	{"gemma", func(t string) bool { return has(t, "<start_of_turn>", "<end_of_turn>") },
		"<start_of_turn>user\n{{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}<end_of_turn>\n" +
			"<start_of_turn>model\n{{ .Response }}<end_of_turn>\n",
		[]string{"<start_of_turn>", "<end_of_turn>"}},
	{"phi-3", func(t string) bool { return has(t, "<|user|>", "<|assistant|>", "<|end|>") },
		"{{ if .System }}<|system|>\n{{ .System }}<|end|>\n{{ end }}" +
			"{{ if .Prompt }}<|user|>\n{{ .Prompt }}<|end|>\n{{ end }}" +
			"<|assistant|>\n{{ .Response }}<|end|>\n",
		[]string{"<|end|>", "<|user|>", "<|assistant|>"}},
	{"deepseek-3", func(t string) bool { return has(t, "<｜User｜>", "<｜Assistant｜>") },
		"{{ if .System }}{{ .System }}{{ end }}<｜User｜>{{ .Prompt }}<｜Assistant｜>{{ .Response }}<｜end▁of▁sentence｜>",
		[]string{"<｜User｜>", "<｜Assistant｜>", "<｜end▁of▁sentence｜>"}},
	{"deepseek-coder", func(t string) bool { return has(t, "### Instruction:", "### Response:", "<|EOT|>") },
		"{{ if .System }}{{ .System }}\n{{ end }}### Instruction:\n{{ .Prompt }}\n### Response:\n{{ .Response }}\n<|EOT|>\n",
		[]string{"<|EOT|>"}},
	{"deepseek-2", func(t string) bool { return has(t, "'User: '", "'Assistant: '") },
		"{{ if .System }}{{ .System }}\n\n{{ end }}User: {{ .Prompt }}\n\nAssistant: {{ .Response }}",
		[]string{"User:", "Assistant:"}},
	{"llama-2", func(t string) bool { return has(t, "[INST]", "<<SYS>>") },
		"[INST] {{ if .System }}<<SYS>>\n{{ .System }}\n<</SYS>>\n\n{{ end }}{{ .Prompt }} [/INST] {{ .Response }}",
		[]string{"[INST]", "[/INST]", "<<SYS>>", "<</SYS>>"}},
	{"mistral", func(t string) bool { return has(t, "[INST]", "[/INST]") },
		"[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }} [/INST]{{ .Response }}",
		[]string{"[INST]", "[/INST]"}},
}

// Detect returns the family of a Jinja chat template, or "".
func Detect(chatTemplate string) string {
	for _, f := range families {
		if f.match(chatTemplate) {
			return f.name
		}
	}
	return ""
}

// FromMetadata builds the Modelfile of a GGUF file's metadata; from is the
// weights' path relative to the Modelfile.
func FromMetadata(md *gguf.Metadata, from string) *Modelfile {
	m := &Modelfile{From: from}
	tokens := tokenTexts(md)
	tmpl, ok := md.String("tokenizer.chat_template")
	var fam *family
	switch {
	case !ok || tmpl == "":
		m.Notes = append(m.Notes, "no TEMPLATE: the GGUF has no tokenizer.chat_template (a base model); prompts are used as they are")
	default:
		for i := range families {
			if families[i].match(tmpl) {
				fam = &families[i]
				break
			}
		}
		if fam == nil {
			m.Notes = append(m.Notes, "no TEMPLATE: tokenizer.chat_template is of no recognised family (llama-2, llama-3, chatml/qwen, mistral, deepseek, phi-3, gemma); write one by hand")
		}
	}
	for _, key := range []string{"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"} {
		if id, ok := md.Uint32(key); ok && int(id) < len(tokens) {
			m.addStop(tokens[id])
		}
	}
	if fam != nil {
		m.Family, m.Template = fam.name, fam.template
		for _, s := range fam.stops {
			if slices.Contains(tokens, s) || !isSpecial(s) {
				m.addStop(s)
			}
		}
	}
	return m
}

// isSpecial reports whether s looks like a special token (<...> or [...]),
// which is a stop only when the vocabulary holds it.
func isSpecial(s string) bool {
	return strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") || strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]")
}

// addStop adds a stop sequence once; empty texts are not stops.
func (m *Modelfile) addStop(s string) {
	if s != "" && !slices.Contains(m.Stop, s) {
		m.Stop = append(m.Stop, s)
	}
}

// tokenTexts returns tokenizer.ggml.tokens, or nil.
func tokenTexts(md *gguf.Metadata) []string {
	v, ok := md.Get("tokenizer.ggml.tokens")
	if !ok {
		return nil
	}
	t, _ := v.Data.([]string)
	return t
}

// String renders the Modelfile.
func (m *Modelfile) String() string {
	var b strings.Builder
	b.WriteString("# Modelfile written by shrink: ollama create NAME -f Modelfile\n")
	for _, n := range m.Notes {
		fmt.Fprintf(&b, "# %s\n", n)
	}
	fmt.Fprintf(&b, "FROM %s\n", m.From)
	if m.Template != "" {
		fmt.Fprintf(&b, "# chat template family: %s\n", m.Family)
		fmt.Fprintf(&b, "TEMPLATE %s\n", quote(m.Template))
	}
	for _, s := range m.Stop {
		fmt.Fprintf(&b, "PARAMETER stop %s\n", quote(s))
	}
	return b.String()
}

// quote writes a Modelfile argument: triple quotes when it holds a quote
// or a line break, else double quotes.
func quote(s string) string {
	if strings.ContainsAny(s, "\"\n") && !strings.Contains(s, `"""`) {
		return `"""` + s + `"""`
	}
	return `"` + s + `"`
}

// Write writes the Modelfile of the GGUF file ggufPath beside it, as
// "Modelfile", and returns its path and content.
func Write(ggufPath string) (string, *Modelfile, error) {
	f, err := gguf.Open(ggufPath)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	m := FromMetadata(&f.Metadata, "./"+filepath.Base(ggufPath))
	path := filepath.Join(filepath.Dir(ggufPath), "Modelfile")
	if err := format.WriteFileAtomic(path, []byte(m.String())); err != nil {
		return "", nil, err
	}
	return path, m, nil
}
