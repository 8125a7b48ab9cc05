package main

import (
	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/bench"
)

var reportCmd = &command{
	name:    "report",
	args:    "REPORT.json... [--html FILE] [--md FILE]",
	summary: "merge bench reports into one comparison table (terminal/Markdown) and HTML page",
	flags: func(fs *pflag.FlagSet) {
		fs.String("html", "", "write the comparison page (self-contained HTML with SVG charts) to this file")
		fs.String("md", "", "write the Markdown comparison table to this file")
		fs.String("title", "shrink comparison", "title of the HTML page")
		fs.BoolP("quiet", "q", false, "do not print the table")
	},
	run: runReport,
}

func runReport(fs *pflag.FlagSet, args []string) error {
	if len(args) == 0 {
		return usageError{"want at least one REPORT.json"}
	}
	var reports []*bench.Report
	for _, p := range args {
		r, err := bench.ReadReport(p)
		if err != nil {
			return err
		}
		reports = append(reports, r)
	}
	if h := flagString(fs, "html"); h != "" {
		title := flagString(fs, "title")
		if err := writeHTMLFile(h, title, reports); err != nil {
			return err
		}
	}
	if m := flagString(fs, "md"); m != "" {
		if err := writeMarkdownFile(m, reports); err != nil {
			return err
		}
	}
	if q := flagBool(fs, "quiet"); !q {
		return bench.WriteMarkdown(stdout, reports)
	}
	return nil
}
