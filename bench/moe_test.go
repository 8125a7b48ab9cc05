package bench

import (
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
)

// TestDevMixtralMoEPerplexity: dev-mixtral-moe converted to F16 scores
// shakespeare-eval.txt at context 256 as llama-perplexity does on
// llama.cpp's own F16 conversion, 62.5596 (SOURCE.txt), within 0.05%.
func TestDevMixtralMoEPerplexity(t *testing.T) {
	devF16Perplexity(t, "dev-mixtral-moe", 62.5596)
}

// TestSyntheticMoE: the MoE shapes parse (a named shape with changes),
// build, run, and write a GGUF file that loads with the same expert
// configuration.
func TestSyntheticMoE(t *testing.T) {
	for _, name := range []string{"deepseek-v2-lite", "qwen1.5-moe-a2.7b"} {
		sh, err := ParseShape(name)
		if err != nil || sh.Arch != "qwen2moe" || sh.Experts == 0 {
			t.Fatalf("%s: %+v %v", name, sh, err)
		}
	}
	sh, err := ParseShape("deepseek-v2-lite,layers=2,dim=64,heads=4,kv_heads=4,experts=8,experts_used=3,expert_ffn=32,shared_ffn=64,vocab=300")
	if err != nil {
		t.Fatal(err)
	}
	if sh.Experts != 8 || sh.ExpertsUsed != 3 || sh.Layers != 2 || sh.FFN != 10944 {
		t.Fatalf("shape %+v", sh)
	}
	m, mi, err := SyntheticModel(sh, format.Q8_0, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if want := sh.Config().Params(); mi.Params != want {
		t.Errorf("%d parameters, config says %d", mi.Params, want)
	}
	if _, err := m.NewSession(16).Forward([]int32{1, 5, 7}); err != nil {
		t.Fatal(err)
	}
	g := loadSyntheticGGUF(t, sh)
	defer g.Close()
	if g.Config.MoE != sh.Config().MoE || g.Config.Arch != "qwen2moe" {
		t.Errorf("loaded %s %+v, want %+v", g.Config.Arch, g.Config.MoE, sh.Config().MoE)
	}
}

// loadSyntheticGGUF writes shape sh as a Q8_0 GGUF file (WriteSyntheticGGUF)
// and loads it; the caller closes the model.
func loadSyntheticGGUF(t *testing.T, sh Shape) *engine.Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.gguf")
	if err := WriteSyntheticGGUF(path, sh, format.Q8_0); err != nil {
		t.Fatal(err)
	}
	g, err := engine.Load(path, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	return g
}
