package safetensors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shrink-llm/shrink/format"
)

// IndexName is the file that maps tensors to shards in a sharded folder.
const IndexName = "model.safetensors.index.json"

// SingleName is the weights file of an unsharded folder.
const SingleName = "model.safetensors"

// MaxReadFile is the largest file Folder.ReadFile returns (64 MiB).
const MaxReadFile = 64 << 20

// Folder is a Hugging Face model folder: config.json, tokenizer files and
// the weights in one or several safetensors files. The weights are found as
// follows: model.safetensors.index.json when present (its weight_map must
// list exactly the tensors of the shards it names); otherwise
// model.safetensors when present; otherwise every *.safetensors file.
// Tensor names are unique across the shards. Folder implements
// format.Source.
type Folder struct {
	fsys    fs.FS
	dir     string // path of the folder for messages ("" for NewFolder)
	names   []string
	shards  []*File
	tensors []format.TensorInfo
	where   map[string]int // tensor name -> shard index
}

// OpenFolder opens the model folder dir, read through os.DirFS.
func OpenFolder(dir string) (*Folder, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, &format.FormatError{File: dir, Offset: -1, Msg: "not a folder"}
	}
	return newFolder(os.DirFS(dir), dir)
}

// NewFolder opens the model folder fsys. Its files must implement
// io.ReaderAt, as those of os.DirFS, embed.FS and fstest.MapFS do.
func NewFolder(fsys fs.FS) (*Folder, error) {
	return newFolder(fsys, "")
}

func newFolder(fsys fs.FS, dir string) (*Folder, error) {
	d := &Folder{fsys: fsys, dir: dir, where: map[string]int{}}
	var err error
	switch {
	case d.Has(IndexName):
		err = d.openIndexed()
	case d.Has(SingleName):
		err = d.openShards([]string{SingleName})
	default:
		var names []string
		names, err = fs.Glob(fsys, "*.safetensors")
		names = slices.DeleteFunc(names, func(n string) bool { return !d.Has(n) })
		if err == nil && len(names) == 0 {
			err = &format.FormatError{File: d.display("."), Offset: -1, Msg: "no model.safetensors, index or *.safetensors file", Err: ErrNoWeights}
		}
		if err == nil {
			err = d.openShards(names)
		}
	}
	if err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// display returns the name of a file of the folder for messages.
func (d *Folder) display(name string) string {
	if d.dir == "" {
		return name
	}
	return filepath.Join(d.dir, filepath.FromSlash(name))
}

// openFile opens one shard.
func (d *Folder) openFile(name string) (*File, error) {
	fh, err := d.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	ra, ok := fh.(io.ReaderAt)
	if !ok {
		fh.Close()
		return nil, &format.FormatError{File: d.display(name), Offset: -1, Msg: "cannot read", Err: ErrNoRandomAccess}
	}
	f, err := newReader(ra, st.Size(), d.display(name))
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// openShards opens the named shards in order and indexes their tensors.
func (d *Folder) openShards(names []string) error {
	for _, name := range names {
		f, err := d.openFile(name)
		if err != nil {
			return err
		}
		d.names = append(d.names, name)
		d.shards = append(d.shards, f)
		for _, t := range f.tensors {
			if prev, dup := d.where[t.Name]; dup {
				return &format.FormatError{File: f.name, Tensor: t.Name, Offset: f.dataStart + t.Begin,
					Msg: "tensor also in shard " + d.names[prev]}
			}
			d.where[t.Name] = len(d.shards) - 1
			d.tensors = append(d.tensors, t.TensorInfo)
		}
	}
	return nil
}

// mapEntry is one weight_map entry and its offset in the index file.
type mapEntry struct {
	tensor, shard string
	off           int64
}

// openIndexed opens a sharded folder through its index.
func (d *Folder) openIndexed() error {
	idxName := d.display(IndexName)
	data, err := d.ReadFile(IndexName)
	if err != nil {
		return err
	}
	entries, err := parseIndex(data, idxName)
	if err != nil {
		return err
	}
	var shards []string
	for _, e := range entries {
		if !validShardName(e.shard) {
			return &format.FormatError{File: idxName, Tensor: e.tensor, Offset: e.off, Msg: fmt.Sprintf("shard name %q is not a plain file name", e.shard)}
		}
		if !slices.Contains(shards, e.shard) {
			shards = append(shards, e.shard)
		}
	}
	slices.Sort(shards)
	for _, name := range shards {
		if err := d.openShards([]string{name}); err != nil {
			var off int64
			var tensor string
			for _, e := range entries {
				if e.shard == name {
					off, tensor = e.off, e.tensor
					break
				}
			}
			if _, ok := err.(*format.FormatError); ok {
				return err
			}
			return &format.FormatError{File: idxName, Tensor: tensor, Offset: off, Msg: "shard " + name, Err: err}
		}
	}
	mapped := make(map[string]bool, len(entries))
	for _, e := range entries {
		i, ok := d.where[e.tensor]
		if !ok || d.names[i] != e.shard {
			return &format.FormatError{File: idxName, Tensor: e.tensor, Offset: e.off, Msg: "tensor not found in shard " + e.shard}
		}
		mapped[e.tensor] = true
	}
	for i, f := range d.shards {
		for _, t := range f.tensors {
			if !mapped[t.Name] {
				return &format.FormatError{File: f.name, Tensor: t.Name, Offset: f.dataStart + t.Begin,
					Msg: "tensor of shard " + d.names[i] + " is not in the weight_map of " + IndexName}
			}
		}
	}
	return nil
}

// validShardName reports whether name is a plain file name of the folder.
func validShardName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`) && fs.ValidPath(name)
}

// parseIndex returns the weight_map entries of an index file in file order,
// refusing duplicate tensor names.
func parseIndex(data []byte, name string) ([]mapEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	bad := func(err error, msg string) error {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return &format.FormatError{File: name, Offset: dec.InputOffset(), Msg: msg, Err: err}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, bad(err, "invalid JSON")
	}
	if tok != json.Delim('{') {
		return nil, bad(nil, "not a JSON object")
	}
	var entries []mapEntry
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad(err, "invalid JSON")
		}
		if tok != "weight_map" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, bad(err, "invalid JSON")
			}
			continue
		}
		if found {
			return nil, bad(nil, "duplicate weight_map")
		}
		found = true
		if tok, err = dec.Token(); err != nil {
			return nil, bad(err, "invalid JSON")
		}
		if tok != json.Delim('{') {
			return nil, bad(nil, "weight_map is not an object")
		}
		seen := map[string]bool{}
		for dec.More() {
			off := dec.InputOffset()
			tok, err := dec.Token()
			if err != nil {
				return nil, bad(err, "invalid JSON")
			}
			tensor, _ := tok.(string)
			if tok, err = dec.Token(); err != nil {
				return nil, bad(err, "invalid JSON")
			}
			shard, ok := tok.(string)
			if !ok {
				return nil, &format.FormatError{File: name, Tensor: tensor, Offset: off, Msg: "weight_map value is not a string"}
			}
			if seen[tensor] {
				return nil, &format.FormatError{File: name, Tensor: tensor, Offset: off, Msg: "duplicate tensor in weight_map"}
			}
			seen[tensor] = true
			entries = append(entries, mapEntry{tensor, shard, off})
		}
		if _, err := dec.Token(); err != nil {
			return nil, bad(err, "invalid JSON")
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, bad(err, "invalid JSON")
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("unexpected %s", tokenString(tok))
		}
		return nil, bad(err, "trailing data after the JSON object")
	}
	if !found {
		return nil, bad(nil, "no weight_map")
	}
	if len(entries) == 0 {
		return nil, bad(nil, "empty weight_map")
	}
	return entries, nil
}

// Shards returns the names of the safetensors files in use, in the order
// their tensors are listed.
func (d *Folder) Shards() []string { return slices.Clone(d.names) }

// Tensors lists the tensors of all shards: shard by shard, each in
// data-offset order.
func (d *Folder) Tensors() []format.TensorInfo {
	out := make([]format.TensorInfo, len(d.tensors))
	for i, t := range d.tensors {
		out[i] = t
		out[i].Shape = slices.Clone(t.Shape)
	}
	return out
}

// Tensor returns the description of the named tensor; Begin and End are
// relative to the data buffer of its shard (see ShardOf).
func (d *Folder) Tensor(name string) (TensorInfo, bool) {
	i, ok := d.where[name]
	if !ok {
		return TensorInfo{}, false
	}
	return d.shards[i].Tensor(name)
}

// ShardOf returns the name of the shard holding the named tensor, or "".
func (d *Folder) ShardOf(name string) string {
	i, ok := d.where[name]
	if !ok {
		return ""
	}
	return d.names[i]
}

// TensorData returns a reader over the raw little-endian bytes of the named
// tensor.
func (d *Folder) TensorData(name string) (*io.SectionReader, error) {
	i, ok := d.where[name]
	if !ok {
		return nil, &format.FormatError{File: d.display("."), Tensor: name, Offset: -1, Msg: "no such tensor", Err: format.ErrNotFound}
	}
	return d.shards[i].TensorData(name)
}

// Has reports whether the folder holds a file called name (a slash-separated
// path relative to the folder).
func (d *Folder) Has(name string) bool {
	st, err := fs.Stat(d.fsys, name)
	return err == nil && !st.IsDir()
}

// ReadFile returns the content of the folder's file name, such as
// config.json, tokenizer.json or tokenizer.model. Files over MaxReadFile
// bytes are refused.
func (d *Folder) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
	}
	fh, err := d.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: d.display(name), Err: fs.ErrInvalid}
	}
	tooBig := &format.FormatError{File: d.display(name), Offset: 0, Msg: fmt.Sprintf("larger than %d bytes", MaxReadFile), Err: format.ErrTooLarge}
	if st.Size() > MaxReadFile {
		return nil, tooBig
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxReadFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxReadFile {
		return nil, tooBig
	}
	return data, nil
}

// Close closes every shard.
func (d *Folder) Close() error {
	var first error
	for _, f := range d.shards {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
