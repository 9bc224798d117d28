// A planted μMoE mixer and images for the image expert tests. Images are 4×4 grayscale in 4
// classes, cut into four 2×2 patches. A patch of a class-e image either carries class e's mark
// (pixel e of the patch at 255, the others dim noise in 0..20) or is flat gray (all four pixels
// 100). The mixer's weights are set by hand so that:
//   - the patch embedding maps pixels (p0..p3) to channels (p0..p3, −p0..−p3); token mixing
//     outputs zero (fc2 = 0), so LN₂ sees exactly that vector;
//   - the channel MLP's second layer is zero, so each block passes its input on unchanged and
//     every block gates like the first;
//   - the gate G reads channel e minus channel e+4 into expert e's logit (×3 each), and the
//     BatchNorm's running statistics are (0, 1).
// A marked patch then gives logit ≈ 12 to expert e and ≤ 1 to the others: entmax-1.5 puts all
// the weight on e. A gray patch gives every expert the same logit: weight 1/4 each. So an image
// of class e with m marked patches has pooled weight (m + (4 − m)/4)/4 for expert e and
// (4 − m)/16 for each other expert.
import { tf } from '../../../src/engine/backend.js'
import { createMixer, mixerSchema, type MixerConfig } from '../../../src/engine/classifiers/mixer.js'
import type { ClassifierParams, ImageShape } from '../../../src/engine/classifiers/classifier.js'
import type { ImageData } from '../../../src/analysis/image-experts/analyze.js'

export const K = 4
export const SHAPE: ImageShape = { height: 4, width: 4, channels: 1, classes: K }
export const CLASSES = ['zero', 'one', 'two', 'three']
/** Images per class: unequal on purpose. */
export const PER_CLASS = [20, 24, 28, 32]

export const CONFIG: MixerConfig = mixerSchema.parse({ patch: 2, hidden: 8, tokenMixing: 4, channelMixing: 8, depth: 2, mlp: 'cpmoe', experts: K, rank: 2 })

/** Deterministic generator (LCG) so the images are the same on every run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32)
}

export interface PlantedImages extends ImageData {
  /** Marked patches per image (1..4). */
  marked: number[]
}

/** The images, classes interleaved in a seeded order; image i of a class has 1 + (i mod 4) marked patches. */
export function plantedImages(): PlantedImages {
  const rand = lcg(7)
  const order: number[] = PER_CLASS.flatMap((n, c) => new Array<number>(n).fill(c))
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[order[i], order[j]] = [order[j] as number, order[i] as number]
  }
  const seen = new Array<number>(K).fill(0)
  const images = new Uint8Array(order.length * 16)
  const marked: number[] = []
  order.forEach((label, n) => {
    const m = 1 + ((seen[label] as number)++ % 4)
    marked.push(m)
    // Which patches carry the mark: the first m of a per-image rotation.
    const start = Math.floor(rand() * 4)
    for (let p = 0; p < 4; p++) {
      const isMarked = (p - start + 4) % 4 < m
      const [py, px] = [Math.floor(p / 2), p % 2]
      for (let k = 0; k < 4; k++) {
        const [dy, dx] = [Math.floor(k / 2), k % 2]
        const value = isMarked ? (k === label ? 255 : Math.floor(rand() * 21)) : 100
        images[n * 16 + (2 * py + dy) * 4 + (2 * px + dx)] = value
      }
    }
  })
  return { images, shape: [order.length, 4, 4, 1], labels: Uint8Array.from(order), classes: CLASSES, marked }
}

/** The mixer with the planted weights (both blocks the same), the rest from init(seed). */
export function plantedMixer(seed = 3): { model: ReturnType<typeof createMixer>; params: ClassifierParams; config: MixerConfig } {
  const model = createMixer(CONFIG, SHAPE)
  const params = model.init(seed)
  const set = (name: string, values: number[], shape: number[]): void => {
    const v = params.weights[name] ?? params.buffers[name]
    if (!v) throw new Error(`no parameter ${name}`)
    v.assign(tf.tensor(values, shape))
  }
  const patch = new Array<number>(4 * 8).fill(0)
  for (let j = 0; j < 4; j++) {
    patch[j * 8 + j] = 1
    patch[j * 8 + j + 4] = -1
  }
  set('patch.weight', patch, [4, 8])
  set('patch.bias', new Array<number>(8).fill(0), [8])
  const G = new Array<number>(8 * K).fill(0)
  for (let e = 0; e < K; e++) {
    G[e * K + e] = 3
    G[(e + 4) * K + e] = -3
  }
  for (let b = 0; b < CONFIG.depth; b++) {
    set(`blocks.${b}.token.fc2.weight`, new Array<number>(4 * 4).fill(0), [4, 4])
    set(`blocks.${b}.token.fc2.bias`, new Array<number>(4).fill(0), [4])
    set(`blocks.${b}.channel.gate.G`, G, [8, K])
    set(`blocks.${b}.channel.gate.running_mean`, new Array<number>(K).fill(0), [K])
    set(`blocks.${b}.channel.gate.running_var`, new Array<number>(K).fill(1), [K])
    // The channel MLP's second layer outputs zero, so every block sees the same table as block 0.
    for (const [name, v] of Object.entries(params.weights)) if (name.startsWith(`blocks.${b}.channel.second.`)) v.assign(tf.zerosLike(v))
  }
  return { model, params, config: CONFIG }
}
