package engine

import (
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/tokenizer"
)

// moeConfigs are random mixture-of-experts layouts: Mixtral (llama,
// renormalised top-k), Qwen2-MoE (q/k/v biases, NeoX RoPE, gated shared
// expert, no renormalising), Qwen3-MoE (q/k head norms, renormalised) and
// DeepSeek-style routing on a llama attention (leading dense block,
// shared experts, sigmoid scores with a selection bias, group-limited
// top-k, routed scaling).
func moeConfigs() map[string]*model.Config {
	base := func(arch string) *model.Config {
		return &model.Config{Arch: arch, Dim: 64, Layers: 3, Heads: []int{4, 4, 4}, KVHeads: []int{2, 2, 2},
			FFN: []int{48, 48, 48}, HeadDim: 16, VocabSize: 50, Context: 64, NormEps: 1e-5, RopeBase: 10000, RopeDim: 16}
	}
	mixtral := base("llama")
	mixtral.MoE = model.MoE{Experts: 8, ExpertsUsed: 2, ExpertFFN: 48, Norm: true, Gating: model.GatingSoftmax}
	qwen2 := base("qwen2moe")
	qwen2.RopeNeox, qwen2.QKVBias = true, true
	qwen2.MoE = model.MoE{Experts: 6, ExpertsUsed: 3, ExpertFFN: 24, SharedExperts: 1, SharedFFN: 40, SharedGate: true,
		Gating: model.GatingSoftmax}
	qwen3 := base("qwen3moe")
	qwen3.RopeNeox, qwen3.QKNorm = true, true
	qwen3.MoE = model.MoE{Experts: 5, ExpertsUsed: 2, ExpertFFN: 32, Norm: true, Gating: model.GatingSoftmax}
	deep := base("llama")
	deep.FFN = []int{80, 80, 80}
	deep.MoE = model.MoE{Experts: 8, ExpertsUsed: 3, ExpertFFN: 16, SharedExperts: 2, SharedFFN: 32, DenseLead: 1,
		Norm: true, Scale: 2.5, Gating: model.GatingSigmoid, ProbsBias: true, Groups: 4, GroupsUsed: 2}
	deepV2 := base("llama")
	deepV2.MoE = model.MoE{Experts: 8, ExpertsUsed: 2, ExpertFFN: 16, SharedExperts: 1, SharedFFN: 16, DenseLead: 1,
		Scale: 2, Gating: model.GatingSoftmax}
	return map[string]*model.Config{"mixtral": mixtral, "qwen2moe": qwen2, "qwen3moe": qwen3,
		"deepseek-v3-ffn": deep, "deepseek-v2-ffn": deepV2}
}

// TestGeneratedMoE checks the engine's logits, prefill and decode, on
// random checkpoints of every expert layout against the float64 routed
// forward of ref_test.go.
func TestGeneratedMoE(t *testing.T) {
	for name, cfg := range moeConfigs() {
		t.Run(name, func(t *testing.T) {
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			m, ref := genModel(t, cfg, 5)
			compareLogits(t, m, ref, testTokens(40, cfg.VocabSize), 2e-4)
		})
	}
}

// routeRecorder records routing decisions and the rows each expert sees.
type routeRecorder struct {
	recorder
	chosen  map[int][]int32
	weights map[int][]float32
	rows    map[string]int // "name/expert" -> rows seen
}

func (r *routeRecorder) Routing(layer int, experts []int32, weights []float32, rows, k int) {
	r.chosen[layer] = append(r.chosen[layer], experts...)
	r.weights[layer] = append(r.weights[layer], weights...)
}

func (r *routeRecorder) ExpertLinear(name string, expert int, x []float32, rows, cols int) {
	r.rows[name+"/"+string(rune('0'+expert))] += rows
}

// TestRoutingObserver: an ExpertObserver sees every token's chosen experts
// (distinct, valid) with weights summing to 1 for a renormalising model,
// and each expert's products see exactly the tokens routed to it, once
// per pass.
func TestRoutingObserver(t *testing.T) {
	cfg := moeConfigs()["mixtral"]
	m, _ := genModel(t, cfg, 5)
	r := &routeRecorder{recorder: recorder{linear: map[string]int{}}, chosen: map[int][]int32{}, weights: map[int][]float32{}, rows: map[string]int{}}
	s := m.NewSession(0)
	s.Observer = r
	toks := testTokens(20, cfg.VocabSize)
	if _, err := s.ForwardAll(toks); err != nil {
		t.Fatal(err)
	}
	k := cfg.ExpertsUsed
	for l := 0; l < cfg.Layers; l++ {
		ch, w := r.chosen[l], r.weights[l]
		if len(ch) != len(toks)*k || len(w) != len(ch) {
			t.Fatalf("layer %d: %d choices, %d weights", l, len(ch), len(w))
		}
		count := map[int32]int{}
		for i := 0; i < len(toks); i++ {
			a, b := ch[i*k], ch[i*k+1]
			if a == b || a < 0 || b < 0 || int(a) >= cfg.Experts || int(b) >= cfg.Experts {
				t.Fatalf("layer %d token %d: experts %d %d", l, i, a, b)
			}
			if s := w[i*k] + w[i*k+1]; s < 0.9999 || s > 1.0001 || w[i*k] < w[i*k+1] {
				t.Fatalf("layer %d token %d: weights %v", l, i, w[i*k:i*k+2])
			}
			count[a]++
			count[b]++
		}
		for e := 0; e < cfg.Experts; e++ {
			for _, proj := range []string{"gate", "up", "down"} {
				name := "blk." + string(rune('0'+l)) + ".ffn_" + proj + "_exps.weight/" + string(rune('0'+e))
				if got := r.rows[name]; got != count[int32(e)] {
					t.Errorf("%s saw %d rows, %d tokens routed", name, got, count[int32(e)])
				}
			}
		}
	}
	if r.linear["blk.0.ffn_gate_exps.weight"] != 0 {
		t.Error("Linear called for an expert product although the observer takes ExpertLinear")
	}
}

// TestRoute checks the routing arithmetic on fixed scores: top-k by the
// biased scores with unbiased weights, renormalisation, scaling, and
// group-limited choice.
func TestRoute(t *testing.T) {
	ms := &moeScratch{}
	logits := []float32{0, 0, 0, 0}
	probs, sel := make([]float32, 4), make([]float32, 4)
	chosen, w := make([]int32, 2), make([]float32, 2)
	// Sigmoid of 0 is 0.5 for all; the bias decides: experts 2 then 0.
	cfg := &model.MoE{Experts: 4, ExpertsUsed: 2, Gating: model.GatingSigmoid, Scale: 3}
	route(cfg, []float32{0.1, -1, 0.2, 0}, logits, probs, sel, chosen, w, ms)
	if chosen[0] != 2 || chosen[1] != 0 || w[0] != 1.5 || w[1] != 1.5 {
		t.Errorf("biased choice %v weights %v, want [2 0] [1.5 1.5]", chosen, w)
	}
	// Softmax, renormalised: logits ln 1, ln 2, ln 3, ln 4 -> 0.4, 0.3.
	cfg = &model.MoE{Experts: 4, ExpertsUsed: 2, Gating: model.GatingSoftmax, Norm: true}
	route(cfg, nil, []float32{0, 0.6931472, 1.0986123, 1.3862944}, probs, sel, chosen, w, ms)
	if chosen[0] != 3 || chosen[1] != 2 || abs32(w[0]-4.0/7) > 1e-6 || abs32(w[1]-3.0/7) > 1e-6 {
		t.Errorf("softmax choice %v weights %v", chosen, w)
	}
	// Two groups of two, one used: group {0,1} holds the best single
	// score, group {2,3} the best pair sum, which decides: 3 then 2.
	cfg = &model.MoE{Experts: 4, ExpertsUsed: 2, Gating: model.GatingSigmoid, Groups: 2, GroupsUsed: 1}
	route(cfg, nil, []float32{3, -3, 1, 1.5}, probs, sel, chosen, w, ms)
	if chosen[0] != 3 || chosen[1] != 2 {
		t.Errorf("group-limited choice %v, want [3 2]", chosen)
	}
	// Renormalising weights whose sum underflows F16: clamped, no Inf.
	cfg = &model.MoE{Experts: 4, ExpertsUsed: 2, Gating: model.GatingSigmoid, Norm: true}
	route(cfg, nil, []float32{-30, -30, -31, -32}, probs, sel, chosen, w, ms)
	if w[0] >= 1e-3 || w[0] <= 0 {
		t.Errorf("tiny weights renormalised to %v, want them divided by the clamp 2^-14", w)
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// TestDevMixtralMoEReference runs dev-mixtral-moe from its Hugging Face
// folder against the float64 routed forward on the safetensors values
// (experts stacked here by their HF names, rotate-half RoPE on the HF
// rows), and checks that greedy decoding of "ROMEO:" continues as
// llama-cli --temp 0 does on llama.cpp's conversion.
func TestDevMixtralMoEReference(t *testing.T) {
	dir := testutil.Shared(t, "models/dev-mixtral-moe")
	vals := loadHFFloat64(t, dir)
	m, err := Load(dir, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Config.Experts != 8 || m.Config.ExpertsUsed != 2 {
		t.Fatalf("config %+v", m.Config.MoE)
	}
	ref := &refModel{cfg: m.Config, get: func(n string) []float64 { return vals[n] }, neox: true}
	toks := append([]int32{1}, testTokens(23, m.Config.VocabSize)...)
	compareLogits(t, m, ref, toks, 1e-4)

	tk, err := tokenizer.New(m.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int32
	_, err = m.NewSession(0).Generate(tk.Encode("ROMEO:", true), 60, NewSampler(SamplerOptions{}), 2, func(tok int32) bool {
		ids = append(ids, tok)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	got := tk.Decode(ids)
	// llama-cli -p "ROMEO:" -n 60 --temp 0 on llama.cpp's F16 conversion.
	const want = "\nWhat, I'd, and I'd,\nAnd, my lord, and I'd,\nAnd, my lord, and I's,\n"
	if !strings.HasPrefix(got, want) {
		t.Errorf("greedy %q, llama-cli %q", got, want)
	}
}

// TestMoERefusesBadModels: missing or misshapen expert tensors and a
// quantized router are errors naming the tensor, not panics; a
// DeepSeek latent-attention configuration is refused as unsupported.
func TestMoERefusesBadModels(t *testing.T) {
	cfg := moeConfigs()["qwen2moe"]
	for _, c := range []struct {
		name, tensor string
		change       func(*Tensor) bool // false: drop the tensor
		want         string
	}{
		{"missing", "blk.1.ffn_up_exps.weight", func(*Tensor) bool { return false }, "blk.1.ffn_up_exps.weight: missing"},
		{"shape", "blk.0.ffn_down_exps.weight", func(t *Tensor) bool {
			t.Shape = []int64{24, 64, 5}
			t.Data = t.Data[:24*64*5*4]
			return true
		}, "blk.0.ffn_down_exps.weight: shape [24 64 5], expected [24 64 6]"},
		{"router", "blk.0.ffn_gate_inp.weight", func(t *Tensor) bool {
			t.Type = format.Q8_0
			t.Data = t.Data[:6*2*34]
			return true
		}, "router of type q8_0"},
		{"shared gate", "blk.2.ffn_gate_inp_shexp.weight", func(*Tensor) bool { return false }, "ffn_gate_inp_shexp.weight: missing"},
	} {
		ts, _ := genTensors(cfg, 3)
		var kept []Tensor
		for _, tt := range ts {
			if tt.Name != c.tensor || c.change(&tt) {
				kept = append(kept, tt)
			}
		}
		_, err := NewModel(cfg, nil, kept, Options{Threads: 1})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	mla := cfg.Clone()
	mla.MLA = &model.MLA{KVLoraRank: 32, KeyLength: 16, ValueLen: 16}
	ts, _ := genTensors(cfg, 3) // standard attention tensors for a latent-attention config
	if _, err := NewModel(mla, nil, ts, Options{}); err == nil || !strings.Contains(err.Error(), "attn_kv_a_mqa.weight: missing") {
		t.Errorf("MLA without its tensors: err = %v, want attn_kv_a_mqa.weight missing", err)
	}
}
