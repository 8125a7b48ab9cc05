package quantize

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"sync"

	"github.com/shrink-llm/shrink/format"
)

// ErrImatrix is wrapped by the errors about an importance matrix that does
// not fit the model.
var ErrImatrix = errors.New("quantize: importance matrix")

// Imatrix is an importance matrix: for every weight (by GGUF name), the
// mean squared activation of each input channel over the calibration
// tokens (the diagonal of E[x xᵀ]), which the importance-weighted searches
// use as per-column weights.
//
// On disk it is llama.cpp's legacy imatrix.dat (examples/imatrix/imatrix.cpp
// save_imatrix, examples/quantize/quantize.cpp load_imatrix), all integers
// little-endian int32:
//
//	n_entries
//	n_entries times: name length, name bytes, ncall, nval, nval float32
//	optional trailer: last chunk count, dataset name length, dataset name
//
// where the stored values are (sum of x² / count) * ncall and readers divide
// by ncall (when ncall > 0), so Values hold the means.
type Imatrix struct {
	Entries []ImatrixEntry // in file order
	// Chunks is the number of calibration chunks (the trailer's last call).
	Chunks int
	// Dataset names the calibration text (the trailer's file name).
	Dataset string
	index   map[string]int
}

// ImatrixEntry is one weight's importances.
type ImatrixEntry struct {
	Name   string
	NCall  int       // number of products accumulated
	Values []float32 // mean x² per input channel
}

// Get returns the importances of the weight called name.
func (m *Imatrix) Get(name string) ([]float32, bool) {
	if m == nil {
		return nil, false
	}
	if m.index == nil {
		m.reindex()
	}
	i, ok := m.index[name]
	if !ok {
		return nil, false
	}
	return m.Entries[i].Values, true
}

func (m *Imatrix) reindex() {
	m.index = make(map[string]int, len(m.Entries))
	for i, e := range m.Entries {
		m.index[e.Name] = i
	}
}

// Set adds or replaces an entry.
func (m *Imatrix) Set(e ImatrixEntry) {
	if m.index == nil {
		m.reindex()
	}
	if i, ok := m.index[e.Name]; ok {
		m.Entries[i] = e
		return
	}
	m.index[e.Name] = len(m.Entries)
	m.Entries = append(m.Entries, e)
}

// CheckShape verifies that the entry for a weight with rows of ne0
// elements has ne0 values. A mismatch is an error naming the tensor,
// except for token_embd.weight (whose "input" is a token id, as llama.cpp
// tolerates); the entry is then ignored. It returns the importances to use,
// or nil.
//
// For a stacked expert tensor, experts gives its number of experts
// (ne2): the entry then holds ne0 values per expert, as llama-imatrix
// writes it.
func (m *Imatrix) CheckShape(name string, ne0 int64, experts ...int64) ([]float32, error) {
	v, ok := m.Get(name)
	if !ok {
		return nil, nil
	}
	for _, e := range experts {
		ne0 *= e
	}
	if int64(len(v)) != ne0 {
		if name == "token_embd.weight" {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: entry for tensor %q has %d values, the tensor has rows of %d", ErrImatrix, name, len(v), ne0)
	}
	return v, nil
}

// maxImatrixValues bounds one entry (2^28 floats, 1 GiB).
const maxImatrixValues = 1 << 28

// OpenImatrix reads an imatrix.dat file.
func OpenImatrix(path string) (*Imatrix, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	m, err := ReadImatrix(f, fi.Size())
	if fe, ok := err.(*format.FormatError); ok {
		fe.File = path
	}
	return m, err
}

// ReadImatrix reads an imatrix.dat of size bytes from r. Every count and
// length is checked against the bytes left before anything is allocated;
// values must be finite and non-negative.
func ReadImatrix(r io.ReaderAt, size int64) (*Imatrix, error) {
	off := int64(0)
	bad := func(at int64, tensor, msg string, args ...any) error {
		return &format.FormatError{Tensor: tensor, Offset: at, Msg: fmt.Sprintf(msg, args...)}
	}
	i32 := func(what, tensor string) (int64, error) {
		b, err := format.ReadAt(r, size, off, 4)
		if err != nil {
			return 0, &format.FormatError{Tensor: tensor, Offset: off, Msg: "reading " + what, Err: err}
		}
		off += 4
		return int64(int32(binary.LittleEndian.Uint32(b))), nil
	}
	n, err := i32("entry count", "")
	if err != nil {
		return nil, err
	}
	// An entry takes at least 16 bytes (three int32 and one value).
	if n < 1 || n > (size-4)/16 {
		return nil, bad(0, "", "entry count %d does not fit a file of %d bytes", n, size)
	}
	m := &Imatrix{Entries: make([]ImatrixEntry, 0, n), index: make(map[string]int, n)}
	for i := int64(0); i < n; i++ {
		at := off
		l, err := i32("name length", "")
		if err != nil {
			return nil, err
		}
		if l < 0 || l > size-off {
			return nil, bad(at, "", "entry %d: name length %d past the end of the file", i, l)
		}
		nb, err := format.ReadAt(r, size, off, l)
		if err != nil {
			return nil, &format.FormatError{Offset: off, Msg: "reading a name", Err: err}
		}
		off += l
		name := string(nb)
		ncall, err := i32("ncall", name)
		if err != nil {
			return nil, err
		}
		at = off
		nval, err := i32("value count", name)
		if err != nil {
			return nil, err
		}
		if nval < 1 || nval > maxImatrixValues || nval*4 > size-off {
			return nil, bad(at, name, "value count %d does not fit the file", nval)
		}
		vb, err := format.ReadAt(r, size, off, nval*4)
		if err != nil {
			return nil, &format.FormatError{Tensor: name, Offset: off, Msg: "reading values", Err: err}
		}
		vals := make([]float32, nval)
		for j := range vals {
			v := math.Float32frombits(binary.LittleEndian.Uint32(vb[4*j:]))
			if ncall > 0 {
				v /= float32(ncall)
			}
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v < 0 {
				return nil, bad(off+4*int64(j), name, "value %d is %v (want finite and non-negative)", j, v)
			}
			vals[j] = v
		}
		off += nval * 4
		m.Set(ImatrixEntry{Name: name, NCall: int(ncall), Values: vals})
	}
	if off == size {
		return m, nil
	}
	chunks, err := i32("chunk count", "")
	if err != nil {
		return nil, err
	}
	at := off
	l, err := i32("dataset name length", "")
	if err != nil {
		return nil, err
	}
	if l < 0 || l > size-off {
		return nil, bad(at, "", "dataset name length %d past the end of the file", l)
	}
	db, err := format.ReadAt(r, size, off, l)
	if err != nil {
		return nil, &format.FormatError{Offset: off, Msg: "reading the dataset name", Err: err}
	}
	off += l
	if off != size {
		return nil, bad(off, "", "%d bytes after the trailer", size-off)
	}
	m.Chunks, m.Dataset = int(chunks), string(db)
	return m, nil
}

// WriteTo writes m in the imatrix.dat format, with the trailer.
func (m *Imatrix) WriteTo(w io.Writer) (int64, error) {
	le := binary.LittleEndian
	var total int64
	put := func(b []byte) error {
		n, err := w.Write(b)
		total += int64(n)
		return err
	}
	if len(m.Entries) == 0 {
		return 0, fmt.Errorf("%w: no entries to write", ErrImatrix)
	}
	if err := put(le.AppendUint32(nil, uint32(len(m.Entries)))); err != nil {
		return total, err
	}
	for _, e := range m.Entries {
		b := le.AppendUint32(nil, uint32(len(e.Name)))
		b = append(b, e.Name...)
		b = le.AppendUint32(b, uint32(int32(e.NCall)))
		b = le.AppendUint32(b, uint32(len(e.Values)))
		scale := float32(1)
		if e.NCall > 0 {
			scale = float32(e.NCall)
		}
		for _, v := range e.Values {
			b = le.AppendUint32(b, math.Float32bits(v*scale))
		}
		if err := put(b); err != nil {
			return total, err
		}
	}
	b := le.AppendUint32(nil, uint32(int32(m.Chunks)))
	b = le.AppendUint32(b, uint32(len(m.Dataset)))
	b = append(b, m.Dataset...)
	return total, put(b)
}

// WriteFile writes m to path atomically.
func (m *Imatrix) WriteFile(path string) error {
	f, err := format.CreateAtomic(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := m.WriteTo(f); err != nil {
		return err
	}
	return f.Commit()
}

// Collector accumulates an importance matrix from observed products: for
// each weight, the sum over tokens of the square of each input channel,
// as llama-imatrix does (one call per product, count per channel). It is
// safe for concurrent use.
type Collector struct {
	mu    sync.Mutex
	stats map[string]*collected
}

type collected struct {
	sum    []float64
	count  int64
	ncall  int
	counts []int64 // per expert, for a stacked expert weight (nil otherwise)
}

// NewCollector returns an empty collector.
func NewCollector() *Collector { return &Collector{stats: map[string]*collected{}} }

// Add records the input of one product with the weight name: rows tokens
// of cols channels, row-major.
func (c *Collector) Add(name string, x []float32, rows, cols int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats[name]
	if s == nil {
		s = &collected{sum: make([]float64, cols)}
		c.stats[name] = s
	}
	if len(s.sum) != cols || rows*cols > len(x) {
		return // a different width under the same name: ignored
	}
	for r := 0; r < rows; r++ {
		row := x[r*cols : (r+1)*cols]
		for j, v := range row {
			s.sum[j] += float64(v) * float64(v)
		}
	}
	s.count += int64(rows)
	s.ncall++
}

// AddExpert records the input of one product with expert expert's slice
// of the stacked weight name (experts slices of cols inputs each): rows
// tokens routed to it. As llama-imatrix counts mul_mat_id, the entry holds
// experts x cols values, each expert's mean over its own tokens.
func (c *Collector) AddExpert(name string, expert, experts int, x []float32, rows, cols int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats[name]
	if s == nil {
		s = &collected{sum: make([]float64, experts*cols), counts: make([]int64, experts)}
		c.stats[name] = s
	}
	if len(s.counts) != experts || len(s.sum) != experts*cols || expert < 0 || expert >= experts || rows*cols > len(x) {
		return // a different shape under the same name: ignored
	}
	sum := s.sum[expert*cols : (expert+1)*cols]
	for r := 0; r < rows; r++ {
		for j, v := range x[r*cols : (r+1)*cols] {
			sum[j] += float64(v) * float64(v)
		}
	}
	s.counts[expert] += int64(rows)
	s.count += int64(rows)
	s.ncall++
}

// Imatrix returns the means collected so far, entries sorted by name. An
// expert entry with an expert that no calibration token was routed to is
// left out, as llama-imatrix leaves out entries with partial data: the
// tensor is then quantized without importances.
func (c *Collector) Imatrix(chunks int, dataset string) *Imatrix {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.stats))
	for n, s := range c.stats {
		if s.count > 0 && !slices.Contains(s.counts, 0) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	m := &Imatrix{Chunks: chunks, Dataset: dataset}
	for _, n := range names {
		s := c.stats[n]
		v := make([]float32, len(s.sum))
		for j, x := range s.sum {
			n := s.count
			if s.counts != nil {
				n = s.counts[j/(len(s.sum)/len(s.counts))]
			}
			v[j] = float32(x / float64(n))
		}
		m.Set(ImatrixEntry{Name: n, NCall: s.ncall, Values: v})
	}
	return m
}
