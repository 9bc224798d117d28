// Test helper: builds a μMoE layer's full expert tensor W [N, I+1, O] from its factors,
// in float64 with plain loops (independent of the layer's matMul path), and evaluates the mixture
// y = Σ_n a_n W_nᵀ [z; 1] the factorized forward must equal. Only for small sizes: W has
// N·(I+1)·O entries, which is the very thing the factorized layers avoid.
import type { CPMuMoE, LayerDims, MuMoELayer, TRMuMoE, TRRanks } from '../../src/engine/layers/mumoe.js'

export interface ExpertTensor {
  nExperts: number
  /** I + 1: the last input row of each expert is its bias. */
  inputRows: number
  outputDim: number
  /** Row-major [N, I+1, O]. */
  data: Float64Array
}

const values = (t: { dataSync(): ArrayLike<number> }): Float64Array => Float64Array.from(t.dataSync())

/** Reads a layer's factors (float32 → float64) and builds its expert tensor. */
export function materializeExperts(layer: MuMoELayer): ExpertTensor {
  if (layer.kind === 'cp') {
    const cp = layer as CPMuMoE
    return cpExperts(cp, cp.rank, { U1: values(cp.U1), U2: values(cp.U2), U3t: values(cp.U3t) })
  }
  const tr = layer as TRMuMoE
  return trExperts(tr, tr.ranks, { G1: values(tr.G1), G2: values(tr.G2), G3: values(tr.G3) })
}

export interface CPFactors {
  U1: ArrayLike<number>
  U2: ArrayLike<number>
  U3t: ArrayLike<number>
}

/** W[n,i,o] = Σ_r U1[n,r] U2[i,r] U3[o,r]   (U3 stored transposed: U3t[r,o]). */
export function cpExperts(dims: LayerDims, R: number, { U1: u1, U2: u2, U3t: u3t }: CPFactors): ExpertTensor {
  const N = dims.nExperts
  const I1 = dims.inputDim + 1
  const O = dims.outputDim
  const data = new Float64Array(N * I1 * O)
  for (let n = 0; n < N; n++)
    for (let i = 0; i < I1; i++)
      for (let o = 0; o < O; o++) {
        let s = 0
        for (let r = 0; r < R; r++) s += u1[n * R + r]! * u2[i * R + r]! * u3t[r * O + o]!
        data[(n * I1 + i) * O + o] = s
      }
  return { nExperts: N, inputRows: I1, outputDim: O, data }
}

export interface TRFactors {
  G1: ArrayLike<number>
  G2: ArrayLike<number>
  G3: ArrayLike<number>
}

/**
 * W[n,i,o] = Σ_{a,b,c} G1[a,n,b] G2[b,i,c] G3[c,o,a] = trace(G1[:,n,:] G2[:,i,:] G3[:,o,:]), with
 * the stored layouts G1 [N, r1, r2], G2 [I+1, r2, r3], G3 [r1, r3, O].
 */
export function trExperts(dims: LayerDims, { r1, r2, r3 }: TRRanks, { G1: g1, G2: g2, G3: g3 }: TRFactors): ExpertTensor {
  const N = dims.nExperts
  const I1 = dims.inputDim + 1
  const O = dims.outputDim
  const data = new Float64Array(N * I1 * O)
  for (let n = 0; n < N; n++)
    for (let i = 0; i < I1; i++)
      for (let o = 0; o < O; o++) {
        let s = 0
        for (let a = 0; a < r1; a++)
          for (let b = 0; b < r2; b++)
            for (let c = 0; c < r3; c++) s += g1[(n * r1 + a) * r2 + b]! * g2[(i * r2 + b) * r3 + c]! * g3[(a * r3 + c) * O + o]!
        data[(n * I1 + i) * O + o] = s
      }
  return { nExperts: N, inputRows: I1, outputDim: O, data }
}

/** y[b] = Σ_n a[b,n] W_nᵀ [z[b]; 1], in float64, for rows a [B][N] and z [B][I]. */
export function mixExperts(W: ExpertTensor, a: readonly (readonly number[])[], z: readonly (readonly number[])[]): number[][] {
  const { nExperts: N, inputRows: I1, outputDim: O, data } = W
  return z.map((zRow, b) => {
    const aRow = a[b] as readonly number[]
    const zt = [...zRow, 1]
    const y = new Array<number>(O).fill(0)
    for (let n = 0; n < N; n++)
      for (let i = 0; i < I1; i++) {
        const w = (aRow[n] as number) * (zt[i] as number)
        for (let o = 0; o < O; o++) y[o]! += w * data[(n * I1 + i) * O + o]!
      }
    return y
  })
}
