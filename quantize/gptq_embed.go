package quantize

// The token embedding is not a product with an activation: a token id
// selects a row e, which enters the residual stream. GPTQ's Hessian for it
// is taken from its consumers instead. Every block l reads the residual
// through RMSNorm (gain g) into its projections W (q, k, v after
// attn_norm; gate, up after ffn_norm), so an error δ in e changes their
// outputs by about W diag(g) δ / rms_l, rms_l the residual's RMS entering
// block l. The row's error then costs δᵀ H δ with
//
//	H = Σ_l Σ_W diag(g) WᵀW diag(g) / rms_l²
//
// which GPTQ minimises along the row as it does for a linear layer (its
// diagonal alone is an importance-matrix row for the embedding).

// EmbeddingTerm is one consumer of the residual stream: a projection
// Weight (rows×len(Norm), row-major) applied after an RMSNorm of gain Norm,
// weighted by Scale (1/mean square of the residual it reads).
type EmbeddingTerm struct {
	Norm   []float32
	Weight []float32
	Scale  float64
	// Rows, when above Weight's row count, is the number of rows of the
	// projection that Weight samples (evenly spaced, as SampleStep
	// spaces them): the sum is scaled up to stand for all of them.
	Rows int
}

// SampleStep is the spacing of the rows EmbeddingHessian takes from a
// weight of rows rows: every row, or every step-th from the first so that
// at most maxRows (> 0) are used.
func SampleStep(rows, maxRows int) int {
	if maxRows > 0 && rows > maxRows {
		return (rows + maxRows - 1) / maxRows
	}
	return 1
}

// EmbeddingHessian returns the dim×dim matrix H above (row-major) from the
// terms whose Norm has dim values. To bound the work, each weight
// contributes at most maxRows of its rows (evenly spaced, the sum scaled up
// to stand for all rows); maxRows <= 0 uses every row.
func EmbeddingHessian(dim int, terms []EmbeddingTerm, maxRows int) []float64 {
	H := make([]float64, dim*dim)
	row := make([]float64, dim)
	for _, t := range terms {
		if len(t.Norm) != dim || len(t.Weight) < dim || len(t.Weight)%dim != 0 || !(t.Scale > 0) {
			continue
		}
		rows := len(t.Weight) / dim
		step := SampleStep(rows, maxRows)
		used := 0
		for r := 0; r < rows; r += step {
			used++
		}
		total := rows
		if t.Rows > rows {
			total = t.Rows
		}
		f := t.Scale * float64(total) / float64(used)
		for r := 0; r < rows; r += step {
			w := t.Weight[r*dim : (r+1)*dim]
			for j, v := range w {
				row[j] = float64(v) * float64(t.Norm[j])
			}
			for i, a := range row {
				if a == 0 {
					continue
				}
				a *= f
				h := H[i*dim : (i+1)*dim]
				for j := i; j < dim; j++ {
					h[j] += float64(a * row[j])
				}
			}
		}
	}
	for i := 0; i < dim; i++ {
		for j := i + 1; j < dim; j++ {
			H[j*dim+i] = H[i*dim+j]
		}
	}
	return H
}
