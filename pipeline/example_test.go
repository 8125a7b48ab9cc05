package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/shrink-llm/shrink/pipeline"
)

// Run a recipe into out/go-edge: an interrupted or repeated run skips the
// steps whose record in out/go-edge/manifest.json still holds.
func ExampleRun() {
	r, err := pipeline.Load("demo/go-edge.json")
	if err != nil {
		log.Fatal(err)
	}
	opt := pipeline.RunOptions{
		Ollama: true, // a Modelfile beside the final GGUF
		Progress: func(p pipeline.Progress) {
			if p.Skipped || p.Stage == "start" {
				fmt.Fprintf(os.Stderr, "%d/%d %s: %s %s\n", p.Index+1, p.Steps, p.Step, p.Stage, p.Message)
			}
		},
	}
	m, err := pipeline.Run(context.Background(), r, "out/go-edge", opt)
	if errors.Is(err, pipeline.ErrGateFailed) {
		log.Fatalf("the build did not pass its gate: %v", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range m.Steps {
		fmt.Println(s.ID, s.Kind, s.Outputs[0].Path, s.Figures)
	}
}

// Print what a run would do, and why, without running anything.
func ExamplePlan() {
	r, err := pipeline.Load("demo/go-edge.json")
	if err != nil {
		log.Fatal(err)
	}
	plan, err := pipeline.Plan(context.Background(), r, "out/go-edge", pipeline.RunOptions{})
	if err != nil {
		log.Fatal(err)
	}
	pipeline.WritePlan(os.Stdout, plan)
}
