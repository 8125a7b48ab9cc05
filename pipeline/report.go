package pipeline

import (
	"bytes"
	"fmt"
	"html"
	"strings"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/format"
)

// writeChainHTML writes the chain's page: a table of the model after each
// step (size, and quality where a bench step measured it, with the gate's
// verdict), the steps with their times, then package bench's comparison of
// the bench reports.
func writeChainHTML(path string, m *Manifest, steps []*prepared, reports map[string]*bench.Report) error {
	var list []*bench.Report
	for _, s := range m.Steps {
		if r := reports[s.ID]; r != nil {
			list = append(list, r)
		}
	}
	title := "shrink pipeline: " + m.Name
	var page bytes.Buffer
	if err := bench.WriteHTML(&page, title, list); err != nil {
		return err
	}
	head := "<h1>" + html.EscapeString(title) + "</h1>\n"
	s := page.String()
	i := strings.Index(s, head)
	if i < 0 {
		return fmt.Errorf("pipeline: bench's HTML page has no %q heading", title)
	}
	i += len(head)
	makes := map[string]string{}
	for _, ps := range steps {
		makes[ps.ID] = ps.kind.Produces
	}
	out := s[:i] + chainSection(m, makes) + s[i:]
	return format.WriteFileAtomic(path, []byte(out))
}

// chainSection renders the chain and step tables.
func chainSection(m *Manifest, makes map[string]string) string {
	var b strings.Builder
	e := html.EscapeString
	b.WriteString("<h2>Chain</h2>\n<table>\n<tr><th>step</th><th>kind</th><th>model</th><th>size</th><th>params</th><th>PPL</th><th>KLD mean</th><th>top-1</th><th>gate</th></tr>\n")
	for _, s := range m.Steps {
		if makes[s.ID] != Model || len(s.Outputs) == 0 {
			continue
		}
		q := quality(m, makes, s.ID)
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			e(s.ID), e(s.Kind), e(s.Outputs[0].Path), bench.HumanBytes(s.Outputs[0].Bytes), fig(s.Figures, "params", "%.0f"),
			fig(q.Figures, "ppl", "%.4f"), fig(q.Figures, "kld_mean", "%.5f"), fig(q.Figures, "top1", "%.4f"), e(verdict(m, makes, q.ID)))
	}
	b.WriteString("</table>\n<h2>Steps</h2>\n<table>\n<tr><th>step</th><th>kind</th><th>input</th><th>output</th><th>time (s)</th><th>this run</th></tr>\n")
	for _, s := range m.Steps {
		out, run := "", "ran"
		if len(s.Outputs) > 0 {
			out = s.Outputs[0].Path
		}
		if s.Reused {
			run = "skipped (unchanged)"
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%.1f</td><td>%s</td></tr>\n", e(s.ID), e(s.Kind), e(s.Input), e(out), s.Seconds, run)
	}
	b.WriteString("</table>\n")
	return b.String()
}

// quality returns the record of the bench step that read step id's output
// (the last one), or an empty record.
func quality(m *Manifest, makes map[string]string, id string) StepRecord {
	var q StepRecord
	for _, s := range m.Steps {
		if makes[s.ID] == Report && s.Input == id {
			q = s
		}
	}
	return q
}

// verdict returns the verdict of the gate that read bench step id.
func verdict(m *Manifest, makes map[string]string, id string) string {
	if id == "" {
		return ""
	}
	for _, s := range m.Steps {
		if makes[s.ID] == Verdict && s.Input == id && s.Passed != nil {
			if *s.Passed {
				return "PASS"
			}
			return "FAIL: " + firstFailed(s.Checks)
		}
	}
	return ""
}

// fig formats a figure, or "" when absent.
func fig(f map[string]float64, key, layout string) string {
	v, ok := f[key]
	if !ok {
		return ""
	}
	return fmt.Sprintf(layout, v)
}
