package ollama_test

import (
	"fmt"
	"log"

	"github.com/shrink-llm/shrink/ollama"
)

// Write out/m-q8_0.gguf's Modelfile beside it; "ollama create m -f
// out/Modelfile" then imports the model.
func ExampleWrite() {
	path, m, err := ollama.Write("out/m-q8_0.gguf")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(path, m.Family, m.Stop)
	for _, note := range m.Notes {
		fmt.Println("note:", note)
	}
}
