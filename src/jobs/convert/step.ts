// One optimizer step of the conversion (docs/science/mxd.md#training-objective) and the
// statistics read back from its forward pass: the loss, Σ‖ŷ−y‖², Σ‖y‖², the code's non-zeros and
// the units that fired; MetricWindow sums them into the reported loss, NMSE and L0.
import { tf } from '../../engine/backend.js'
import { mxdLoss } from '../../engine/layers/loss.js'
import type { SparseLayer } from '../../engine/layers/sparse-layer.js'
import type { AdamW } from '../../engine/optim/adamw.js'
import type { Batch } from '../../convert/activation-buffer.js'

export interface StepStats {
  loss: number
  residual: number
  targetSquares: number
  nonZeros: number
  tokens: number
  /** Units with at least one non-zero code in the batch. */
  fired: number[]
}

/**
 * One optimizer step on a batch. Besides the loss it reads back Σ‖ŷ−y‖², Σ‖y‖², the code's
 * non-zeros and which units fired, all computed on the forward pass the gradient uses.
 */
export function trainStep(layer: SparseLayer, opt: AdamW, batch: Batch, rows: number, d: number, lr: number): StepStats {
  const extra: tf.Tensor[] = []
  let fromSelected = false
  const { loss, grads } = tf.tidy(() => {
    const x = tf.tensor2d(batch.x, [rows, d])
    const y = tf.tensor2d(batch.y, [rows, d])
    return layer.valueAndGrads(x, ({ y: yHat, codes, selected }) => {
      // Metrics from the same forward (no gradient flows into them). The code's non-zeros and
      // fired units come from the K selected entries a row where the layer gives them: scanning
      // the dense [B, N] code with NotEqual, Sum and Max cost about 0.5 s a step at GPT-2-small
      // scale, for the same counts.
      extra.push(tf.keep(tf.sum(tf.squaredDifference(yHat, y))), tf.keep(tf.sum(tf.square(y))))
      fromSelected = selected !== undefined
      if (selected) extra.push(tf.keep(selected.values), tf.keep(selected.indices))
      else extra.push(tf.keep(tf.sum(tf.cast(tf.notEqual(codes, 0), 'float32'))), tf.keep(tf.max(codes, 0)))
      return mxdLoss(yHat, y)
    })
  })
  const lossValue = loss.dataSync()[0]!
  const [residual, targetSquares] = extra.slice(0, 2).map((t) => t.dataSync()[0]!) as [number, number]
  const codeStats =
    fromSelected
      ? selectedCodeStats(extra[2]!.dataSync() as Float32Array, extra[3]!.dataSync() as Int32Array, layer.width)
      : denseCodeStats(extra[2]!.dataSync()[0]!, extra[3]!.dataSync() as Float32Array)
  tf.dispose([...extra, loss])
  const { nonZeros, fired } = codeStats
  if (Number.isFinite(lossValue)) {
    const projected = layer.projectGradients(grads)
    opt.applyGradients(projected, lr)
    layer.afterStep()
    tf.dispose(Object.values(projected))
  } else {
    tf.dispose(Object.values(grads))
  }
  return { loss: lossValue, residual, targetSquares, nonZeros, tokens: rows, fired }
}

/** Non-zeros of a dense code and its units with a positive entry, from Σ(a ≠ 0) and the column maxima. */
function denseCodeStats(nonZeros: number, maxCode: Float32Array): { nonZeros: number; fired: number[] } {
  const fired: number[] = []
  for (let u = 0; u < maxCode.length; u++) if (maxCode[u]! > 0) fired.push(u)
  return { nonZeros, fired }
}

/**
 * The same two statistics from the TopK's selected values and indices ([B, K] flattened): the
 * dense code is each value at its index (distinct within a row) and 0 elsewhere, so it has as
 * many non-zeros as the values do, and unit u has a positive entry exactly when some selected
 * value at index u is positive. Units come out in ascending order, as the dense scan gives them.
 */
export function selectedCodeStats(values: Float32Array, indices: Int32Array, width: number): { nonZeros: number; fired: number[] } {
  let nonZeros = 0
  const positive = new Uint8Array(width)
  for (let i = 0; i < values.length; i++) {
    const a = values[i]!
    if (a !== 0) nonZeros++ // NaN counts, as NaN ≠ 0 does in the dense scan
    if (a > 0) positive[indices[i]!] = 1
  }
  const fired: number[] = []
  for (let u = 0; u < width; u++) if (positive[u]) fired.push(u)
  return { nonZeros, fired }
}

/** Sums over the steps since the last report: mean loss, NMSE = Σres/Σ‖y‖², L0 = non-zeros per token. */
export class MetricWindow {
  private steps = 0
  private lossSum = 0
  private residual = 0
  private targetSquares = 0
  private nonZeros = 0
  private tokens = 0
  add(s: StepStats): void {
    this.steps++
    this.lossSum += s.loss
    this.residual += s.residual
    this.targetSquares += s.targetSquares
    this.nonZeros += s.nonZeros
    this.tokens += s.tokens
  }
  reset(): void {
    this.steps = this.lossSum = this.residual = this.targetSquares = this.nonZeros = this.tokens = 0
  }
  get loss(): number {
    return this.lossSum / this.steps
  }
  get nmse(): number {
    return this.residual / this.targetSquares
  }
  get l0(): number {
    return this.nonZeros / this.tokens
  }
}

/** Whether every parameter is finite: a checkpoint is never written from a broken layer. */
export function paramsFinite(layer: SparseLayer): boolean {
  return tf.tidy(() => Object.values(layer.params).every((p) => tf.all(tf.isFinite(p)).dataSync()[0] === 1))
}
