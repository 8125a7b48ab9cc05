// Command shrink makes transformer language models small enough for edge and
// narrow-domain deployment, and proves that the small model still works.
//
// Usage:
//
//	shrink COMMAND [ARGS] [FLAGS]
//
// Run "shrink help" for the list of commands and "shrink COMMAND --help" for
// one command's flags. Exit codes: 0 success, 1 a failed check, 2 bad usage
// or bad input.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	_ "github.com/shrink-llm/shrink/format/gguf"
	_ "github.com/shrink-llm/shrink/format/llama2c"
	_ "github.com/shrink-llm/shrink/format/safetensors"
)

// version is the tool version recorded in outputs' provenance.
const version = "0.1.0-dev"

// command is one subcommand of the CLI.
type command struct {
	name    string
	args    string // usage after the command name
	summary string
	// run executes the command with its parsed flag set. It returns a
	// usageError for bad usage, checkFailed for a failed check, and any
	// other error for bad input.
	run   func(fs *pflag.FlagSet, args []string) error
	flags func(fs *pflag.FlagSet) // declares the command's flags
}

// commands is the one table of subcommands.
var commands []*command

func init() {
	commands = []*command{
		inspectCmd,
		convertCmd,
		quantizeCmd,
		runCmd,
		tokenizeCmd,
		benchCmd,
		gateCmd,
		reportCmd,
		demoCmd,
		pipelineCmd,
		pruneCmd,
		distillCmd,
		trainCmd,
	}
}

// usageError marks bad usage (exit code 2, with a hint to --help).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// errCheckFailed marks a failed check (exit code 1).
var errCheckFailed = errors.New("check failed")

func main() {
	stop := startCPUProfile(os.Stderr)
	code := runMain(os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

var stdout io.Writer = os.Stdout

func runMain(args []string, out, errOut io.Writer) int {
	stdout = out
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				fs := newFlagSet(c)
				printUsage(out, c, fs)
				return 0
			}
		}
		printHelp(out)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(out, "shrink", version)
		return 0
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(errOut, "shrink: unknown command %q (see 'shrink help')\n", args[0])
		return 2
	}
	fs := newFlagSet(c)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			printUsage(out, c, fs)
			return 0
		}
		fmt.Fprintf(errOut, "shrink %s: %v (see 'shrink %s --help')\n", c.name, err, c.name)
		return 2
	}
	if h := flagBool(fs, "help"); h {
		printUsage(out, c, fs)
		return 0
	}
	if c.run == nil {
		fmt.Fprintf(errOut, "shrink %s: not implemented yet in this version of shrink\n", c.name)
		return 2
	}
	err := c.run(fs, fs.Args())
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errCheckFailed):
		fmt.Fprintf(errOut, "shrink %s: %v\n", c.name, oneLine(err))
		return 1
	default:
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(errOut, "shrink %s: %v (see 'shrink %s --help')\n", c.name, ue.msg, c.name)
			return 2
		}
		fmt.Fprintf(errOut, "shrink %s: %v\n", c.name, oneLine(err))
		return 2
	}
}

// oneLine keeps an error message on one line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func newFlagSet(c *command) *pflag.FlagSet {
	fs := pflag.NewFlagSet("shrink "+c.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	if c.flags != nil {
		c.flags(fs)
	}
	fs.BoolP("help", "h", false, "show this help")
	return fs
}

func printHelp(w io.Writer) {
	fmt.Fprintf(w, "shrink %s: make language models small and prove they still work\n\nUsage: shrink COMMAND [ARGS] [FLAGS]\n\nCommands:\n", version)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-9s %s\n  %-9s %s\n", "help", "show help for a command: shrink help COMMAND", "version", "print the version")
	fmt.Fprintf(w, "\nExit codes: 0 success, 1 a failed check, 2 bad usage or bad input.\n")
}

func printUsage(w io.Writer, c *command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "Usage: shrink %s %s\n\n%s\n", c.name, c.args, c.summary)
	if fs.HasFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
	}
}

// wantArgs checks the number of positional arguments.
func wantArgs(args []string, n int, names string) error {
	if len(args) != n {
		return usageError{fmt.Sprintf("want %s, got %d argument(s)", names, len(args))}
	}
	return nil
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
