package safetensors

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"

	"github.com/shrink-llm/shrink/format"
)

func init() {
	format.Register(format.Format{
		Name:     "safetensors",
		Match:    matchFile,
		Open:     openSource,
		Priority: 0,
	})
	format.Register(format.Format{
		Name:     "safetensors-folder",
		Match:    matchFolder,
		Open:     openFolderSource,
		Priority: 10,
	})
}

// matchFile recognises a file whose first 8 bytes are a header length that
// fits the file, followed by '{'.
func matchFile(path string, head []byte, isDir bool) bool {
	if isDir || len(head) < 9 || head[8] != '{' {
		return false
	}
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	n := binary.LittleEndian.Uint64(head)
	return n > 0 && st.Size() >= 8 && n <= uint64(st.Size()-8)
}

// matchFolder recognises a folder holding model.safetensors.index.json or
// any *.safetensors file.
func matchFolder(path string, head []byte, isDir bool) bool {
	if !isDir {
		return false
	}
	if st, err := os.Stat(filepath.Join(path, IndexName)); err == nil && !st.IsDir() {
		return true
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".safetensors") {
			return true
		}
	}
	return false
}

func openSource(path string) (format.Source, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func openFolderSource(path string) (format.Source, error) {
	d, err := OpenFolder(path)
	if err != nil {
		return nil, err
	}
	return d, nil
}

var (
	_ format.Source = (*File)(nil)
	_ format.Source = (*Folder)(nil)
)
