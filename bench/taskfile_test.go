package bench

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/internal/testutil"
)

// sampleMC are the items of testdata/tasks/mc.bin, llama.cpp's binary
// multiple-choice format (written by WriteMultipleChoice).
var sampleMC = []MultipleChoiceItem{
	{Question: "Go: To read a whole file, call", Answers: []string{"os.ReadFile(name)", "the king's horses", "thou shalt not pass"}, Labels: []int32{1, 0, 0}},
	{Question: "ROMEO: But soft, what light through yonder", Answers: []string{"window breaks?", "func main() {", "import \"fmt\"", "x := 42"}, Labels: []int32{0, 1, 0, 0}},
	{Question: "Go: The zero value of a pointer is", Answers: []string{"my gracious lord", "nil", "a summer's day"}, Labels: []int32{0, 1, 0}},
	{Question: "HAMLET: To be, or not to be,", Answers: []string{"return err", "that is the question.", "buf.Reset()", "case 0:"}, Labels: []int32{0, 0, 1, 0}},
	{Question: "Go: strconv.Itoa converts", Answers: []string{"an int to its decimal string", "a lord into a knight"}, Labels: []int32{1, 0}},
	{Question: "KING LEAR: Blow, winds, and crack your", Answers: []string{"cheeks! rage! blow!", "bytes.Buffer", "error"}, Labels: []int32{1, 0, 0}},
}

func sampleTask(t *testing.T, name string) string {
	return filepath.Join(testutil.RepoRoot(t), "bench", "testdata", "tasks", name)
}

func TestMultipleChoiceSample(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMultipleChoice(&b, sampleMC); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, sampleTask(t, "mc.bin"), b.Bytes())
	f, err := ParseTaskFile("mc.bin", b.Bytes(), "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Format != FormatMultipleChoice || len(f.MultipleChoice) != len(sampleMC) {
		t.Fatalf("format %s, %d items", f.Format, len(f.MultipleChoice))
	}
	for i, it := range f.MultipleChoice {
		if it.Question != sampleMC[i].Question || len(it.Answers) != len(sampleMC[i].Answers) || it.Labels[1] != sampleMC[i].Labels[1] {
			t.Errorf("item %d: %+v, want %+v", i, it, sampleMC[i])
		}
	}
}

func TestDetectSamples(t *testing.T) {
	for name, want := range map[string]string{
		"hellaswag.txt": FormatHellaSwag, "winogrande.csv": FormatWinoGrande, "mc.bin": FormatMultipleChoice,
		"choice.jsonl": FormatChoice, "generate.jsonl": FormatGenerate,
	} {
		f, err := ReadTaskFile(sampleTask(t, name), "")
		if err != nil {
			t.Fatal(err)
		}
		if f.Format != want {
			t.Errorf("%s: detected %s, want %s", name, f.Format, want)
		}
	}
}

func TestWinoGrandeParse(t *testing.T) {
	f, err := ReadTaskFile(sampleTask(t, "winogrande.csv"), "")
	if err != nil {
		t.Fatal(err)
	}
	// The header row is skipped, and llama-perplexity never reads the last
	// row (its -f drops the final newline, its loop stops at EOF).
	if len(f.WinoGrande) != 12 || f.Skipped != 1 {
		t.Fatalf("%d rows, %d skipped; want 12 and 1", len(f.WinoGrande), f.Skipped)
	}
	it := f.WinoGrande[2]
	if it.First != "Romeo loved Juliet, so " || it.Second != " climbed the wall to see her." || it.Choices != [2]string{"Romeo", "Juliet"} || it.Answer != 1 {
		t.Errorf("quoted row: %+v", it)
	}
}

func TestTaskFileErrors(t *testing.T) {
	for _, c := range []struct{ name, data, format string }{
		{"a.txt", "ctx\nx\na\nb\nc\nd\n", FormatHellaSwag},
		{"a.txt", "ctx\n1\na\nb\n", FormatHellaSwag},
		{"a.csv", "no commas here\n", ""},
		{"a.jsonl", `{"query":"q","choices":["a","b"],"gold":2}`, ""},
		{"a.jsonl", `{"query":"q","choices":["a","b"]}`, ""},
		{"a.jsonl", `{"query":"q","choices":["a","b"],"gold":0,"extra":1}`, ""},
		{"a.jsonl", `{"prompt":"p","target":"t","pattern":"x"}`, ""},
		{"a.jsonl", `{"prompt":"p","pattern":"("}`, ""},
		{"a.bin", "\x02\x00\x00\x00\x0c\x00\x00\x00\x10\x00\x00\x00", FormatMultipleChoice},
		{"a.txt", "x", "bogus"},
	} {
		if _, err := ParseTaskFile(c.name, []byte(c.data), c.format); !errors.Is(err, ErrTaskFile) {
			t.Errorf("%s %q: err %v, want ErrTaskFile", c.name, c.data, err)
		}
	}
}

func TestMT19937(t *testing.T) {
	// std::mt19937 rng(1): 1791095845 4282876139 3093770124; then with a
	// fresh one, std::uniform_int_distribution<size_t>(0, n-1) for n = 10,
	// 7, 3, 1000, 5 gives 4 6 2 932 0 (g++ 12, libstdc++).
	g := newMT19937(1)
	for _, want := range []uint32{1791095845, 4282876139, 3093770124} {
		if v := g.next(); v != want {
			t.Fatalf("next %d, want %d", v, want)
		}
	}
	g = newMT19937(1)
	for i, n := range []uint64{10, 7, 3, 1000, 5} {
		if v, want := g.uniform(n), []uint64{4, 6, 2, 932, 0}[i]; v != want {
			t.Errorf("uniform(%d) = %d, want %d", n, v, want)
		}
	}
}

func TestCompactLeaves(t *testing.T) {
	in := "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": [\n    {\n      \"s\": \"x,[y]{\\\"\",\n      \"t\": true\n    }\n  ]\n}"
	want := "{\n  \"a\": [1, 2],\n  \"b\": [\n    {\"s\": \"x,[y]{\\\"\", \"t\": true}\n  ]\n}"
	if got := string(compactLeaves([]byte(in))); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// FuzzTaskFile feeds arbitrary bytes to every format: a clear error or
// items, never a panic.
func FuzzTaskFile(f *testing.F) {
	for _, name := range []string{"hellaswag.txt", "winogrande.csv", "mc.bin", "choice.jsonl", "generate.jsonl"} {
		data, err := os.ReadFile(filepath.Join("testdata", "tasks", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(name, data)
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		for _, format := range append([]string{""}, TaskFormats...) {
			tf, err := ParseTaskFile(name, data, format)
			if err == nil && tf.Len() == 0 {
				t.Errorf("%s: no items and no error", format)
			}
		}
	})
}
