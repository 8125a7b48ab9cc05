// Package bench measures how well a (quantized, pruned or distilled) model
// still works: perplexity on a text, divergence from a baseline model, speed
// and memory on the reference runtime (package engine), and per-tensor
// weight error against the source checkpoint. It writes the results as a
// shrink.bench/v1 report (JSON, Markdown, a self-contained HTML page with
// inline SVG charts) and checks reports against thresholds (Gate) for CI.
//
// # Perplexity
//
// Perplexity follows llama.cpp's llama-perplexity (examples/perplexity/
// perplexity.cpp) so that figures compare one to one: the whole text is
// tokenized with BOS (when the vocabulary adds one), cut into
// floor(tokens/ctx) chunks of ctx tokens, the first token of every chunk is
// replaced by BOS, the key/value cache is cleared per chunk, and only the
// second half of each chunk is scored: the logits at positions ctx/2 ..
// ctx-2 predict the next token, ctx-1-ctx/2 scored tokens per chunk.
// PPL = exp(mean NLL) and its uncertainty is PPL·sqrt(var(NLL)/(N-1)) with
// var the population variance of the per-token NLL, as llama.cpp prints it.
//
// # Divergence from a baseline
//
// For every scored token, with p the baseline's and q the candidate's
// next-token distribution over the full vocabulary:
//
//	KLD   = KL(p || q) = Σ_i p_i (log p_i - log q_i)
//	top-1 = [argmax p == argmax q]
//	Δp    = q(t) - p(t), t the actual next token
//
// reported as the mean, median, 99th percentile and maximum of the KLD
// (percentiles interpolate linearly between order statistics, as
// llama.cpp does), the fraction of agreeing top-1 tokens, and the mean and
// root mean square of Δp.
//
// # Failures
//
// A model that gives a non-finite logit (a NaN or infinite weight, an
// overflow) cannot be measured. Evaluate stops at the first such chunk and
// re-runs it with an engine.Observer to find the first block whose output
// is non-finite; the report then carries a "failure" object (reason,
// model, chunk, token, layer) instead of the text measurements, so it stays
// valid JSON, and Gate fails it whatever the thresholds.
//
// # Tasks
//
// EvaluateTask scores task files (ReadTaskFile): llama-perplexity's
// HellaSwag, WinoGrande and multiple-choice formats exactly as its
// --hellaswag, --winogrande and --multiple-choice modes do (parsing, random
// subsets, scored tokens, ties, the ± figure), and JSON Lines domain tasks:
// multiple choice by log-likelihood (lm-evaluation-harness's acc and
// acc_norm) and greedy generation checked by exact match or a regular
// expression. Each item's shared prefix is evaluated once and each
// continuation in one batched forward pass. Compare checks a report against
// an older one with paired tests (per-chunk t intervals for KLD and
// perplexity, McNemar's exact test per task).
//
// # Baseline files
//
// A baseline file (WriteBaseline, OpenBaseline) stores what the divergence
// needs without the baseline model: the evaluated tokens and, for every
// scored token, the exact NLL of the true next token, the baseline's top-1
// token, and the log-softmax over the vocabulary linearly quantized to
// 16-bit codes over [max-16, max] nats as llama.cpp's --kl-divergence-base
// does (step 16/65535 ≈ 2.4e-4 nats; code 0 marks the floor). See
// baseline.go for the byte layout. llama.cpp's own "_logits_" files are read
// too. When scoring against a file, the decoded baseline log-probabilities
// of entries above the floor are renormalized to sum to one, which makes
// the rounding error of the codes second order: KL(p||p) from a file is
// below 1e-6 instead of ~1e-4.
package bench
