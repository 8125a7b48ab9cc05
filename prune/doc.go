// Package prune removes whole structures from a llama-family model:
// feed-forward channels, attention heads (whole key/value groups or query
// heads within every group; latent attention heads, see mla.go) and whole
// blocks, chosen from calibration statistics, and repairs what it cut by
// least squares; and routed experts of mixture-of-experts layers (see
// experts.go).
//
// # Statistics
//
// Stats is an observer of the forward pass (it implements the method set of
// engine.Observer, so the caller attaches it to a Session; this package does
// not import the engine). For every block it accumulates, over all
// calibration tokens, the Gram matrices X^T X of the input of ffn_down (the
// gated channel activations h = silu(gate)·up, one column per channel) and of
// attn_output (the concatenated head outputs), in float64, one forward chunk
// at a time, and the cosine between the residual stream entering and leaving
// each block.
//
// # Importance
//
//   - Feed-forward channel j (activation-aware, as Wanda, Sun et al. 2023,
//     and FLAP, An et al. 2024, weigh weights by their input's norm): the
//     energy of its contribution to the residual stream,
//     ||h_j||² · ||W_down[:, j]||², i.e. the squared product of the channel's
//     activation norm and its down_proj column norm. The magnitude baseline
//     scores ||W_gate[j]||² + ||W_up[j]||² + ||W_down[:, j]||².
//   - Attention head h: the energy of its output through o_proj,
//     Σ_t ||W_o[:, h] a_h,t||² = tr(W_o,h G_hh W_o,h^T), with G the Gram
//     matrix of the attn_output input. A key/value group scores the sum of
//     its query heads.
//   - Block l (ShortGPT, Men et al. 2024): block influence
//     BI = 1 - mean_t cos(x_l,t, x_l+1,t); the lowest are removed.
//
// Allocation is global: units of every layer compete on one scale, with a
// floor of kept units per layer, so layers end up with different widths.
// The scale is the energy a unit writes to the residual stream divided by
// the energy of the stream leaving its block (Targets.Relative: the share of
// the stream it writes, which the following RMSNorms see) or the absolute
// energy; under a parameter budget, that per parameter removed. Query heads are
// kept a multiple of the key/value heads by removing either a whole group or
// one query head from every group of a layer at a time.
//
// # Repair
//
// The projection that consumes removed units (ffn_down for channels,
// attn_output for heads) is refitted so that the layer's output on the
// calibration activations matches the unpruned layer's: with S the kept
// inputs, W' = argmin ||X_S W'^T - X W^T||² + λ||W'||², whose normal
// equations (G_SS + λI) W'^T = G_S,: W^T need only the Gram matrix G; λ is
// the ridge factor times the mean of diag(G_SS). This is the layer-wise
// least-squares reconstruction of FLAP's bias compensation and of
// SliceGPT/LLM-Surgeon-style refits, solved with a Cholesky factorization
// and one multi-right-hand-side solve (internal/linalg, on gonum's LAPACK).
//
// # Output
//
// Apply returns a dense Model with new shapes: tensors sliced, blocks
// renumbered, Config.Heads, KVHeads and FFN per layer, in the source
// precision. WriteGGUF stores it with per-layer head_count, head_count_kv
// and feed_forward_length INT32 arrays where widths differ, and records the
// recipe and the kept counts under shrink.prune.*. llama.cpp's "llama"
// loader reads one width for all layers, so by default (ArchAuto) a
// non-uniform llama model is written under architecture "deci", llama.cpp's
// llama graph with per-layer widths (DeciLM, Nemotron-NAS); uniform results
// keep the source architecture, and WriteHF writes them as a Hugging Face
// folder. With F16 matrices, llama.cpp (build 4748, x86 CPU) matches the
// reference only when the feed-forward widths are multiples of 32: widths
// that are odd or multiples of 8 only differ by 0.2-0.5% in perplexity on
// dev-llama-3m (F32 matrices match at any width), so callers should keep
// widths a multiple of 32 (Targets.Multiple), which block quantization
// needs anyway.
package prune
