package prune

import (
	"sort"
	"sync"
	"testing"
)

var (
	fuzzOnce  sync.Once
	fuzzModel *Model
	fuzzStats *Stats
)

// FuzzPlan: any targets give an error or a plan that keeps every layer
// valid (at least one head per group, query heads a multiple of the
// key/value heads, sorted unique indices, widths a multiple when asked),
// and Apply builds a consistent model from it. Seeds: testdata/fuzz/FuzzPlan.
func FuzzPlan(f *testing.F) {
	f.Add(0.3, 0.25, 1, 0.0, 0.1, 0)
	f.Fuzz(func(t *testing.T, ffn, heads float64, layers int, params, minKeep float64, multiple int) {
		fuzzOnce.Do(func() {
			fuzzModel = genModel(8, 3)
			fuzzStats = calibrate(t, fuzzModel, 1)
		})
		m, st := fuzzModel, fuzzStats
		if multiple > 1000 || multiple < -1000 {
			return
		}
		tg := Targets{FFN: ffn, Heads: heads, Layers: layers, Params: params, MinKeep: minKeep, Multiple: multiple}
		if params > 1e12 {
			return
		}
		p, err := NewPlan(m, st, tg)
		if err != nil {
			return
		}
		c := p.Config()
		if c.Layers < 1 || c.Layers+len(p.Removed) != m.Config.Layers {
			t.Fatalf("%+v: %d layers kept, %d removed", tg, c.Layers, len(p.Removed))
		}
		for i, lp := range p.Layers {
			if len(lp.KV) < 1 || len(lp.Heads) < len(lp.KV) || len(lp.Heads)%len(lp.KV) != 0 || len(lp.FFN) < 1 {
				t.Fatalf("%+v: layer %d keeps heads %v kv %v ffn %d", tg, i, lp.Heads, lp.KV, len(lp.FFN))
			}
			if !sort.IntsAreSorted(lp.FFN) || !sort.IntsAreSorted(lp.KV) {
				t.Fatalf("%+v: unsorted indices", tg)
			}
			per := len(lp.Heads) / len(lp.KV)
			group := m.Config.Heads[lp.Layer] / m.Config.KVHeads[lp.Layer]
			for g, k := range lp.KV {
				for _, h := range lp.Heads[g*per : (g+1)*per] {
					if h/group != k {
						t.Fatalf("%+v: head %d kept under key/value head %d", tg, h, k)
					}
				}
			}
			if multiple > 1 && m.Config.FFN[lp.Layer] >= multiple && len(lp.FFN)%multiple != 0 {
				t.Fatalf("%+v: layer %d keeps %d channels", tg, i, len(lp.FFN))
			}
		}
		if _, _, err := Apply(m, st, p, Options{Repair: true}); err != nil {
			t.Fatalf("%+v: %v", tg, err)
		}
	})
}

// FuzzParseParams: no panic; accepted values are positive, whole above 1.
func FuzzParseParams(f *testing.F) {
	f.Add("0.7")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseParams(s)
		if err == nil && (!(v > 0) || (v > 1 && v != float64(int64(v)))) {
			t.Fatalf("%q gave %v", s, v)
		}
	})
}
