package bench

import (
	"fmt"
	"html"
	"strings"
)

// taskRow is one row of the task table: report, task and formatted cells.
type taskRow struct {
	model, task, format, n, acc, ci, norm, chance string
}

var taskHead = []string{"model", "task", "format", "items", "accuracy ± se", "95% CI", "acc_norm ± se", "chance"}

func (t taskRow) cells() []string {
	return []string{t.model, t.task, t.format, t.n, t.acc, t.ci, t.norm, t.chance}
}

func pct(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

// taskRows returns one row per task of every report.
func taskRows(reports []*Report) []taskRow {
	var rows []taskRow
	for _, r := range reports {
		for _, t := range r.Tasks {
			row := taskRow{
				model: r.Name(), task: t.Name, format: t.Format, n: fmt.Sprint(t.N),
				acc:  fmt.Sprintf("%s ± %s", pct(t.Accuracy), pct(t.Stderr)),
				ci:   fmt.Sprintf("%s – %s", pct(t.CI95[0]), pct(t.CI95[1])),
				norm: "-", chance: "-",
			}
			if t.Norm != nil {
				row.norm = fmt.Sprintf("%s ± %s", pct(t.Norm.Accuracy), pct(t.Norm.Stderr))
			}
			if t.Chance > 0 {
				row.chance = pct(t.Chance)
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// markdownTasks appends the task table to b when a report has tasks.
func markdownTasks(b *strings.Builder, reports []*Report) {
	rows := taskRows(reports)
	if len(rows) == 0 {
		return
	}
	b.WriteString("\nTasks:\n\n| " + strings.Join(taskHead, " | ") + " |\n" + strings.Repeat("|---", len(taskHead)) + "|\n")
	for _, row := range rows {
		cells := row.cells()
		for i := range cells {
			cells[i] = strings.ReplaceAll(cells[i], "|", `\|`)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
}

// htmlTasks appends the task table and, per task, the per-item results
// (collapsed) to b.
func htmlTasks(b *strings.Builder, reports []*Report) {
	rows := taskRows(reports)
	if len(rows) == 0 {
		return
	}
	e := html.EscapeString
	b.WriteString("<h2>Tasks</h2>\n<table>\n<tr>")
	for _, h := range taskHead {
		fmt.Fprintf(b, "<th>%s</th>", e(h))
	}
	b.WriteString("</tr>\n")
	for _, row := range rows {
		b.WriteString("<tr>")
		for _, c := range row.cells() {
			fmt.Fprintf(b, "<td>%s</td>", e(c))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
	const maxItems = 500
	for _, r := range reports {
		for _, t := range r.Tasks {
			fmt.Fprintf(b, "<details><summary>%s, %s: %d of %d right (%s)</summary>\n<table>\n<tr><th>#</th><th>item</th><th>answer</th><th>gold</th><th>result</th>", e(r.Name()), e(t.Name), t.Correct, t.N, e(t.Path))
			gen := t.Format == FormatGenerate
			if gen {
				b.WriteString("<th>output</th>")
			}
			b.WriteString("</tr>\n")
			for k, it := range t.Items[:min(len(t.Items), maxItems)] {
				res := "right"
				if !it.OK {
					res = "<span class=\"fail\">wrong</span>"
				}
				fmt.Fprintf(b, "<tr><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%s</td>", k+1, it.I+1, it.Pred, it.Gold, res)
				if gen {
					fmt.Fprintf(b, "<td style=\"text-align:left\"><pre>%s</pre></td>", e(it.Output))
				}
				b.WriteString("</tr>\n")
			}
			b.WriteString("</table>\n")
			if len(t.Items) > maxItems {
				fmt.Fprintf(b, "<p class=\"note\">first %d of %d items; the JSON report has all.</p>\n", maxItems, len(t.Items))
			}
			b.WriteString("</details>\n")
		}
	}
}
