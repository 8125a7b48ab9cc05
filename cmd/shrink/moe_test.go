package main

import (
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/internal/testutil"
)

// TestInspectMoE: inspect shows the expert configuration of
// dev-mixtral-moe, and of dev-deepseek2-moe, whose latent attention is
// not run, its experts and attention sizes.
func TestInspectMoE(t *testing.T) {
	mix := testutil.Shared(t, "models/dev-mixtral-moe")
	ds := testutil.Shared(t, "models/dev-deepseek2-moe")
	for _, c := range []struct{ path, want string }{
		{mix, "experts: 8 routed, 2 used per token, expert ffn 256"},
		{ds, "experts: 8 routed, 2 used per token, expert ffn 128, shared experts 1 (ffn 128), leading dense blocks 1, gating softmax, renormalise false, scale 2"},
		{ds, "attention: multi-head latent, q_lora_rank 64, kv_lora_rank 32, key length 32, value length 16"},
	} {
		code, out, errOut := run(t, "inspect", c.path)
		if code != 0 || !strings.Contains(out, c.want) {
			t.Errorf("inspect %s: code %d, want %q in\n%s%s", c.path, code, c.want, out, errOut)
		}
	}
}
