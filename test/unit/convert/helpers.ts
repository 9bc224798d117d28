// Shared by the conversion tests: sparse layers that reproduce or ablate a fixture model's MLP
// exactly, so that splicing them must give CE_clean and CE_zero; a seeded text corpus and the
// job context a conversion run sees in a worker.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Rng } from '../../../src/data/shuffle.js'
import { MxDLayer } from '../../../src/engine/layers/mxd.js'
import { SafetensorsFile } from '../../../src/engine/safetensors.js'
import type { JobContext } from '../../../src/jobs/job.js'
import type { ConvertConfig } from '../../../src/shared/convert.js'
import type { Store } from '../../../src/store/store.js'

export const MODELS = join(import.meta.dirname, '../../fixtures/models')
export const NEOX = join(MODELS, 'neox-tiny-f32')

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!
  return out
}

/**
 * The NeoX fixture's dense MLP of `block` (exact GELU) as an MxD with one always-on expert:
 * G = 0 and b_G = 1 make a = 1, c_1 = 1 (all ones), so ŷ = Dᵀ gelu(Eᵀx + b_E) + b_out, the MLP itself.
 */
export function denseMlpAsMxd(block: number, dir = NEOX): MxDLayer {
  const file = SafetensorsFile.open(join(dir, 'model.safetensors'))
  try {
    const p = `gpt_neox.layers.${block}.mlp.`
    const up = file.info(`${p}dense_h_to_4h.weight`).shape as [number, number] // [H, d]
    const [H, d] = up
    return MxDLayer.fromTensors(
      { dIn: d, dOut: d, hidden: H, experts: 1, k: 1 },
      {
        E: { shape: [d, H], data: transpose(file.readFloat32(`${p}dense_h_to_4h.weight`), H, d) },
        b_E: { shape: [H], data: file.readFloat32(`${p}dense_h_to_4h.bias`) },
        G: { shape: [d, 1], data: new Float32Array(d) },
        b_G: { shape: [1], data: new Float32Array([1]) },
        C: { shape: [1, d], data: new Float32Array(d).fill(1) },
        D: { shape: [H, d], data: transpose(file.readFloat32(`${p}dense_4h_to_h.weight`), d, H) },
        b_out: { shape: [d], data: file.readFloat32(`${p}dense_4h_to_h.bias`) },
      },
    )
  } finally {
    file.close()
  }
}

/** An MxD whose output is exactly 0 (D = 0, b_out = 0): splicing it is zero ablation. */
export function zeroMxd(d: number, experts = 8, k = 2, seed = 3): MxDLayer {
  const fresh = MxDLayer.create({ dIn: d, dOut: d, hidden: 4 * d, experts, k, seed })
  return fresh // D and b_out are zero-initialised
}

/** Seeded pseudo-English: 400 short paragraphs (≈ 60k bytes), written to dir/corpus.txt. */
export function writeTrainCorpus(dir: string): string {
  const words = 'the of and to in is was that for on with as by at from his her they this which be or are an'.split(' ')
  const rng = new Rng(11)
  const paragraphs: string[] = []
  for (let p = 0; p < 400; p++) paragraphs.push(Array.from({ length: 20 + rng.below(20) }, () => words[rng.below(words.length)]).join(' ') + '.')
  const path = join(dir, 'corpus.txt')
  writeFileSync(path, paragraphs.join('\n\n'))
  return path
}

/** What the worker gives a conversion job, on a real store; `cancelled` is the test's to drive. */
export function jobContext(store: Store, config: ConvertConfig, runId: number, cancelled: () => boolean = () => false): JobContext<ConvertConfig> {
  return {
    runId,
    kind: 'convert',
    config,
    store,
    resumeFrom: store.latestCheckpoint(runId),
    cancelled,
    progress: () => undefined,
    log: (level, message) => store.log(runId, level, message),
    checkpoint: () => {
      throw new Error('the conversion job writes its own checkpoints')
    },
  }
}
