package bench

import (
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/quantize"
)

// DescribeModel returns the file size (the sum of a folder's files), the
// parameter count, bits per weight (tensor bytes·8/parameters) and the
// number of tensors of each type of the checkpoint at path.
func DescribeModel(path string) (*ModelInfo, error) {
	m, err := convert.Load(path, convert.Options{})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	infos := make([]format.TensorInfo, len(m.Tensors))
	for i, t := range m.Tensors {
		infos[i] = t.Info()
	}
	mi := describeTensors(infos)
	mi.Path = path
	mi.FileBytes = DiskSize(path)
	return mi, nil
}

func describeTensors(infos []format.TensorInfo) *ModelInfo {
	mi := &ModelInfo{TensorTypes: map[string]int{}}
	var bytes int64
	for _, t := range infos {
		mi.Params += t.NumElements()
		if b := t.Bytes(); b > 0 {
			bytes += b
		}
		mi.TensorTypes[t.Type.String()]++
	}
	if mi.Params > 0 {
		mi.BitsPerWeight = 8 * float64(bytes) / float64(mi.Params)
	}
	return mi
}

// DiskSize returns the size of a file, or the total size of the files in a
// folder (following symbolic links to files); 0 when it cannot be read.
func DiskSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if !fi.IsDir() {
		return fi.Size()
	}
	var n int64
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		// Follow symbolic links: a Hugging Face cache snapshot is a folder
		// of links to the files.
		if i, err := os.Stat(p); err == nil && i.Mode().IsRegular() {
			n += i.Size()
		}
		return nil
	})
	return n
}

// TensorErrors compares every tensor of the candidate checkpoint with the
// tensor of the same GGUF name in its source (both decoded to float32):
// RMSE = sqrt(mean((c-s)²)) and SNR = 10·log10(Σs²/Σ(c-s)²) dB (+Inf when
// equal). Tensors are sorted worst first (lowest SNR). It also aggregates
// the errors per block (Layer -1 for tensors outside the blocks).
// Candidate tensors absent from the source or of another shape are errors.
func TensorErrors(candPath, srcPath string) ([]TensorError, []LayerError, error) {
	cm, err := convert.Load(candPath, convert.Options{})
	if err != nil {
		return nil, nil, err
	}
	defer cm.Close()
	sm, err := convert.Load(srcPath, convert.Options{})
	if err != nil {
		return nil, nil, err
	}
	defer sm.Close()
	pred := recipeKLD(cm)
	type acc struct {
		err2, sig2, n float64
		bytes         int64
		kld           float64
	}
	layers := map[int]*acc{}
	var out []TensorError
	for _, ct := range cm.Tensors {
		st, ok := sm.Tensor(ct.Name)
		if !ok {
			return nil, nil, fmt.Errorf("%s: tensor %s is not in the source %s", candPath, ct.Name, srcPath)
		}
		if ct.Info().NumElements() != st.Info().NumElements() || !format.SameShape(ct.Shape, st.Shape) {
			return nil, nil, fmt.Errorf("%s: tensor %s has shape %v, the source's %v", candPath, ct.Name, ct.Shape, st.Shape)
		}
		c, err := cm.ReadFloat32(ct)
		if err != nil {
			return nil, nil, err
		}
		s, err := sm.ReadFloat32(st)
		if err != nil {
			return nil, nil, err
		}
		var e2, s2 float64
		for i, v := range s {
			d := float64(c[i]) - float64(v)
			e2 += d * d
			s2 += float64(v) * float64(v)
		}
		n := float64(len(s))
		te := TensorError{Name: ct.Name, Type: ct.Type.String(), Elements: int64(len(s)), RMSE: math.Sqrt(e2 / max(n, 1)), SNRdB: snr(s2, e2),
			Bytes: max(ct.Info().Bytes(), 0), PredictedKLD: pred[ct.Name]}
		out = append(out, te)
		l, ok := model.LayerOf(ct.Name)
		if !ok {
			l = -1
		}
		a := layers[l]
		if a == nil {
			a = &acc{}
			layers[l] = a
		}
		a.err2 += e2
		a.sig2 += s2
		a.n += n
		a.bytes += te.Bytes
		a.kld += te.PredictedKLD
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].SNRdB < out[j].SNRdB })
	var ls []LayerError
	for l, a := range layers {
		ls = append(ls, LayerError{Layer: l, RMSE: math.Sqrt(a.err2 / max(a.n, 1)), SNRdB: snr(a.sig2, a.err2),
			Elements: int64(a.n), Bytes: a.bytes, PredictedKLD: a.kld})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Layer < ls[j].Layer })
	return out, ls, nil
}

// recipeKLD returns the predicted KLD per tensor recorded by shrink
// quantize's type solver in a GGUF (quantize.RecipeKey), or nil.
func recipeKLD(m *convert.Model) map[string]float64 {
	if m.Meta == nil {
		return nil
	}
	s, ok := m.Meta.String(quantize.RecipeKey)
	if !ok {
		return nil
	}
	r, err := quantize.ParseRecipe([]byte(s))
	if err != nil {
		return nil
	}
	out := make(map[string]float64, len(r.Tensors))
	for _, t := range r.Tensors {
		out[t.Name] = t.KLD
	}
	return out
}

// maxSNR stands for an exact copy (JSON has no infinity).
const maxSNR = 999

func snr(sig2, err2 float64) float64 {
	if err2 == 0 {
		return maxSNR
	}
	if sig2 == 0 {
		return -maxSNR
	}
	return math.Min(maxSNR, 10*math.Log10(sig2/err2))
}
