package shrink

// The sensitivity cache: the solver's measured sensitivities in a file,
// keyed by everything they depend on, so a solve at another budget (or
// with a recipe written again) reads them instead of measuring.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/shrink-llm/shrink/format"
)

// sensitivityFile is the cache file's JSON.
type sensitivityFile struct {
	Format  string           `json:"format"`
	Key     string           `json:"key"`
	Tensors []sensitivityRow `json:"tensors"`
}

// sensitivityRow is one tensor's measurements: per candidate type the
// Hessian proxy and the exact KLD (null where not measured).
type sensitivityRow struct {
	Name  string     `json:"name"`
	Types []string   `json:"types"`
	Proxy []float64  `json:"proxy"`
	Exact []*float64 `json:"exact"`
}

// sensitivityFormat names the cache file's format.
const sensitivityFormat = "shrink.sensitivity/v1"

// cacheKeyBase returns the part of the cache key the job decides: the
// source's and the calibration text's SHA-256, and the options the
// Hessians and the calibration chunks depend on.
func (j *quantizeJob) cacheKeyBase() (string, error) {
	src, err := sourceSHA256(j.m)
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(map[string]any{"version": Version, "source": src, "calib": j.calibSum,
		"method": j.method, "ctx": j.ctxLen, "chunks": j.opt.Chunks, "hessian_bytes": j.hessBytes})
	return string(b), nil
}

// cacheKey returns the key of the sensitivities of ts measured as c asks
// on top of base.
func cacheKey(base string, c *solveConfig, ts []*solveTensor) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s %s %d %d\n", base, c.mode, c.ref, c.chunks, proxyRows)
	for _, st := range ts {
		fmt.Fprintf(h, "%s %d %d %v\n", st.name, st.rows, st.cols, st.types)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// readSensitivities fills ts from the cache file when it holds key; it
// reports whether it did. A missing file is a miss, an unreadable one an
// error naming it.
func readSensitivities(path, key string, ts []*solveTensor) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var f sensitivityFile
	if err := json.Unmarshal(data, &f); err != nil {
		return false, fmt.Errorf("%s: sensitivity cache: %v", path, err)
	}
	if f.Format != sensitivityFormat {
		return false, fmt.Errorf("%s: format %q, want a %s sensitivity cache", path, f.Format, sensitivityFormat)
	}
	if f.Key != key {
		return false, nil
	}
	if len(f.Tensors) != len(ts) {
		return false, fmt.Errorf("%s: %d tensors under the key of %d", path, len(f.Tensors), len(ts))
	}
	for i, st := range ts {
		r := f.Tensors[i]
		if r.Name != st.name || len(r.Proxy) != len(st.types) || len(r.Exact) != len(st.types) {
			return false, fmt.Errorf("%s: tensor %d (%s) does not match %s's %d types", path, i, r.Name, st.name, len(st.types))
		}
		copy(st.proxy, r.Proxy)
		for k, v := range r.Exact {
			st.exact[k] = math.NaN()
			if v != nil {
				st.exact[k] = *v
			}
		}
	}
	return true, nil
}

// writeSensitivities writes ts's measurements under key to path (through
// a temporary file in the same folder, renamed).
func writeSensitivities(path, key string, ts []*solveTensor) error {
	f := sensitivityFile{Format: sensitivityFormat, Key: key}
	for _, st := range ts {
		r := sensitivityRow{Name: st.name, Types: typeNames(st.types), Proxy: st.proxy}
		for _, v := range st.exact {
			if math.IsNaN(v) {
				r.Exact = append(r.Exact, nil)
				continue
			}
			r.Exact = append(r.Exact, &v)
		}
		f.Tensors = append(f.Tensors, r)
	}
	data, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(data, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// typeNames returns the names of ts.
func typeNames(ts []format.DType) []string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return s
}
