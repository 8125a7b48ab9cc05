package pipeline

import (
	"github.com/shrink-llm/shrink/ollama"
)

// Kinds returns the step kinds of this build, by name, each calling the
// library function of package shrink that does the command's work.
func Kinds() map[string]Kind {
	return map[string]Kind{}
}

// writeModelfile writes the Ollama Modelfile beside a GGUF file.
func writeModelfile(gguf string) (string, error) {
	path, _, err := ollama.Write(gguf)
	return path, err
}
