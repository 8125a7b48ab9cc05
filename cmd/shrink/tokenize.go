package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/convert"
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
	m, err := convert.Load(args[0], convert.Options{Tokenizer: tokFile})
	if err != nil {
		return err
	}
	defer m.Close()
	if m.Vocab == nil {
		return fmt.Errorf("%s: the model has no tokenizer (use --tokenizer FILE)", args[0])
	}
	tok, err := tokenizer.New(m.Vocab)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
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
