// TopK transcoder (docs/science/transcoders.md), the baseline MxD is compared with:
// a = TopK(ReLU(W_encᵀx + b_enc), K), ŷ = W_decᵀa + b_dec, names and shapes as SAELens.
import type { LayerKindDescriptor, LayerSize } from './types.js'

/** TopK transcoder: W_enc, b_enc, W_dec, b_dec (+ W_skip). */
export function transcoderParams(dIn: number, dOut: number, width: number, skip: boolean): number {
  return dIn * width + width + width * dOut + dOut + (skip ? dOut * dIn : 0)
}

/** The tensors of a TopK transcoder, with W_skip [d_out, d_in] when `skip`. */
export function transcoderTensors(s: LayerSize, skip: boolean): Record<string, number[]> {
  return {
    W_enc: [s.dIn, s.width],
    b_enc: [s.width],
    W_dec: [s.width, s.dOut],
    b_dec: [s.dOut],
    ...(skip ? { W_skip: [s.dOut, s.dIn] } : {}),
  }
}

/** The hook point of a transcoder's latents (both transcoder kinds share it). */
export function transcoderCodesHook(block: number): string {
  return `blocks.${block}.transcoder.hook_codes`
}

export const transcoderKind: LayerKindDescriptor<'transcoder'> = {
  id: 'transcoder',
  name: 'TopK transcoder',
  short: 'Transcoder',
  unit: { one: 'latent', many: 'latents' },
  help: 'A TopK transcoder: K of d_sae latents active per token; the output lies in the span of those K decoder rows. The usual sparse baseline.',
  chartSlot: 2,
  usesHidden: false,
  widthField: 'width',
  sizeField: { label: 'Latents d_sae', defaultText: '32·d' },
  defaultWidth: ({ d }) => 32 * d,
  parameters: (s) => transcoderParams(s.dIn, s.dOut, s.width, false),
  forwardMacs: (s) => s.dIn * s.width + s.k * s.dOut,
  codesHook: transcoderCodesHook,
  file: {
    widthKey: 'd_sae',
    activation: () => 'topk_relu',
    activations: ['topk_relu'],
    tensors: (s) => transcoderTensors(s, false),
    unitNorm: 'W_dec',
    saelensArchitectures: ['transcoder'],
  },
}
