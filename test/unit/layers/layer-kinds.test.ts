// The layer-kind registry: every built-in descriptor agrees with its engine half (tensor names,
// shapes, parameter count, unit-norm rows), the default widths are the published matched-parameter
// figures, and the config schema accepts exactly the registered kinds.
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { createSparseLayer, layerImplementation, registerSparseLayerKind } from '../../../src/engine/layers/kinds.js'
import { ConvertConfig, ConvertSweep, previewConversion } from '../../../src/shared/convert.js'
import {
  isLayerKind,
  layerKind,
  layerKinds,
  registerLayerKind,
  tensorParameters,
  type LayerSize,
} from '../../../src/shared/layer-kinds/index.js'

beforeAll(async () => {
  await initBackend()
})

const sizes: LayerSize[] = [
  { dIn: 8, dOut: 6, width: 20, k: 3, hidden: 12, glu: false },
  { dIn: 8, dOut: 6, width: 20, k: 3, hidden: 12, glu: true },
]

describe('built-in kinds', () => {
  it('are MxD, the TopK transcoder and the skip transcoder, in that order', () => {
    expect(layerKinds().map((d) => d.id)).toEqual(['mxd', 'transcoder', 'skip_transcoder'])
  })

  for (const kind of layerKinds()) {
    it(`${kind.id}: the descriptor's tensors and parameter count are the engine layer's`, () => {
      for (const base of sizes) {
        const size = kind.usesHidden ? base : { ...base, hidden: null, glu: false }
        const layer = createSparseLayer(kind.id, size, 1)
        expect(layer.kind).toBe(kind.id)
        expect(layer.size).toEqual(size)
        const shapes = Object.fromEntries(Object.entries(layer.toTensors()).map(([n, t]) => [n, t.shape]))
        expect(shapes).toEqual(kind.file.tensors(size))
        expect(kind.parameters(size)).toBe(layer.parameterCount())
        expect(tensorParameters(kind, size)).toBe(layer.parameterCount())
        // The rows the descriptor calls unit-norm are the ones afterStep keeps at norm 1.
        const v = layer.params[kind.file.unitNorm]!
        tf.tidy(() => v.assign(tf.mul(tf.add(v, 0.5), 3)))
        layer.afterStep()
        for (const n of tf.tidy(() => tf.sqrt(tf.sum(tf.square(v), 1)).dataSync())) expect(n).toBeCloseTo(1, 5)
        layer.dispose()
      }
    })
  }

  it('default widths are the published parameter-matched figures (32·d TopK transcoder)', () => {
    const gpt2 = { architecture: 'gpt2', layers: 12, dModel: 768, mlpWidth: 3072, contextLength: 1024 }
    const base = { model: '/m', layer: 6, data: '/d' }
    const width = (kind: string, shape = gpt2): number => previewConversion(ConvertConfig.parse({ ...base, kind }), shape).width
    expect(width('mxd')).toBe(21_490) // Oldfield et al.'s GPT-2 figure
    expect(width('transcoder')).toBe(32 * 768)
    // d² = 589,824 at 2d + 1 = 1,537 parameters a latent is 383.75 → 384 latents fewer.
    expect(width('skip_transcoder')).toBe(32 * 768 - 384)
    expect(width('mxd', { architecture: 'llama', layers: 28, dModel: 3072, mlpWidth: 8192, contextLength: 8192 })).toBe(86_015)
  })
})

describe('registration', () => {
  it('the config schema refuses an unregistered kind by listing the registered ones, and accepts it once registered', () => {
    const parsed = ConvertConfig.safeParse({ model: '/m', layer: 1, data: '/d', kind: 'nope' })
    expect(parsed.success).toBe(false)
    expect(parsed.error!.issues[0]!.message).toBe('unknown layer kind "nope": use one of "mxd", "transcoder", "skip_transcoder"')
    expect(ConvertSweep.safeParse({ model: '/m', layer: 1, data: '/d', ks: [4], kinds: ['mxd', 'nope'] }).success).toBe(false)
    expect(isLayerKind('nope')).toBe(false)

    const nope = { ...layerKind('transcoder'), id: 'nope', name: 'Nope' }
    registerLayerKind(nope)
    registerLayerKind(nope) // the same descriptor again: harmless
    expect(isLayerKind('nope')).toBe(true)
    expect(ConvertConfig.parse({ model: '/m', layer: 1, data: '/d', kind: 'nope' }).kind).toBe('nope')
    expect(layerKinds().at(-1)).toBe(nope)
    // A descriptor without an engine half is named as such when a layer is built.
    expect(() => layerImplementation('nope')).toThrow(/has a descriptor but no engine implementation/)
    expect(() => layerImplementation('absent')).toThrow(
      'unknown layer kind "absent": the registered kinds are "mxd", "transcoder", "skip_transcoder", "nope"',
    )
  })

  it('refuses a second kind under a taken id, and ids that are not lower-case identifiers', () => {
    expect(() => registerLayerKind({ ...layerKind('mxd') })).toThrow('layer kind "mxd" is already registered')
    expect(() => registerLayerKind({ ...layerKind('mxd'), id: 'Bad-Id' })).toThrow(/must be lower-case/)
    expect(() => registerSparseLayerKind({ ...layerImplementation('mxd') })).toThrow(/already has an implementation/)
  })
})
