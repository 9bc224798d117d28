// Mixture of Decoders (Oldfield et al., NeurIPS 2025; docs/science/mxd.md): a dense hidden layer
// z shared by N experts, K of them active per token, ŷ = (Cᵀa) ∗ (Dᵀz) + b_out. Its parameter
// count and its parameter-matched N live here only; the engine (src/engine/layers/mxd.ts) reads them.
import type { LayerKindDescriptor, LayerSize } from './types.js'

/** Exact MxD parameters: E, b_E, (E_glu, b_glu,) G, b_G, C, D, b_out. */
export function mxdParams(dIn: number, dOut: number, hidden: number, experts: number, glu: boolean): number {
  return (glu ? 2 : 1) * (dIn * hidden + hidden) + experts * (dIn + 1 + dOut) + hidden * dOut + dOut
}

/**
 * N for which MxD is parameter-matched to a TopK transcoder with S = latentsPerInput·d_in
 * latents, reproducing the official scripts' figures exactly (GPT-2 21,490; Pythia-410M
 * 28,658; Pythia-1.4B 57,330; Llama-3.2-3B 86,015 GLU with H = 8192 / 90,087 MLP with
 * H = ⌊2.67·3072⌋ = 8202). The two official formulas count different terms:
 *  - MLP (train_gpt2.py): only the weight matrices are matched, N = round((S·(d+O) − H·(d+O)) / (d+O+1));
 *    the transcoder's biases (S + O) cancel against a mis-typed "S + O" in the MxD count, so b_E
 *    (H) and b_out are left out, and each expert costs d + O + 1 (gate row, gate bias, c_n).
 *  - GLU (train_llama3.2_3b.py): every parameter is counted, transcoder S·(d+1+O) + O against
 *    MxD 2·H·(d+1) + O·(H+1) + N·(d+1+O), and N is rounded down.
 */
export function matchedExperts(dIn: number, dOut: number, hidden: number, glu: boolean, latentsPerInput = 32): number {
  const S = latentsPerInput * dIn
  const perExpert = dIn + 1 + dOut
  if (glu) {
    const transcoder = S * (dIn + 1 + dOut) + dOut
    const fixed = 2 * hidden * (dIn + 1) + dOut * (hidden + 1)
    return Math.floor((transcoder - fixed) / perExpert)
  }
  return Math.round((S * (dIn + dOut) - hidden * (dIn + dOut)) / perExpert)
}

/** TransformerLens-style name of the post-TopK coefficients a for block L. */
export function mxdGateHookName(block: number): string {
  return `blocks.${block}.mxd.hook_gate`
}

/** MxD's H; a size without one is a caller's bug (the config resolver always fills it in). */
function hiddenOf(size: LayerSize): number {
  if (size.hidden === null) throw new Error('an MxD layer needs its hidden width H')
  return size.hidden
}

export const mxdKind: LayerKindDescriptor<'mxd'> = {
  id: 'mxd',
  name: 'MxD',
  short: 'MxD',
  unit: { one: 'expert', many: 'experts' },
  help: 'Mixture of Decoders: N full-rank linear experts, K of them active per token. Keeps the dense layer’s expressive power while each token uses only a few experts.',
  chartSlot: 1,
  usesHidden: true,
  widthField: 'experts',
  sizeField: { label: 'Experts N', defaultText: 'Parameter-matched' },
  defaultWidth: ({ d, hidden, glu }) => Math.max(1, matchedExperts(d, d, hidden, glu)),
  parameters: (s) => mxdParams(s.dIn, s.dOut, hiddenOf(s), s.width, s.glu),
  forwardMacs: (s) => (s.glu ? 2 : 1) * s.dIn * hiddenOf(s) + hiddenOf(s) * s.dOut + s.dIn * s.width + s.k * s.dOut,
  codesHook: mxdGateHookName,
  file: {
    widthKey: 'n_experts',
    activation: (s) => (s.glu ? 'glu' : 'gelu'),
    activations: ['gelu', 'glu'],
    tensors: (s) => {
      const H = hiddenOf(s)
      return {
        E: [s.dIn, H],
        b_E: [H],
        ...(s.glu ? { E_glu: [s.dIn, H], b_glu: [H] } : {}),
        G: [s.dIn, s.width],
        b_G: [s.width],
        C: [s.width, s.dOut],
        D: [H, s.dOut],
        b_out: [s.dOut],
      }
    },
    unitNorm: 'C',
    saelensArchitectures: [],
  },
}
