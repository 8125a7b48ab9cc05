package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/tokenizer"
)

var tokenizeCmd = &command{
	name:    "tokenize",
	args:    "MODEL (--text T | --file F) [--no-bos]",
	summary: "print the token ids of a text, space-separated on one line",
	flags: func(fs *pflag.FlagSet) {
		fs.String("text", "", "text to tokenize")
		fs.String("file", "", "file whose contents to tokenize")
		fs.Bool("no-bos", false, "do not add the special tokens the vocabulary asks for (BOS)")
		fs.String("tokenizer", "", "tokenizer file to use instead of the one found with MODEL")
	},
	run: runTokenize,
}

func runTokenize(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, "MODEL"); err != nil {
		return err
	}
	text := flagString(fs, "text")
	file := flagString(fs, "file")
	noBOS := flagBool(fs, "no-bos")
	tokFile := flagString(fs, "tokenizer")
	if fs.Changed("text") == fs.Changed("file") {
		return usageError{"give exactly one of --text and --file"}
	}
	if fs.Changed("file") {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		text = string(b)
	}
	v, err := loadVocab(args[0], tokFile)
	if err != nil {
		return err
	}
	tok, err := tokenizer.New(v)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	for _, w := range tok.Warnings() {
		fmt.Fprintf(os.Stderr, "shrink: warning: %s: %s\n", args[0], w)
	}
	ids := tok.Encode(text, !noBOS)
	var sb strings.Builder
	for i, id := range ids {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(strconv.Itoa(int(id)))
	}
	sb.WriteByte('\n')
	_, err = fmt.Fprint(stdout, sb.String())
	return err
}

// loadVocab returns the vocabulary of path for commands that need nothing
// else. A GGUF file's tokenizer.ggml.* keys are read whatever its
// architecture (llama.cpp's ggml-vocab-*.gguf files hold nothing else);
// other checkpoints, or a tokenizer file given with tokFile, go through
// convert.Load.
func loadVocab(path, tokFile string) (*model.Vocab, error) {
	if f, err := format.Detect(path); err == nil && f.Name == "gguf" && tokFile == "" {
		return ggufVocab(path)
	}
	m, err := convert.Load(path, convert.Options{Tokenizer: tokFile})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if m.Vocab == nil {
		return nil, fmt.Errorf("%s: the model has no tokenizer (use --tokenizer FILE)", path)
	}
	return m.Vocab, nil
}

// ggufVocab reads the vocabulary of a GGUF file; a file without
// tokenizer.ggml.model is an error.
func ggufVocab(path string) (*model.Vocab, error) {
	g, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	if _, ok := g.Metadata.Get("tokenizer.ggml.model"); !ok {
		return nil, fmt.Errorf("%s: the file has no tokenizer (no tokenizer.ggml.model; use --tokenizer FILE)", path)
	}
	v, err := model.VocabFromGGUF(&g.Metadata)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
