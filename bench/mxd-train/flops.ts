// The useful floating-point work of one MxD training step per token, the same count for every
// implementation (bench/mxd-train/torch_mxd.py has the same formula): multiply-adds × 2 of
//   forward   x·E (d·H), z·D (H·O), x·G (d·N), the K selected rows of C (K·O)
//   backward  dD = zᵀ·g (H·O), dz = g·Dᵀ (H·O), dE = xᵀ·dpre (d·H), dG and dC on the K selected
//             experts only (K·d + K·O); no gradient for x (the layer input is data)
// An implementation that differentiates the gate densely (d·N more) does more work than counted.
export function trainFlopsPerToken(d: number, H: number, N: number, K: number): number {
  const forward = d * H + H * d + d * N + K * d
  const backward = 2 * H * d + d * H + K * d + K * d
  return 2 * (forward + backward)
}
