package bench

import (
	"testing"

	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
)

// TestSyntheticMLA: the deepseek2 shapes parse (with changes), build with
// latent attention, run, and write a GGUF file that loads with the same
// configuration; V2-Lite's latent cache is 27 x (512 + 64) floats a token.
func TestSyntheticMLA(t *testing.T) {
	sh, err := ParseShape("deepseek-v2-lite-mla")
	if err != nil || sh.Arch != "deepseek2" || sh.Config().MLA == nil {
		t.Fatalf("%+v %v", sh, err)
	}
	if err := sh.Config().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"deepseek-v2-lite-mla,layers=2,dim=64,heads=4,experts=4,experts_used=2,expert_ffn=32,ffn=64,vocab=300,kv_lora=32,nope=16,rope=8,v_head=16",
		"deepseek-v3-layer,layers=2,dim=64,heads=4,experts=4,experts_used=2,expert_ffn=32,ffn=64,vocab=300,q_lora=48,kv_lora=32,nope=16,rope=8,v_head=16"} {
		sh, err := ParseShape(name)
		if err != nil {
			t.Fatal(err)
		}
		m, mi, err := SyntheticModel(sh, format.Q8_0, engine.Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		if want := sh.Config().Params(); mi.Params != want {
			t.Errorf("%s: %d parameters, config says %d", name, mi.Params, want)
		}
		if _, err := m.NewSession(16).Forward([]int32{1, 5, 7}); err != nil {
			t.Fatal(err)
		}
		if kv, std := m.CacheBytesPerToken(); kv != 2*4*(32+8) || std != 2*4*4*(24+16) {
			t.Errorf("%s: cache %d bytes per token (standard %d)", name, kv, std)
		}
		m.Close()
		g := loadSyntheticGGUF(t, sh)
		if *g.Config.MLA != *sh.Config().MLA || g.Config.MoE != sh.Config().MoE {
			t.Errorf("%s: loaded %+v %+v, want %+v %+v", name, g.Config.MLA, g.Config.MoE, sh.Config().MLA, sh.Config().MoE)
		}
		g.Close()
	}
}
