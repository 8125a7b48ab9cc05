package model

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"
)

func TestNames(t *testing.T) {
	pairs := [][2]string{
		{"model.embed_tokens.weight", "token_embd.weight"},
		{"model.norm.weight", "output_norm.weight"},
		{"lm_head.weight", "output.weight"},
		{"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"},
		{"model.layers.12.self_attn.q_proj.weight", "blk.12.attn_q.weight"},
		{"model.layers.3.self_attn.k_proj.weight", "blk.3.attn_k.weight"},
		{"model.layers.3.self_attn.v_proj.weight", "blk.3.attn_v.weight"},
		{"model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight"},
		{"model.layers.3.self_attn.q_proj.bias", "blk.3.attn_q.bias"},
		{"model.layers.3.self_attn.k_proj.bias", "blk.3.attn_k.bias"},
		{"model.layers.3.self_attn.v_proj.bias", "blk.3.attn_v.bias"},
		{"model.layers.7.post_attention_layernorm.weight", "blk.7.ffn_norm.weight"},
		{"model.layers.7.mlp.gate_proj.weight", "blk.7.ffn_gate.weight"},
		{"model.layers.7.mlp.up_proj.weight", "blk.7.ffn_up.weight"},
		{"model.layers.100.mlp.down_proj.weight", "blk.100.ffn_down.weight"},
	}
	for _, p := range pairs {
		if g, ok := GGUFName(p[0]); !ok || g != p[1] {
			t.Errorf("GGUFName(%q) = %q, %v; want %q", p[0], g, ok, p[1])
		}
		if h, ok := HFName(p[1]); !ok || h != p[0] {
			t.Errorf("HFName(%q) = %q, %v; want %q", p[1], h, ok, p[0])
		}
	}
	for _, bad := range []string{"", "model.layers.x.mlp.up_proj.weight", "model.layers.1.mlp.up_proj",
		"model.layers.01.mlp.up_proj.weight", "model.layers.-1.mlp.up_proj.weight", "input_layernorm.weight",
		"model.layers.1.model.norm.weight", "rotary_emb.inv_freq"} {
		if g, ok := GGUFName(bad); ok {
			t.Errorf("GGUFName(%q) = %q", bad, g)
		}
	}
	for _, bad := range []string{"blk.1.token_embd.weight", "blk..attn_q.weight", "attn_q.weight", "rope_freqs.weight"} {
		if h, ok := HFName(bad); ok {
			t.Errorf("HFName(%q) = %q", bad, h)
		}
	}
	if n, ok := LayerOf("blk.42.attn_q.weight"); !ok || n != 42 {
		t.Errorf("LayerOf = %d %v", n, ok)
	}
	if _, ok := LayerOf("output.weight"); ok {
		t.Error("LayerOf(output.weight) ok")
	}
}

func TestPermuteHandWorked(t *testing.T) {
	// n=1, head_dim=4: HF rows [0,1,2,3] (halves {0,1},{2,3}) -> GGUF [0,2,1,3].
	src := []byte{0, 1, 2, 3}
	dst := make([]byte, 4)
	if err := PermuteQK(dst, src, 1, 4, 1); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst, []byte{0, 2, 1, 3}) {
		t.Errorf("PermuteQK = %v", dst)
	}
	// n=2, head_dim=6, 2-byte rows: head h rows h*6+[0..5] -> [0,3,1,4,2,5].
	src = make([]byte, 24)
	for i := range src {
		src[i] = byte(i / 2 * 10)
	}
	dst = make([]byte, 24)
	if err := PermuteQK(dst, src, 2, 6, 2); err != nil {
		t.Fatal(err)
	}
	order := []int{0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11}
	for r, from := range order {
		if dst[2*r] != byte(from*10) || dst[2*r+1] != byte(from*10) {
			t.Errorf("row %d = %v, want row %d", r, dst[2*r:2*r+2], from)
		}
	}
}

func TestPermuteRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, heads := range []int{1, 2, 3, 8} {
		for _, hd := range []int{2, 4, 64} {
			for _, rowBytes := range []int{1, 2, 4, 34, 4 * 3} { // bias, f16/bf16, f32, a q8_0 block, 3 f32
				src := make([]byte, heads*hd*rowBytes)
				rng.Read(src)
				mid := make([]byte, len(src))
				back := make([]byte, len(src))
				if err := PermuteQK(mid, src, heads, hd, rowBytes); err != nil {
					t.Fatal(err)
				}
				if hd > 2 && bytes.Equal(mid, src) {
					t.Errorf("heads %d hd %d: permutation is the identity", heads, hd)
				}
				if err := UnpermuteQK(back, mid, heads, hd, rowBytes); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(back, src) {
					t.Errorf("heads %d hd %d row %d: round trip differs", heads, hd, rowBytes)
				}
			}
		}
	}
}

func TestPermuteErrors(t *testing.T) {
	buf := make([]byte, 16)
	other := make([]byte, 16)
	for _, c := range []struct {
		dst, src            []byte
		heads, hd, rowBytes int
	}{
		{other, buf, 1, 3, 1},       // odd head dim
		{other, buf, 0, 4, 4},       // no heads
		{other, buf, 1, 4, 0},       // no row bytes
		{other, buf, 2, 4, 1},       // length mismatch
		{other[:8], buf, 1, 4, 4},   // dst too short
		{buf, buf, 1, 4, 4},         // same buffer
		{other, buf, 1 << 40, 4, 4}, // overflow
	} {
		err := PermuteQK(c.dst, c.src, c.heads, c.hd, c.rowBytes)
		if !errors.Is(err, ErrPermute) {
			t.Errorf("%d/%d/%d: %v", c.heads, c.hd, c.rowBytes, err)
		}
	}
}
