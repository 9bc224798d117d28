// Skip transcoder (Paulo et al., arXiv 2501.18823): a TopK transcoder plus a linear skip
// connection, ŷ = W_decᵀa + b_dec + W_skip x.
import { transcoderCodesHook, transcoderParams, transcoderTensors } from './transcoder.js'
import type { LayerKindDescriptor } from './types.js'

/**
 * d_sae of a skip transcoder with as many parameters as a TopK transcoder of `latentsPerInput`·d
 * latents: each latent costs 2d + 1 parameters (encoder row, bias, decoder row), W_skip costs d².
 */
export function matchedSkipWidth(d: number, latentsPerInput = 32): number {
  return Math.max(1, latentsPerInput * d - Math.round((d * d) / (2 * d + 1)))
}

export const skipTranscoderKind: LayerKindDescriptor<'skip_transcoder'> = {
  id: 'skip_transcoder',
  name: 'Skip transcoder',
  short: 'Skip transcoder',
  unit: { one: 'latent', many: 'latents' },
  help: 'A TopK transcoder plus a linear skip connection W_skip·x (d×d) from input to output.',
  chartSlot: 3,
  usesHidden: false,
  widthField: 'width',
  sizeField: { label: 'Latents d_sae', defaultText: 'Matched to 32·d (W_skip’s d² paid in latents)' },
  defaultWidth: ({ d }) => matchedSkipWidth(d),
  parameters: (s) => transcoderParams(s.dIn, s.dOut, s.width, true),
  forwardMacs: (s) => s.dIn * s.width + s.k * s.dOut + s.dOut * s.dIn,
  codesHook: transcoderCodesHook,
  file: {
    widthKey: 'd_sae',
    activation: () => 'topk_relu',
    activations: ['topk_relu'],
    tensors: (s) => transcoderTensors(s, true),
    unitNorm: 'W_dec',
    // SAELens calls both "transcoder"; a file with W_skip is this kind.
    saelensArchitectures: ['skip_transcoder', 'transcoder'],
  },
}
