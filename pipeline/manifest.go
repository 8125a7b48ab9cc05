package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/shrink-llm/shrink/format"
)

// ManifestSchema is the value of a manifest's "schema" key.
const ManifestSchema = "shrink.pipeline/v1"

// ManifestName is the manifest's file name in the output folder.
const ManifestName = "manifest.json"

// Manifest records a pipeline run: OUT/manifest.json.
type Manifest struct {
	// Schema is ManifestSchema.
	Schema string `json:"schema"`
	// Shrink is the version of shrink that ran the steps.
	Shrink string `json:"shrink_version"`
	// Name and Recipe are the recipe's name and file.
	Name   string `json:"name"`
	Recipe string `json:"recipe,omitempty"`
	// Started and Ended bound the run that wrote the manifest (Ended is
	// zero while it runs).
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// Steps are the steps' records in recipe order.
	Steps []StepRecord `json:"steps"`
	// Final is the chain's last model output (relative to OUT), and
	// Modelfile the Ollama Modelfile written beside it, if any.
	Final     string `json:"final,omitempty"`
	Modelfile string `json:"modelfile,omitempty"`
	// Card is the model card (README.md) written for the final model.
	Card string `json:"card,omitempty"`
}

// StepRecord is one step's entry in the manifest.
type StepRecord struct {
	// ID and Kind are the step's id and kind in the recipe.
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Input is the recipe's name of the step's input.
	Input string `json:"input"`
	// Options are the step's options as decoded, defaults included, with
	// paths as the recipe wrote them.
	Options json.RawMessage `json:"options"`
	// Inputs are the files the step read (its input first, then its path
	// options), Outputs the files it wrote.
	Inputs  []FileRecord `json:"inputs"`
	Outputs []FileRecord `json:"outputs"`
	// Started and Ended bound the run of the step (UTC).
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Seconds is the step's duration.
	Seconds float64 `json:"duration_s"`
	// Figures are the step's measurements (bench metrics; for model
	// outputs "bytes" and "params").
	Figures map[string]float64 `json:"figures,omitempty"`
	// Checks are a gate's checks, and Passed whether all of them passed.
	Checks []CheckRecord `json:"checks,omitempty"`
	Passed *bool         `json:"passed,omitempty"`
	// Resumed is set when the step continued the work of an interrupted
	// run (Call.Resume).
	Resumed bool `json:"resumed,omitempty"`
	// Reused is set when this run skipped the step: the record is the
	// one of the run that computed it.
	Reused bool `json:"reused,omitempty"`
}

// FileRecord identifies one input or output file (or model folder) by
// content.
type FileRecord struct {
	// Role is "input" for a step's input, the option's name for a path
	// option, and "output" for an output.
	Role string `json:"role"`
	// Path is absolute for inputs and relative to the output folder for
	// outputs.
	Path string `json:"path"`
	// SHA256 is the file's hash; for a folder, the hash of the lines
	// "<sha256>  <relative path>\n" of its regular files in path order
	// (the format of sha256sum).
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// CheckRecord is one gate check in the manifest.
type CheckRecord struct {
	Check  string  `json:"check"`
	Value  float64 `json:"value"`
	Pass   bool    `json:"pass"`
	Detail string  `json:"detail,omitempty"`
}

// ReadManifest reads OUT/manifest.json; a missing file gives (nil, nil).
func ReadManifest(outDir string) (*Manifest, error) {
	path := filepath.Join(outDir, ManifestName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %v (delete it to start over)", path, jsonError(data, err))
	}
	if m.Schema != ManifestSchema {
		return nil, fmt.Errorf("%s: schema %q, want %q (delete it to start over)", path, m.Schema, ManifestSchema)
	}
	return &m, nil
}

// write writes the manifest to OUT/manifest.json atomically.
func (m *Manifest) write(outDir string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return format.WriteFileAtomic(filepath.Join(outDir, ManifestName), append(data, '\n'))
}

// record returns the manifest's record of step id.
func (m *Manifest) record(id string) *StepRecord {
	if m == nil {
		return nil
	}
	for i := range m.Steps {
		if m.Steps[i].ID == id {
			return &m.Steps[i]
		}
	}
	return nil
}

// hasher hashes files once per run: a file is known by path, size and
// modification time.
type hasher struct {
	seen map[string]hashed
}

type hashed struct {
	size  int64
	mtime time.Time
	sum   string
	bytes int64
}

// file returns the record of path (a file or a folder) with role.
func (h *hasher) file(role, path string) (FileRecord, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return FileRecord{}, err
	}
	if h.seen == nil {
		h.seen = map[string]hashed{}
	}
	if c, ok := h.seen[path]; ok && !fi.IsDir() && c.size == fi.Size() && c.mtime.Equal(fi.ModTime()) {
		return FileRecord{Role: role, Path: path, SHA256: c.sum, Bytes: c.bytes}, nil
	}
	var sum string
	var n int64
	if fi.IsDir() {
		sum, n, err = hashDir(path)
	} else {
		sum, n, err = hashFile(path)
	}
	if err != nil {
		return FileRecord{}, err
	}
	h.seen[path] = hashed{fi.Size(), fi.ModTime(), sum, n}
	return FileRecord{Role: role, Path: path, SHA256: sum, Bytes: n}, nil
}

// forget drops path from the cache (it is about to be rewritten).
func (h *hasher) forget(path string) { delete(h.seen, path) }

// hashFile returns the SHA-256 and size of a file.
func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	s := sha256.New()
	n, err := io.Copy(s, f)
	if err != nil {
		return "", 0, fmt.Errorf("%s: offset %d: %w", path, n, err)
	}
	return hex.EncodeToString(s.Sum(nil)), n, nil
}

// hashDir hashes the sha256sum listing of a folder's regular files.
func hashDir(dir string) (string, int64, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", 0, err
	}
	sort.Strings(files)
	s := sha256.New()
	var total int64
	for _, p := range files {
		sum, n, err := hashFile(p)
		if err != nil {
			return "", 0, err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(s, "%s  %s\n", sum, filepath.ToSlash(rel))
		total += n
	}
	return hex.EncodeToString(s.Sum(nil)), total, nil
}
