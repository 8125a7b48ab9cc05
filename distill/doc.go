// Package distill trains llama-family models on the CPU: from scratch
// (shrink train) or toward a teacher (shrink distill), all weights or
// low-rank adapters (LoRA, merged when the model is written).
//
// A Model holds float32 parameters; its forward and backward passes run
// their matrix products on internal/kernel's float32 GEMM. The loss is a
// weighted sum of temperature²·KL(teacher || student) on the logits, the
// cross-entropy on the text's next tokens and the MSE between the residual
// streams of matching blocks (Options). A Teacher gives the target logits:
// the inference engine on the teacher's weights in their stored type
// (EngineTeacher), a float32 Model (ModelTeacher) or a file of logits
// written beforehand (WriteTeacherCache, CacheTeacher). A Trainer runs AdamW
// with a linear warm-up and cosine decay, gradient accumulation over a
// batch and global-norm clipping, evaluates held-out windows and saves and
// resumes checkpoints; Model.Recompute trades a second forward pass per
// block for activation memory. LoadStored keeps a student's matrices
// frozen in their stored type (F16, BF16, Q8_0, K-quants...) for LoRA:
// the base's products dequantize a tile of rows at a time into the
// float32 GEMM, the adapters stay float32 and are merged only when the
// model is written.
//
// Biases, mixture-of-experts layers, q/k norms, latent attention and RoPE
// scaling other than linear and llama3 are refused (ErrUnsupported).
package distill
