package quantize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// handImatrix builds an imatrix.dat by hand: two entries and the trailer.
func handImatrix() []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 2)
	b = le.AppendUint32(b, 19)
	b = append(b, "blk.0.attn_q.weight"...)
	b = le.AppendUint32(b, 4)              // ncall
	b = le.AppendUint32(b, 3)              // nval
	for _, v := range []float32{4, 8, 2} { // stored = mean * ncall
		b = le.AppendUint32(b, math.Float32bits(v))
	}
	b = le.AppendUint32(b, 13)
	b = append(b, "output.weight"...)
	b = le.AppendUint32(b, 0) // ncall 0: values taken as they are
	b = le.AppendUint32(b, 2)
	for _, v := range []float32{1.5, 0} {
		b = le.AppendUint32(b, math.Float32bits(v))
	}
	b = le.AppendUint32(b, 10) // last chunk
	b = le.AppendUint32(b, 8)
	b = append(b, "wiki.txt"...)
	return b
}

func TestImatrixHandMade(t *testing.T) {
	data := handImatrix()
	m, err := ReadImatrix(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Entries) != 2 || m.Chunks != 10 || m.Dataset != "wiki.txt" {
		t.Fatalf("got %d entries, chunks %d, dataset %q", len(m.Entries), m.Chunks, m.Dataset)
	}
	q, ok := m.Get("blk.0.attn_q.weight")
	if !ok || len(q) != 3 || q[0] != 1 || q[1] != 2 || q[2] != 0.5 {
		t.Errorf("attn_q values %v (divided by ncall 4 expected: [1 2 0.5])", q)
	}
	o, _ := m.Get("output.weight")
	if len(o) != 2 || o[0] != 1.5 || o[1] != 0 {
		t.Errorf("output values %v", o)
	}
	if m.Entries[0].NCall != 4 {
		t.Errorf("ncall %d", m.Entries[0].NCall)
	}
	// Written back, the bytes are the same.
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Errorf("rewritten file differs:\n%x\n%x", buf.Bytes(), data)
	}
	// Without the trailer (older files) it still reads.
	short := data[:len(data)-16]
	m2, err := ReadImatrix(bytes.NewReader(short), int64(len(short)))
	if err != nil || len(m2.Entries) != 2 || m2.Dataset != "" {
		t.Errorf("no trailer: %v, %+v", err, m2)
	}
	// Shape checks: a mismatch names the tensor, token_embd excepted.
	if _, err := m.CheckShape("blk.0.attn_q.weight", 4); !errors.Is(err, ErrImatrix) || !bytes.Contains([]byte(err.Error()), []byte("blk.0.attn_q.weight")) {
		t.Errorf("CheckShape mismatch: %v", err)
	}
	if v, err := m.CheckShape("blk.0.attn_q.weight", 3); err != nil || len(v) != 3 {
		t.Errorf("CheckShape match: %v %v", v, err)
	}
	m.Set(ImatrixEntry{Name: "token_embd.weight", NCall: 1, Values: []float32{1}})
	if v, err := m.CheckShape("token_embd.weight", 64); err != nil || v != nil {
		t.Errorf("token_embd mismatch should be ignored: %v %v", v, err)
	}
}

func TestImatrixRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := NewCollector()
	for call := 0; call < 3; call++ {
		for _, name := range []string{"blk.0.ffn_down.weight", "blk.0.attn_q.weight"} {
			cols := 64
			if name == "blk.0.ffn_down.weight" {
				cols = 96
			}
			x := make([]float32, 5*cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64()) * float32(1+i%cols)
			}
			c.Add(name, x, 5, cols)
		}
	}
	m := c.Imatrix(3, "calib.txt")
	if len(m.Entries) != 2 || m.Entries[0].Name != "blk.0.attn_q.weight" || m.Entries[0].NCall != 3 {
		t.Fatalf("collector: %+v", m.Entries)
	}
	path := filepath.Join(t.TempDir(), "imatrix.dat")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := OpenImatrix(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Chunks != 3 || back.Dataset != "calib.txt" || len(back.Entries) != 2 {
		t.Fatalf("read back %d entries, chunks %d, %q", len(back.Entries), back.Chunks, back.Dataset)
	}
	for i, e := range m.Entries {
		b := back.Entries[i]
		if b.Name != e.Name || b.NCall != e.NCall || len(b.Values) != len(e.Values) {
			t.Fatalf("entry %d: %s/%d/%d vs %s/%d/%d", i, b.Name, b.NCall, len(b.Values), e.Name, e.NCall, len(e.Values))
		}
		for j := range e.Values {
			if d := math.Abs(float64(b.Values[j]-e.Values[j])) / float64(e.Values[j]); d > 1e-6 {
				t.Errorf("%s[%d]: %g vs %g", e.Name, j, b.Values[j], e.Values[j])
			}
		}
	}
	// Importance grows with the channel's scale (x multiplied by 1+j).
	v, _ := back.Get("blk.0.attn_q.weight")
	if !(v[63] > 100*v[0]) {
		t.Errorf("channel 63 mean x² %g not ≫ channel 0's %g", v[63], v[0])
	}
}

func TestImatrixMalformed(t *testing.T) {
	good := handImatrix()
	le := binary.LittleEndian
	cases := map[string][]byte{
		"empty":      nil,
		"zero":       le.AppendUint32(nil, 0),
		"huge count": append(le.AppendUint32(nil, 1<<30), good[4:]...),
		"truncated":  good[:30],
		"long name":  append(le.AppendUint32(le.AppendUint32(nil, 1), 1<<30), make([]byte, 20)...),
		"neg name":   append(le.AppendUint32(le.AppendUint32(nil, 1), 0xffffffff), make([]byte, 20)...),
		"trailing":   append(append([]byte(nil), good...), 1, 2, 3),
		"half tail":  good[:len(good)-14],
	}
	nan := append([]byte(nil), good...)
	le.PutUint32(nan[4+4+19+8:], math.Float32bits(float32(math.NaN())))
	cases["nan"] = nan
	neg := append([]byte(nil), good...)
	le.PutUint32(neg[4+4+19+8:], math.Float32bits(-1))
	cases["negative"] = neg
	nv := append([]byte(nil), good...)
	le.PutUint32(nv[4+4+19+4:], 1<<29)
	cases["huge nval"] = nv
	for name, data := range cases {
		_, err := ReadImatrix(bytes.NewReader(data), int64(len(data)))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		var fe *format.FormatError
		if !errors.As(err, &fe) || fe.Offset < 0 {
			t.Errorf("%s: %v is not a FormatError with an offset", name, err)
		}
	}
}

// TestImatrixSeeds checks that the fuzz seed in testdata/ is the file the
// writer produces today (go test -update rewrites it) and that it reads back.
func TestImatrixSeeds(t *testing.T) {
	want := handImatrix()
	p := filepath.Join("testdata", "imatrix", "hand.dat")
	testutil.Golden(t, p, want)
	if _, err := ReadImatrix(bytes.NewReader(want), int64(len(want))); err != nil {
		t.Errorf("%s: %v", p, err)
	}
}

func FuzzImatrix(f *testing.F) {
	entries, _ := os.ReadDir(filepath.Join("testdata", "imatrix"))
	for _, e := range entries {
		if data, err := os.ReadFile(filepath.Join("testdata", "imatrix", e.Name())); err == nil {
			f.Add(data)
		}
	}
	f.Add(handImatrix())
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadImatrix(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		// What reads writes back and reads again to the same entries.
		var buf bytes.Buffer
		if _, err := m.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		m2, err := ReadImatrix(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("rewritten file does not read: %v", err)
		}
		if len(m2.Entries) != len(m.Entries) || m2.Dataset != m.Dataset || m2.Chunks != m.Chunks {
			t.Fatalf("rewritten file differs")
		}
	})
}
