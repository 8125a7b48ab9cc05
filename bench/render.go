package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"
)

// column is one column of the comparison table.
type column struct {
	head string
	cell func(r *Report) string
}

func opt[T any](p *T, f func(*T) string) string {
	if p == nil {
		return "-"
	}
	return f(p)
}

var columns = []column{
	{"model", func(r *Report) string { return r.Name() }},
	{"size", func(r *Report) string {
		return opt(r.Model, func(m *ModelInfo) string {
			if m.FileBytes == 0 {
				return "-"
			}
			return HumanBytes(m.FileBytes)
		})
	}},
	{"bits/w", func(r *Report) string {
		return opt(r.Model, func(m *ModelInfo) string {
			if m.BitsPerWeight == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", m.BitsPerWeight)
		})
	}},
	{"PPL", func(r *Report) string {
		return opt(r.Perplexity, func(p *Perplexity) string { return fmt.Sprintf("%.4f ± %.4f", p.Value, p.Stderr) })
	}},
	{"PPL/base", func(r *Report) string {
		if v, ok := r.PPLRatio(); ok {
			return fmt.Sprintf("%.4f", v)
		}
		return "-"
	}},
	{"KLD mean", func(r *Report) string { return opt(r.KLD, func(d *Dist) string { return fmt.Sprintf("%.6f", d.Mean) }) }},
	{"KLD p99", func(r *Report) string { return opt(r.KLD, func(d *Dist) string { return fmt.Sprintf("%.6f", d.P99) }) }},
	{"top-1", func(r *Report) string {
		return opt(r.Top1Agreement, func(v *float64) string { return fmt.Sprintf("%.2f%%", 100**v) })
	}},
	{"Δp RMS", func(r *Report) string {
		return opt(r.DeltaP, func(d *DeltaP) string { return fmt.Sprintf("%.3f%%", 100*d.RMS) })
	}},
	{"prefill t/s", func(r *Report) string {
		return opt(r.Speed, func(s *Speed) string { return fmt.Sprintf("%.1f", s.PrefillTokensPerS) })
	}},
	{"decode t/s", func(r *Report) string {
		return opt(r.Speed, func(s *Speed) string { return fmt.Sprintf("%.1f", s.DecodeTokensPerS) })
	}},
	{"ms/tok p50/p95", func(r *Report) string {
		return opt(r.Speed, func(s *Speed) string { return fmt.Sprintf("%.2f / %.2f", s.DecodeMsP50, s.DecodeMsP95) })
	}},
	{"peak RSS", func(r *Report) string {
		return opt(r.Memory, func(m *Memory) string { return HumanBytes(m.PeakRSSBytes) })
	}},
	{"KV cache/token", func(r *Report) string {
		return opt(r.Memory, func(m *Memory) string {
			switch {
			case m.KVBytesPerToken == 0:
				return "-"
			case m.KVStandardBytesPerToken != m.KVBytesPerToken:
				return fmt.Sprintf("%s (standard attention %s)", HumanBytes(m.KVBytesPerToken), HumanBytes(m.KVStandardBytesPerToken))
			}
			return HumanBytes(m.KVBytesPerToken)
		})
	}},
	{"weights", func(r *Report) string {
		return opt(r.Memory, func(m *Memory) string {
			switch {
			case m.Weights == "":
				return "-"
			case m.HugePageShare > 0:
				return fmt.Sprintf("%s, %.0f%% 2M pages", m.Weights, 100*m.HugePageShare)
			}
			return m.Weights
		})
	}},
}

// usedColumns returns the columns with a value in at least one report.
func usedColumns(reports []*Report) []column {
	var out []column
	for i, c := range columns {
		keep := i == 0
		for _, r := range reports {
			if c.cell(r) != "-" {
				keep = true
			}
		}
		if keep {
			out = append(out, c)
		}
	}
	return out
}

// WriteMarkdown writes a comparison table of the reports (one row each,
// columns that some report measured) and, for reports with per-tensor
// errors, the worst tensors.
func WriteMarkdown(w io.Writer, reports []*Report) error {
	cols := usedColumns(reports)
	var b strings.Builder
	for _, c := range cols {
		b.WriteString("| " + c.head + " ")
	}
	b.WriteString("|\n")
	for _, c := range cols {
		b.WriteString("|" + strings.Repeat("-", len(c.head)+2))
	}
	b.WriteString("|\n")
	for _, r := range reports {
		for _, c := range cols {
			b.WriteString("| " + strings.ReplaceAll(c.cell(r), "|", `\|`) + " ")
		}
		b.WriteString("|\n")
	}
	for _, r := range reports {
		if r.Failure != nil {
			fmt.Fprintf(&b, "\n**FAILED** %s: %s\n", r.Name(), r.Failure.Reason)
		}
	}
	markdownTasks(&b, reports)
	for _, r := range reports {
		if len(r.Tensors) == 0 || r.Tensors[0].SNRdB >= maxSNR {
			continue // nothing measured, or an exact copy
		}
		fmt.Fprintf(&b, "\nWorst tensors of %s:\n\n| tensor | type | bpw | RMSE | SNR dB | predicted KLD |\n|---|---|---|---|---|---|\n", r.Name())
		for _, t := range r.Tensors[:min(len(r.Tensors), 5)] {
			fmt.Fprintf(&b, "| %s | %s | %.2f | %.3g | %.1f | %s |\n", t.Name, t.Type, bitsPer(t.Bytes, t.Elements), t.RMSE, t.SNRdB, predString(t.PredictedKLD))
		}
	}
	markdownBudget(&b, reports)
	_, err := io.WriteString(w, b.String())
	return err
}

// HumanBytes formats a byte count with a binary unit.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// WriteHTML writes one self-contained XHTML-compatible page comparing the
// reports: the table, a size vs KL-divergence chart, a per-layer weight
// error chart and the worst tensors. Nothing is fetched from the network.
func WriteHTML(w io.Writer, title string, reports []*Report) error {
	var b strings.Builder
	e := html.EscapeString
	b.WriteString("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
	fmt.Fprintf(&b, "<title>%s</title>\n", e(title))
	b.WriteString(`<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f4f4f4}
svg{background:#fff;border:1px solid #ddd;margin:0.5em 0}
.note{color:#666;font-size:90%}
.fail{color:#b00}
</style>
</head>
<body>
`)
	fmt.Fprintf(&b, "<h1>%s</h1>\n", e(title))
	cols := usedColumns(reports)
	b.WriteString("<table>\n<tr>")
	for _, c := range cols {
		fmt.Fprintf(&b, "<th>%s</th>", e(c.head))
	}
	b.WriteString("</tr>\n")
	for _, r := range reports {
		b.WriteString("<tr>")
		for _, c := range cols {
			fmt.Fprintf(&b, "<td>%s</td>", e(c.cell(r)))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
	for _, r := range reports {
		var parts []string
		if r.Text != nil {
			parts = append(parts, fmt.Sprintf("text %s (%d tokens)", r.Text.Path, r.Text.Tokens))
		}
		if r.Ctx > 0 {
			parts = append(parts, fmt.Sprintf("ctx %d, %d chunks", r.Ctx, r.Chunks))
		}
		if r.Baseline != nil {
			parts = append(parts, fmt.Sprintf("baseline %s (PPL %.4f)", r.Baseline.Path, r.Baseline.Perplexity))
		}
		if r.Threads > 0 {
			parts = append(parts, fmt.Sprintf("%d threads", r.Threads))
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "<p class=\"note\">%s: %s</p>\n", e(r.Name()), e(strings.Join(parts, "; ")))
		}
		if r.Failure != nil {
			fmt.Fprintf(&b, "<p class=\"fail\"><strong>FAILED</strong> %s: %s</p>\n", e(r.Name()), e(r.Failure.Reason))
		}
	}
	htmlTasks(&b, reports)
	b.WriteString("<h2>Size vs KL divergence</h2>\n")
	sizeKLDChart(&b, reports)
	b.WriteString("<h2>Per-layer weight error</h2>\n")
	layerChart(&b, reports)
	for _, r := range reports {
		if len(r.Tensors) == 0 || r.Tensors[0].SNRdB >= maxSNR {
			continue // nothing measured, or an exact copy
		}
		fmt.Fprintf(&b, "<h2>Worst tensors: %s</h2>\n<table>\n<tr><th>tensor</th><th>type</th><th>bpw</th><th>RMSE</th><th>SNR dB</th><th>predicted KLD</th></tr>\n", e(r.Name()))
		for _, t := range r.Tensors[:min(len(r.Tensors), 20)] {
			fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%.2f</td><td>%.4g</td><td>%.1f</td><td>%s</td></tr>\n", e(t.Name), e(t.Type), bitsPer(t.Bytes, t.Elements), t.RMSE, t.SNRdB, predString(t.PredictedKLD))
		}
		b.WriteString("</table>\n")
	}
	htmlBudget(&b, reports)
	b.WriteString("<p class=\"note\">Generated by shrink (schema " + Schema + ").</p>\n</body>\n</html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

const (
	chartW, chartH = 640, 360
	padL, padR     = 80, 20
	padT, padB     = 20, 50
)

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) {
		hi = lo + 1
	}
	step := math.Pow(10, math.Floor(math.Log10((hi-lo)/float64(n))))
	for _, m := range []float64{1, 2, 5, 10} {
		if (hi-lo)/(step*m) <= float64(n) {
			step *= m
			break
		}
	}
	var t []float64
	for v := math.Floor(lo/step) * step; v <= hi+step*1e-9; v += step {
		t = append(t, v)
	}
	return t
}

type axis struct{ lo, hi float64 }

func (a axis) pos(v, from, to float64) float64 {
	if a.hi == a.lo {
		return (from + to) / 2
	}
	return from + (v-a.lo)/(a.hi-a.lo)*(to-from)
}

func frame(b *strings.Builder, xa, ya axis, xt, yt []float64, xlabel, ylabel string, xfmt, yfmt func(float64) string) {
	fmt.Fprintf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-size=\"11\">\n", chartW, chartH, chartW, chartH)
	x0, x1, y0, y1 := float64(padL), float64(chartW-padR), float64(chartH-padB), float64(padT)
	for _, t := range yt {
		y := ya.pos(t, y0, y1)
		fmt.Fprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", x0, y, x1, y)
		fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", x0-4, y+4, html.EscapeString(yfmt(t)))
	}
	for _, t := range xt {
		x := xa.pos(t, x0, x1)
		fmt.Fprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", x, y0, x, y1)
		fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, y0+14, html.EscapeString(xfmt(t)))
	}
	fmt.Fprintf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333\"/>", padL, y0, chartW-padR, y0)
	fmt.Fprintf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333\"/>\n", padL, y0, padL, y1)
	fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", (x0+x1)/2, chartH-12, html.EscapeString(xlabel))
	fmt.Fprintf(b, "<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">%s</text>\n", (y0+y1)/2, (y0+y1)/2, html.EscapeString(ylabel))
}

func sizeKLDChart(b *strings.Builder, reports []*Report) {
	type pt struct {
		name string
		x, y float64
	}
	var pts []pt
	for _, r := range reports {
		if r.KLD != nil && r.Model != nil && r.Model.FileBytes > 0 {
			pts = append(pts, pt{r.Name(), float64(r.Model.FileBytes), r.KLD.Mean})
		}
	}
	if len(pts) == 0 {
		b.WriteString("<p class=\"note\">No report has both a file size and a KL divergence (run bench with --baseline).</p>\n")
		return
	}
	xa, ya := axis{math.Inf(1), math.Inf(-1)}, axis{0, math.Inf(-1)}
	for _, p := range pts {
		xa.lo, xa.hi = math.Min(xa.lo, p.x), math.Max(xa.hi, p.x)
		ya.hi = math.Max(ya.hi, p.y)
	}
	span := xa.hi - xa.lo
	if span == 0 {
		span = xa.hi * 0.2
	}
	xa.lo, xa.hi = math.Max(0, xa.lo-0.1*span), xa.hi+0.1*span
	if ya.hi <= 0 {
		ya.hi = 1e-3
	}
	ya.hi *= 1.15
	xt, yt := niceTicks(xa.lo, xa.hi, 6), niceTicks(0, ya.hi, 5)
	xa.lo, xa.hi = math.Min(xa.lo, xt[0]), math.Max(xa.hi, xt[len(xt)-1])
	ya.hi = math.Max(ya.hi, yt[len(yt)-1])
	frame(b, xa, ya, xt, yt, "file size", "mean KL divergence (nats)",
		func(v float64) string { return HumanBytes(int64(v)) }, func(v float64) string { return fmt.Sprintf("%.3g", v) })
	x0, x1, y0, y1 := float64(padL), float64(chartW-padR), float64(chartH-padB), float64(padT)
	sort.Slice(pts, func(i, j int) bool { return pts[i].x < pts[j].x })
	if len(pts) > 1 {
		b.WriteString("<polyline fill=\"none\" stroke=\"#999\" stroke-dasharray=\"4 3\" points=\"")
		for _, p := range pts {
			fmt.Fprintf(b, "%.1f,%.1f ", xa.pos(p.x, x0, x1), ya.pos(p.y, y0, y1))
		}
		b.WriteString("\"/>\n")
	}
	for i, p := range pts {
		x, y := xa.pos(p.x, x0, x1), ya.pos(p.y, y0, y1)
		fmt.Fprintf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"><title>%s: %s, KLD %.6f</title></circle>", x, y, palette[i%len(palette)],
			html.EscapeString(p.name), HumanBytes(int64(p.x)), p.y)
		// Labels of points in the right half run leftwards, so they stay inside the chart.
		if x > float64(chartW)/2 {
			fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s (%.4g)</text>\n", x-7, y-7, html.EscapeString(p.name), p.y)
		} else {
			fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%.1f\">%s (%.4g)</text>\n", x+7, y-7, html.EscapeString(p.name), p.y)
		}
	}
	b.WriteString("</svg>\n")
}

// exactCopy reports whether every layer of r equals its baseline exactly.
func exactCopy(r *Report) bool {
	for _, l := range r.Layers {
		if l.SNRdB < maxSNR {
			return false
		}
	}
	return true
}

func layerChart(b *strings.Builder, reports []*Report) {
	var with []*Report
	maxLayer, hi := -1, 0.0
	for _, r := range reports {
		if len(r.Layers) == 0 || exactCopy(r) {
			continue // nothing measured, or the baseline itself
		}
		with = append(with, r)
		for _, l := range r.Layers {
			maxLayer = max(maxLayer, l.Layer)
			if l.SNRdB < maxSNR {
				hi = math.Max(hi, l.SNRdB)
			}
		}
	}
	if len(with) == 0 {
		b.WriteString("<p class=\"note\">No per-layer data (run bench with --tensors and --baseline).</p>\n")
		return
	}
	if hi <= 0 {
		hi = 1
	}
	// Bars per layer group: index 0 is the non-block tensors (-1).
	groups := maxLayer + 2
	// Leave room above the tallest bar for the legend in the top right.
	plotH := float64(chartH - padT - padB)
	legendH := float64(14*len(with) + 10)
	ya := axis{0, hi * 1.05 * plotH / math.Max(plotH-legendH, plotH/2)}
	yt := niceTicks(0, ya.hi, 5)
	ya.hi = math.Max(ya.hi, yt[len(yt)-1])
	xa := axis{0, float64(groups)}
	frame(b, xa, ya, nil, yt, "layer (other: token_embd, output)", "SNR dB (higher is better)", nil, func(v float64) string { return fmt.Sprintf("%.0f", v) })
	x0, x1, y0, y1 := float64(padL), float64(chartW-padR), float64(chartH-padB), float64(padT)
	gw := (x1 - x0) / float64(groups)
	bw := gw * 0.8 / float64(len(with))
	for g := 0; g < groups; g++ {
		label := "other"
		if g > 0 {
			label = fmt.Sprint(g - 1)
		}
		fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x0+gw*(float64(g)+0.5), y0+14, label)
	}
	for i, r := range with {
		for _, l := range r.Layers {
			v := l.SNRdB
			if math.IsInf(v, 1) || v > ya.hi {
				v = ya.hi
			}
			if v < 0 || math.IsNaN(v) {
				v = 0
			}
			x := x0 + gw*float64(l.Layer+1) + gw*0.1 + bw*float64(i)
			y := ya.pos(v, y0, y1)
			fmt.Fprintf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s layer %d: SNR %.1f dB, RMSE %.4g</title></rect>\n",
				x, y, bw, y0-y, palette[i%len(palette)], html.EscapeString(r.Name()), l.Layer, l.SNRdB, l.RMSE)
		}
		fmt.Fprintf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
			x1-150, y1+float64(i)*14, palette[i%len(palette)], x1-136, y1+9+float64(i)*14, html.EscapeString(r.Name()))
	}
	b.WriteString("</svg>\n")
}

// bitsPer returns 8·bytes/elements (0 when either is unknown).
func bitsPer(bytes, elements int64) float64 {
	if bytes <= 0 || elements <= 0 {
		return 0
	}
	return 8 * float64(bytes) / float64(elements)
}

// predString formats a predicted KLD, "-" when there is none.
func predString(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3g", v)
}

// budgetRows returns the per-layer rows of the reports whose layers carry
// their bytes: where the bits went (and, for a solved file, the KLD the
// solver predicted each layer adds).
func budgetRows(r *Report) [][]string {
	var rows [][]string
	for _, l := range r.Layers {
		if l.Bytes <= 0 {
			return nil
		}
		name := fmt.Sprint(l.Layer)
		if l.Layer < 0 {
			name = "other"
		}
		rows = append(rows, []string{name, fmt.Sprint(l.Elements), fmt.Sprint(l.Bytes), fmt.Sprintf("%.3f", bitsPer(l.Bytes, l.Elements)), predString(l.PredictedKLD)})
	}
	return rows
}

var budgetHead = []string{"layer", "parameters", "bytes", "bpw", "predicted KLD"}

func markdownBudget(b *strings.Builder, reports []*Report) {
	for _, r := range reports {
		rows := budgetRows(r)
		if rows == nil {
			continue
		}
		fmt.Fprintf(b, "\nBits per layer of %s:\n\n| %s |\n|%s\n", r.Name(), strings.Join(budgetHead, " | "), strings.Repeat("---|", len(budgetHead)))
		for _, row := range rows {
			fmt.Fprintf(b, "| %s |\n", strings.Join(row, " | "))
		}
	}
}

func htmlBudget(b *strings.Builder, reports []*Report) {
	for _, r := range reports {
		rows := budgetRows(r)
		if rows == nil {
			continue
		}
		fmt.Fprintf(b, "<h2>Bits per layer: %s</h2>\n<table>\n<tr><th>%s</th></tr>\n", html.EscapeString(r.Name()), strings.Join(budgetHead, "</th><th>"))
		for _, row := range rows {
			fmt.Fprintf(b, "<tr><td>%s</td></tr>\n", strings.Join(row, "</td><td>"))
		}
		b.WriteString("</table>\n")
	}
}
