// Float64 references for the privacy tests, written here independently of the engine: logistic
// regression and the one-hidden-layer MLP as loops, the three uncertainty losses, cross-entropy,
// F, and central-difference gradients of any of them. Plus a planted data set (8×8 images,
// 4 classes, a bright bar per class over noise: test/unit/classify/planted.ts) and a quickly
// trained classifier on it.
import { Rng } from '../../../src/data/shuffle.js'
import { tf } from '../../../src/engine/backend.js'
import type { Classifier, ClassifierParams } from '../../../src/engine/classifiers/classifier.js'
import { createClassifier } from '../../../src/engine/classifiers/registry.js'
import { batchTensor, rangeIndices } from '../../../src/engine/classifiers/rows.js'
import { classifierStep, makeOptimizer } from '../../../src/engine/classifiers/train.js'
import type { LabelledRows, ObjectiveConfig, UncertaintyLoss } from '../../../src/engine/privacy/types.js'
import { CLASSES, plantedImage, SIDE } from '../classify/planted.js'

export type Weights64 = Record<string, Float64Array>

/** The weights of a parameter set as float64 copies. */
export function weights64(params: ClassifierParams): Weights64 {
  return Object.fromEntries(Object.entries(params.weights).map(([n, v]) => [n, Float64Array.from(v.dataSync())]))
}

/** x [n × d] → x W + b, W [d × k] row-major. */
function affine(x: Float64Array, n: number, d: number, w: Float64Array, b: Float64Array, k: number): Float64Array {
  const out = new Float64Array(n * k)
  for (let i = 0; i < n; i++)
    for (let c = 0; c < k; c++) {
      let s = b[c]!
      for (let j = 0; j < d; j++) s += x[i * d + j]! * w[j * k + c]!
      out[i * k + c] = s
    }
  return out
}

/** Logits [n × k] of logreg ('head') or the MLP ('fc1', 'fc2') on pixel rows x [n × d]. */
export function forward64(kind: 'logreg' | 'mlp', w: Weights64, x: Float64Array, n: number, d: number, k: number): Float64Array {
  if (kind === 'logreg') return affine(x, n, d, w['head.weight']!, w['head.bias']!, k)
  const hidden = w['fc1.bias']!.length
  const h = affine(x, n, d, w['fc1.weight']!, w['fc1.bias']!, hidden).map((v) => Math.max(0, v))
  return affine(h, n, hidden, w['fc2.weight']!, w['fc2.bias']!, k)
}

/** log-softmax of one row. */
export function logSoftmax64(z: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(z))
  const lse = m + Math.log(Array.from(z).reduce((s, v) => s + Math.exp(v - m), 0))
  return Array.from(z, (v) => v - lse)
}

/** Mean over rows of the uncertainty loss of logits [n × k] (already divided by the temperature). */
export function lossK64(z: Float64Array, n: number, k: number, kind: UncertaintyLoss): number {
  let sum = 0
  for (let i = 0; i < n; i++) {
    const lp = logSoftmax64(z.subarray(i * k, (i + 1) * k))
    if (kind === 'forward-kl') sum += Math.log(k) + lp.reduce((s, l) => s + Math.exp(l) * l, 0)
    else if (kind === 'reverse-kl') sum += -Math.log(k) - lp.reduce((s, l) => s + l, 0) / k
    else sum += lp.reduce((s, l) => s + (Math.exp(l) - 1 / k) ** 2, 0)
  }
  return sum / n
}

export function crossEntropy64(z: Float64Array, labels: ArrayLike<number>, k: number): number {
  let sum = 0
  for (let i = 0; i < labels.length; i++) sum -= logSoftmax64(z.subarray(i * k, (i + 1) * k))[labels[i]!]!
  return sum / labels.length
}

/** Pixels in [0, 1] of labelled byte rows, as float64 [n × d]. */
export const pixels64 = (rows: LabelledRows): Float64Array => Float64Array.from(rows.images, (b) => b / 255)

export interface Terms64 {
  lossK: number
  lossA: number
  regulariser: number
  total: number
}

/** F's terms in float64 at weights w. */
export function objective64(kind: 'logreg' | 'mlp', w: Weights64, forget: LabelledRows, retain: LabelledRows, k: number, cfg: ObjectiveConfig): Terms64 {
  const d = forget.height * forget.width * forget.channels
  const scaled = (rows: LabelledRows): Float64Array => forward64(kind, w, pixels64(rows), rows.labels.length, d, k).map((v) => v / cfg.temperature)
  const lossK = lossK64(scaled(forget), forget.labels.length, k, cfg.lossK)
  const lossA = crossEntropy64(scaled(retain), retain.labels, k)
  let sq = 0
  for (const v of Object.values(w)) for (const x of v) sq += x * x
  const regulariser = (cfg.lambda / 2) * sq
  return { lossK, lossA, regulariser, total: cfg.theta * lossK + (1 - cfg.theta) * lossA + regulariser }
}

/** Central-difference gradient of f at w, per weight (float64, step h). */
export function numericGradient(w: Weights64, f: (w: Weights64) => number, h = 1e-6): Weights64 {
  const out: Weights64 = {}
  for (const [name, v] of Object.entries(w)) {
    const g = new Float64Array(v.length)
    for (let i = 0; i < v.length; i++) {
      const keep = v[i]!
      v[i] = keep + h
      const up = f(w)
      v[i] = keep - h
      const down = f(w)
      v[i] = keep
      g[i] = (up - down) / (2 * h)
    }
    out[name] = g
  }
  return out
}

/** All weights as one vector, in the order of `names`. */
export const flat64 = (w: Record<string, ArrayLike<number>>, names: string[]): Float64Array => Float64Array.from(names.flatMap((n) => Array.from(w[n]!)))

export const norm64 = (v: ArrayLike<number>): number => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0))

/** Planted 8×8 images, `perClass` of each of the 4 classes, interleaved by class. */
export function plantedRows(perClass: number, seed: number): LabelledRows {
  const rng = new Rng(seed)
  const n = perClass * CLASSES
  const images = new Uint8Array(n * SIDE * SIDE)
  const labels = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    labels[i] = i % CLASSES
    images.set(plantedImage(i % CLASSES, rng), i * SIDE * SIDE)
  }
  return { images, labels, height: SIDE, width: SIDE, channels: 1 }
}

/** Rows `indices` of a set (a new set). */
export function subset(rows: LabelledRows, indices: number[]): LabelledRows {
  const size = rows.height * rows.width * rows.channels
  const images = new Uint8Array(indices.length * size)
  indices.forEach((i, j) => images.set(rows.images.subarray(i * size, (i + 1) * size), j * size))
  return { ...rows, images, labels: Uint8Array.from(indices, (i) => rows.labels[i]!) }
}

export const PLANTED_SHAPE = { height: SIDE, width: SIDE, channels: 1, classes: CLASSES }

/** A classifier trained full-batch with AdamW on `rows` until confident (fixed seed and steps). */
export function trainedClassifier(kind: 'logreg' | 'mlp', rows: LabelledRows, steps = 150, config: Record<string, unknown> = {}): { model: Classifier; params: ClassifierParams } {
  const model = createClassifier(kind, config, PLANTED_SHAPE)
  const params = model.init(7)
  const optimizer = makeOptimizer(params, { kind: 'adamw', lr: 0.05, weightDecay: 0 })
  const batch = batchTensor(rows, rangeIndices(0, rows.labels.length))
  for (let s = 0; s < steps; s++) classifierStep(model, params, optimizer, batch)
  tf.dispose(batch.images)
  optimizer.dispose()
  return { model, params }
}
