// Package pipeline runs recipes: a declared chain of shrink steps (convert,
// prune, distill, quantize, bench, gate) from a checkpoint to a gated build,
// recorded in a manifest so that an interrupted run resumes where it stopped
// and a repeated run recomputes nothing.
//
// # Recipe format
//
// A recipe is a JSON file:
//
//	{
//	  "name": "go-edge",
//	  "inputs": {"model": "../models/default", "text": "go.txt"},
//	  "steps": [
//	    {"id": "f16", "kind": "convert", "input": "model", "options": {"dtype": "f16"}},
//	    {"id": "q8", "kind": "quantize", "input": "f16", "options": {"type": "q8_0"}},
//	    {"id": "bench", "kind": "bench", "input": "q8", "options": {"text": "@text", "baseline": "@f16"}},
//	    {"id": "gate", "kind": "gate", "input": "bench", "options": {"max-kld": 0.05}}
//	  ]
//	}
//
// Inputs name the files and folders the chain starts from; their paths, and
// every path option of a step, resolve relative to the recipe file. A step's
// input is an input name or the id of an earlier step (its output). A step's
// options are the command's flags, spelled as on the command line, and decode
// into the library's options struct (shrink.QuantizeOptions and so on) with
// unknown fields rejected, so a recipe accepts exactly what the command
// accepts. A string option "@name" stands for the path of the input or the
// output of the earlier step called name.
//
// JSON was chosen over TOML and YAML because encoding/json is in the standard
// library: the module depends on no parser, a recipe decodes straight into
// the same structs the commands fill, and DisallowUnknownFields turns a
// misspelt option into an error instead of a silently ignored key. The cost,
// no comments in recipes, is met by the optional "note" field of the recipe
// and of every step.
//
// # Step kinds
//
// Kinds returns the kinds of this build, each a library function of package
// shrink: convert (shrink.Convert), prune (shrink.Prune), distill
// (shrink.Distill; the input is the student, "teacher" names the teacher),
// quantize (shrink.Quantize) write OUT/ID.gguf; bench (shrink.Bench) writes
// its shrink.bench/v1 report to OUT/ID.json; gate (shrink.Gate) reads a
// bench step's report and writes its checks to OUT/ID.json, and a failed
// check stops the chain (ErrGateFailed). RunOptions.Kinds replaces them, for
// a program with steps of its own.
//
// # Manifest and resumption
//
// Run writes OUT/manifest.json (schema "shrink.pipeline/v1") after every
// step: the shrink version, and for each step its kind, its options (as
// decoded, defaults included), its input and output files with their SHA-256
// and sizes, its start and end time, and its figures (bench metrics, gate
// checks). A step is skipped when the manifest holds a record of it with the
// same kind, options and input hashes and its outputs still exist with their
// recorded hashes. Outputs are written under a temporary name and renamed
// into place when complete, so an interrupted step leaves no partial file,
// and the step runs again on the next run while the steps before it are
// skipped; a step that keeps state of its own (distill's checkpoint)
// continues from it when its options and inputs are unchanged.
//
// After the steps, Run writes OUT/report.html (the model after each step:
// size, and the quality its bench step measured, with the gate's verdict;
// then package bench's comparison of the reports) and, when asked, an
// Ollama Modelfile beside the chain's last model (package ollama).
package pipeline
