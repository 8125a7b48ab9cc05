package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// ErrTaskFile reports a task file that cannot be read in its format.
var ErrTaskFile = errors.New("bench: bad task file")

// Task formats. The first three are llama-perplexity's (--hellaswag,
// --winogrande, --multiple-choice); the last two are JSON Lines files a team
// writes for its domain.
const (
	FormatHellaSwag      = "hellaswag"       // 6 lines a task: context, gold 0-3, 4 endings
	FormatWinoGrande     = "winogrande"      // CSV: index,sentence with _,choice 1,choice 2,answer 1|2
	FormatMultipleChoice = "multiple-choice" // llama.cpp's binary multiple-choice file
	FormatChoice         = "choice"          // JSONL {"query","choices","gold"}
	FormatGenerate       = "generate"        // JSONL {"prompt","target"|"pattern"}
)

// TaskFormats lists the formats DetectTaskFormat and ParseTaskFile know.
var TaskFormats = []string{FormatHellaSwag, FormatWinoGrande, FormatMultipleChoice, FormatChoice, FormatGenerate}

// HellaSwagItem is one HellaSwag task: the context, the index of the gold
// ending and the four endings.
type HellaSwagItem struct {
	Context string
	Gold    int
	Endings [4]string
}

// WinoGrandeItem is one WinoGrande task: the sentence split at its "_"
// (First, Second), the two words that may fill it and the answer (1 or 2).
type WinoGrandeItem struct {
	First, Second string
	Choices       [2]string
	Answer        int
	Line          int // 1-based line of the CSV file
}

// MultipleChoiceItem is one task of llama.cpp's multiple-choice file: a
// question and its answers, the correct ones labelled 1 (only the
// single-correct "mc1" set is scored, as llama.cpp does).
type MultipleChoiceItem struct {
	Question string
	Answers  []string
	Labels   []int32
}

// ChoiceItem is one domain multiple-choice item: the query, the choices
// (continuations of the query) and the index of the correct one.
type ChoiceItem struct {
	Query   string   `json:"query"`
	Choices []string `json:"choices"`
	Gold    *int     `json:"gold"`
}

// GenerateItem is one domain generation item: the prompt and either the
// exact Target or a regular expression Pattern the greedy output must match.
// Stop, when set, adds stop strings for this item.
type GenerateItem struct {
	Prompt  string   `json:"prompt"`
	Target  *string  `json:"target"`
	Pattern *string  `json:"pattern"`
	Stop    []string `json:"stop"`
	re      *regexp.Regexp
}

// TaskFile is a parsed task file; the slice of its format is set.
type TaskFile struct {
	Path, Name, Format string
	// Skipped counts the lines llama.cpp skips as unparsable (WinoGrande
	// rows without 4 separators, without "_" or with a bad answer, such
	// as a header row).
	Skipped        int
	HellaSwag      []HellaSwagItem
	WinoGrande     []WinoGrandeItem
	MultipleChoice []MultipleChoiceItem
	Choice         []ChoiceItem
	Generate       []GenerateItem
}

// Len returns the number of items.
func (f *TaskFile) Len() int {
	return len(f.HellaSwag) + len(f.WinoGrande) + len(f.MultipleChoice) + len(f.Choice) + len(f.Generate)
}

// maxTaskFileBytes bounds a task file (the full HellaSwag set is 7 MB,
// llama.cpp's MMLU file 20 MB).
const maxTaskFileBytes = 1 << 30

// ReadTaskFile reads a task file in format (empty: DetectTaskFormat).
func ReadTaskFile(path, format string) (*TaskFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxTaskFileBytes {
		return nil, fmt.Errorf("%s: %w: %d bytes, more than %d", path, ErrTaskFile, fi.Size(), maxTaskFileBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := ParseTaskFile(path, data, format)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// DetectTaskFormat tells a task file's format from its name and content:
// a name ending in .jsonl or .json is a domain file, "choice" when its first
// item has "choices" and "generate" otherwise; a file that starts with a
// task count n and an offset table whose first entry is 4+4n is llama.cpp's
// binary multiple-choice file; a text whose line count is a multiple of 6
// with a number 0-3 on every second line of 6 is HellaSwag; anything else is
// read as WinoGrande CSV.
func DetectTaskFormat(path string, data []byte) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".json":
		if bytes.Contains(firstLine(data), []byte(`"choices"`)) {
			return FormatChoice
		}
		return FormatGenerate
	}
	if isMultipleChoiceFile(data) {
		return FormatMultipleChoice
	}
	if _, err := parseHellaSwag(bytes.TrimSuffix(data, []byte{'\n'})); err == nil {
		return FormatHellaSwag
	}
	return FormatWinoGrande
}

func firstLine(data []byte) []byte {
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte{'\n'})
		if len(bytes.TrimSpace(line)) > 0 {
			return line
		}
		data = rest
	}
	return nil
}

func isMultipleChoiceFile(data []byte) bool {
	if len(data) < 8 {
		return false
	}
	n := uint64(binary.LittleEndian.Uint32(data))
	return n > 0 && 4+4*n <= uint64(len(data)) && uint64(binary.LittleEndian.Uint32(data[4:])) == 4+4*n
}

// ParseTaskFile parses the content of a task file in format (empty:
// DetectTaskFormat). Text formats are read as llama-perplexity reads its
// -f file: one final newline is dropped first.
func ParseTaskFile(path string, data []byte, format string) (*TaskFile, error) {
	if format == "" {
		format = DetectTaskFormat(path, data)
	}
	f := &TaskFile{Path: path, Name: taskName(path), Format: format}
	var err error
	text := data
	if len(text) > 0 && text[len(text)-1] == '\n' {
		text = text[:len(text)-1]
	}
	switch format {
	case FormatHellaSwag:
		f.HellaSwag, err = parseHellaSwag(text)
	case FormatWinoGrande:
		f.WinoGrande, f.Skipped, err = parseWinoGrande(text)
	case FormatMultipleChoice:
		f.MultipleChoice, err = parseMultipleChoice(data)
	case FormatChoice:
		f.Choice, err = parseJSONL[ChoiceItem](data, checkChoice)
	case FormatGenerate:
		f.Generate, err = parseJSONL[GenerateItem](data, checkGenerate)
	default:
		return nil, fmt.Errorf("%w: unknown format %q (want one of %s)", ErrTaskFile, format, strings.Join(TaskFormats, ", "))
	}
	if err != nil {
		return nil, err
	}
	if f.Len() == 0 {
		return nil, fmt.Errorf("%w: no %s tasks", ErrTaskFile, format)
	}
	return f, nil
}

func taskName(path string) string {
	b := baseName(path)
	if i := strings.LastIndexByte(b, '.'); i > 0 {
		b = b[:i]
	}
	return b
}

// parseHellaSwag splits text into lines at '\n' (a final line without one
// counts) and reads 6 lines a task.
func parseHellaSwag(text []byte) ([]HellaSwagItem, error) {
	lines := strings.Split(string(text), "\n")
	if len(text) == 0 || len(lines)%6 != 0 {
		return nil, fmt.Errorf("%w: HellaSwag: %d lines, not a multiple of 6", ErrTaskFile, len(lines))
	}
	items := make([]HellaSwagItem, len(lines)/6)
	for i := range items {
		it := &items[i]
		it.Context = lines[6*i]
		g, ok := leadingInt(lines[6*i+1])
		if !ok || g < 0 || g > 3 {
			return nil, fmt.Errorf("%w: HellaSwag: line %d: gold ending %q is not 0-3", ErrTaskFile, 6*i+2, lines[6*i+1])
		}
		it.Gold = g
		copy(it.Endings[:], lines[6*i+2:6*i+6])
	}
	return items, nil
}

// leadingInt parses an optionally signed decimal integer after leading
// white space, ignoring what follows it, as std::stoi does.
func leadingInt(s string) (int, bool) {
	s = strings.TrimLeft(s, " \t\r\v\f")
	end := 0
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		end++
	}
	digits := end
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == digits || end-digits > 9 {
		return 0, false
	}
	v, err := strconv.Atoi(s[:end])
	return v, err == nil
}

// parseWinoGrande reads the CSV as llama.cpp does: every line terminated by
// '\n' is a row (the final unterminated one is not read: llama-perplexity
// drops it), its first four commas outside double quotes separate
// index, sentence, choice 1, choice 2 and answer; a quoted sentence loses
// its quotes; rows without four commas, without "_" or with an answer other
// than 1 or 2 are skipped and counted.
func parseWinoGrande(text []byte) ([]WinoGrandeItem, int, error) {
	var items []WinoGrandeItem
	skipped := 0
	lineNo := 0
	for {
		i := bytes.IndexByte(text, '\n')
		if i < 0 {
			break
		}
		line := string(text[:i])
		text = text[i+1:]
		lineNo++
		it, ok := parseWinoGrandeRow(line)
		if !ok {
			skipped++
			continue
		}
		it.Line = lineNo
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil, skipped, fmt.Errorf("%w: WinoGrande: no row of index,sentence with _,choice 1,choice 2,answer 1|2 (a last row needs a line after it)", ErrTaskFile)
	}
	return items, skipped, nil
}

func parseWinoGrandeRow(line string) (WinoGrandeItem, bool) {
	var comma [4]int
	n, quoted := 0, false
	for i := 0; i < len(line) && n < 4; i++ {
		switch {
		case quoted:
			quoted = line[i] != '"'
		case line[i] == ',':
			comma[n] = i
			n++
		case line[i] == '"':
			quoted = true
		}
	}
	if n != 4 {
		return WinoGrandeItem{}, false
	}
	var sentence string
	if comma[0]+1 < len(line) && line[comma[0]+1] == '"' && comma[1]-comma[0]-3 >= 0 {
		sentence = line[comma[0]+2 : comma[1]-1]
	} else {
		sentence = line[comma[0]+1 : comma[1]]
	}
	where := strings.IndexByte(sentence, '_')
	if where < 0 {
		return WinoGrandeItem{}, false
	}
	answer, ok := leadingIntStream(line[comma[3]+1:])
	if !ok || answer < 1 || answer > 2 {
		return WinoGrandeItem{}, false
	}
	return WinoGrandeItem{
		First: sentence[:where], Second: sentence[where+1:],
		Choices: [2]string{line[comma[1]+1 : comma[2]], line[comma[2]+1 : comma[3]]},
		Answer:  answer,
	}, true
}

// leadingIntStream parses an integer as `istream >> int` does: leading
// white space (newlines included), a sign, digits.
func leadingIntStream(s string) (int, bool) {
	return leadingInt(strings.TrimLeft(s, "\n"))
}

// parseMultipleChoice reads llama.cpp's binary file: uint32 task count n,
// n uint32 byte offsets, then per task the question and two answer sets
// (mc1, mc2), each a uint32 count ≤ 100, that many strings and that many
// int32 labels; a string is a uint32 length and its bytes (little endian).
func parseMultipleChoice(data []byte) ([]MultipleChoiceItem, error) {
	if len(data) < 4 {
		return nil, fmt.Errorf("%w: multiple choice: no task count", ErrTaskFile)
	}
	n := binary.LittleEndian.Uint32(data)
	if n == 0 || uint64(4+4*uint64(n)) > uint64(len(data)) {
		return nil, fmt.Errorf("%w: multiple choice: %d tasks do not fit %d bytes", ErrTaskFile, n, len(data))
	}
	r := &mcReader{b: data, off: 4 + 4*int(n)}
	items := make([]MultipleChoiceItem, n)
	for i := range items {
		it := &items[i]
		var ok bool
		it.Question, ok = r.str()
		if ok {
			it.Answers, it.Labels, ok = r.answers()
		}
		if ok {
			_, _, ok = r.answers()
		}
		if !ok {
			return nil, fmt.Errorf("%w: multiple choice: task %d of %d is truncated or has more than 100 answers", ErrTaskFile, i+1, n)
		}
		if it.Question == "" || len(it.Answers) == 0 {
			return nil, fmt.Errorf("%w: multiple choice: task %d has an empty question or no answers", ErrTaskFile, i+1)
		}
		for _, a := range it.Answers {
			if a == "" {
				return nil, fmt.Errorf("%w: multiple choice: task %d has an empty answer", ErrTaskFile, i+1)
			}
		}
	}
	return items, nil
}

type mcReader struct {
	b   []byte
	off int
}

func (r *mcReader) u32() (uint32, bool) {
	if r.off+4 > len(r.b) {
		return 0, false
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, true
}

func (r *mcReader) str() (string, bool) {
	n, ok := r.u32()
	if !ok || uint64(n) > uint64(len(r.b)-r.off) {
		return "", false
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s, true
}

func (r *mcReader) answers() ([]string, []int32, bool) {
	n, ok := r.u32()
	if !ok || n > 100 {
		return nil, nil, false
	}
	ans := make([]string, n)
	for i := range ans {
		if ans[i], ok = r.str(); !ok {
			return nil, nil, false
		}
	}
	labels := make([]int32, n)
	for i := range labels {
		v, ok := r.u32()
		if !ok {
			return nil, nil, false
		}
		labels[i] = int32(v)
	}
	return ans, labels, true
}

// WriteMultipleChoice writes items in llama.cpp's binary multiple-choice
// format (an empty mc2 set each), for llama-perplexity --multiple-choice -bf.
func WriteMultipleChoice(w io.Writer, items []MultipleChoiceItem) error {
	var body bytes.Buffer
	put := func(v uint32) { _ = binary.Write(&body, binary.LittleEndian, v) }
	offsets := make([]uint32, len(items))
	head := 4 + 4*len(items)
	for i, it := range items {
		if len(it.Answers) != len(it.Labels) || len(it.Answers) > 100 {
			return fmt.Errorf("%w: multiple choice: task %d has %d answers and %d labels (at most 100)", ErrTaskFile, i+1, len(it.Answers), len(it.Labels))
		}
		offsets[i] = uint32(head + body.Len())
		put(uint32(len(it.Question)))
		body.WriteString(it.Question)
		put(uint32(len(it.Answers)))
		for _, a := range it.Answers {
			put(uint32(len(a)))
			body.WriteString(a)
		}
		for _, l := range it.Labels {
			put(uint32(l))
		}
		put(0)
	}
	bw := bufio.NewWriter(w)
	_ = binary.Write(bw, binary.LittleEndian, uint32(len(items)))
	_ = binary.Write(bw, binary.LittleEndian, offsets)
	if _, err := bw.Write(body.Bytes()); err != nil {
		return err
	}
	return bw.Flush()
}

// parseJSONL decodes one JSON object per non-blank line, unknown keys
// being an error, and checks each with check.
func parseJSONL[T any](data []byte, check func(*T) error) ([]T, error) {
	var items []T
	for n, line := range bytes.Split(data, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var it T
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&it); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrTaskFile, n+1, err)
		}
		if err := check(&it); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrTaskFile, n+1, err)
		}
		items = append(items, it)
	}
	return items, nil
}

func checkChoice(it *ChoiceItem) error {
	switch {
	case len(it.Choices) < 2:
		return fmt.Errorf(`want "query", "choices" (at least 2) and "gold"; a "prompt" item belongs in a generation file`)
	case it.Gold == nil:
		return fmt.Errorf(`no "gold" index`)
	case *it.Gold < 0 || *it.Gold >= len(it.Choices):
		return fmt.Errorf(`"gold" %d is not an index of the %d choices`, *it.Gold, len(it.Choices))
	}
	for i, c := range it.Choices {
		if c == "" {
			return fmt.Errorf("choice %d is empty", i)
		}
	}
	return nil
}

func checkGenerate(it *GenerateItem) error {
	if it.Prompt == "" {
		return fmt.Errorf(`want a non-empty "prompt" and "target" or "pattern"; a "choices" item belongs in a multiple-choice file`)
	}
	if (it.Target == nil) == (it.Pattern == nil) {
		return fmt.Errorf(`want exactly one of "target" and "pattern"`)
	}
	if it.Pattern != nil {
		re, err := regexp.Compile(*it.Pattern)
		if err != nil {
			return fmt.Errorf("pattern: %v", err)
		}
		it.re = re
	}
	return nil
}
