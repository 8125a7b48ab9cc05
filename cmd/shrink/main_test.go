package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	code = runMain(args, &o, &e)
	return code, o.String(), e.String()
}

func TestHelpAndUsage(t *testing.T) {
	if code, out, _ := run(t, "help"); code != 0 || !strings.Contains(out, "convert") {
		t.Errorf("help: code %d, output %q", code, out)
	}
	for _, c := range commands {
		if code, out, _ := run(t, c.name, "--help"); code != 0 || !strings.Contains(out, "Usage: shrink "+c.name) {
			t.Errorf("%s --help: code %d, output %q", c.name, code, out)
		}
	}
	if code, _, e := run(t, "frobnicate"); code != 2 || !strings.Contains(e, "unknown command") {
		t.Errorf("unknown command: code %d, %q", code, e)
	}
	if code, _, e := run(t, "convert", "only-one-arg"); code != 2 || !strings.Contains(e, "SRC DST") {
		t.Errorf("convert with one arg: code %d, %q", code, e)
	}
	if code, _, e := run(t, "inspect", "--no-such-flag", "x"); code != 2 || !strings.Contains(e, "unknown flag") {
		t.Errorf("bad flag: code %d, %q", code, e)
	}
	if code, _, e := run(t, "convert", "--dtype", "q4_0", "a", "b.gguf"); code != 2 || !strings.Contains(e, "--dtype") {
		t.Errorf("bad dtype: code %d, %q", code, e)
	}
}

// TestUnimplementedSaySo checks the path a command without a run function
// takes (one declared in the table before its work exists): exit 2 and a
// plain "not implemented" on stderr, never a silent success.
func TestUnimplementedSaySo(t *testing.T) {
	saved := commands
	t.Cleanup(func() { commands = saved })
	commands = append(slices.Clip(saved), &command{name: "future", args: "X", summary: "not yet"})
	code, out, e := run(t, "future", "x")
	if code != 2 || !strings.Contains(e, "future: not implemented") || out != "" {
		t.Errorf("future: code %d, stdout %q, stderr %q", code, out, e)
	}
	for _, c := range saved {
		if c.run == nil {
			t.Errorf("%s is in the command table without a run function", c.name)
		}
	}
}

// malformed returns named malformed inputs, each a file in dir.
func malformed(t *testing.T, dir string) map[string]string {
	le := binary.LittleEndian
	files := map[string][]byte{}
	files["wrong-magic.gguf"] = []byte("GGUX\x03\x00\x00\x00" + strings.Repeat("\x00", 16))
	files["version1.gguf"] = append([]byte("GGUF"), le.AppendUint32(nil, 1)...)
	g := append([]byte("GGUF"), le.AppendUint32(nil, 3)...)
	g = le.AppendUint64(g, 1<<40) // tensor count far beyond the file
	g = le.AppendUint64(g, 0)
	files["huge-count.gguf"] = g
	g2 := append([]byte("GGUF"), le.AppendUint32(nil, 3)...)
	g2 = le.AppendUint64(g2, 0)
	g2 = le.AppendUint64(g2, 1)
	g2 = le.AppendUint64(g2, 1<<62) // key length past the end
	files["huge-string.gguf"] = g2
	st := le.AppendUint64(nil, 1<<30) // header longer than the file
	files["long-header.safetensors"] = append(st, []byte("{}")...)
	hdr := []byte(`[1,2,3]`)
	files["not-object.safetensors"] = append(le.AppendUint64(nil, uint64(len(hdr))), hdr...)
	hdr = []byte(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`)
	ov := append(le.AppendUint64(nil, uint64(len(hdr))), hdr...)
	files["overlap.safetensors"] = append(ov, make([]byte, 12)...)
	hdr = []byte(`{"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}}`)
	files["dtype.safetensors"] = append(append(le.AppendUint64(nil, uint64(len(hdr))), hdr...), make([]byte, 8)...)
	files["empty"] = nil
	paths := map[string]string{}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	return paths
}

// TestMalformedInputs: every malformed input yields exit code 2 and one
// error line naming the file and a byte offset, and leaves no output.
func TestMalformedInputs(t *testing.T) {
	dir := t.TempDir()
	outDir := t.TempDir()
	for name, p := range malformed(t, dir) {
		for _, args := range [][]string{
			{"inspect", p},
			{"convert", p, filepath.Join(outDir, "out.gguf")},
			{"convert", p, filepath.Join(outDir, "hf")},
		} {
			code, _, e := run(t, args...)
			if code != 2 {
				t.Errorf("%s %s: exit code %d, want 2", args[0], name, code)
			}
			if strings.Count(e, "\n") != 1 || !strings.Contains(e, p) || !strings.Contains(e, "offset") {
				t.Errorf("%s %s: want one line naming the file and offset, got %q", args[0], name, e)
			}
		}
	}
	left, _ := os.ReadDir(outDir)
	for _, f := range left {
		t.Errorf("output left behind: %s", f.Name())
	}
}

// TestTruncatedFiles cuts real files (the default model as safetensors and
// as GGUF) at many points: every cut is refused with exit code 2 and one
// line naming the file and an offset, and no output is left.
func TestTruncatedFiles(t *testing.T) {
	dir := t.TempDir()
	g := filepath.Join(dir, "default.gguf")
	if code, _, e := run(t, "convert", "-q", filepath.Join("..", "..", "models", "default"), g); code != 0 {
		t.Fatalf("convert default: %d %s", code, e)
	}
	st, err := os.ReadFile(filepath.Join("..", "..", "models", "default", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	gb, err := os.ReadFile(g)
	if err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	for _, f := range []struct {
		name string
		data []byte
	}{{"m.safetensors", st}, {"m.gguf", gb}} {
		for i := 0; i < 24; i++ {
			cut := len(f.data) * i / 24
			if i == 23 {
				cut = len(f.data) - 1
			}
			p := filepath.Join(dir, f.name)
			if err := os.WriteFile(p, f.data[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"inspect", p}, {"convert", p, filepath.Join(outDir, "o.gguf")}} {
				code, _, e := run(t, args...)
				if code != 2 || strings.Count(e, "\n") != 1 || !strings.Contains(e, p) || !strings.Contains(e, "offset") {
					t.Errorf("%s %s cut at %d: code %d, %q", args[0], f.name, cut, code, e)
				}
			}
		}
	}
	if left, _ := os.ReadDir(outDir); len(left) != 0 {
		t.Errorf("outputs left behind: %v", left)
	}
}
