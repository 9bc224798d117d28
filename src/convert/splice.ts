// Splicing a sparse layer into a model: the layer replaces blocks[L].mlp, reading ln2's output
// (blocks.L.ln2.hook_normalized, [batch, pos, d]) and writing blocks.L.hook_mlp_out. Its post-TopK
// code becomes one more hook point, named by its kind's descriptor (blocks.L.mxd.hook_gate for
// MxD's expert coefficients a, blocks.L.transcoder.hook_codes for a transcoder's latents),
// [batch, pos, width], that can be cached or replaced (steering) like any of the model's own.
import { tf } from '../engine/backend.js'
import type { HookFn, MlpModule } from '../engine/hooks.js'
import type { SparseLayer, SparseLayerKind } from '../engine/layers/sparse-layer.js'
import { layerKind } from '../shared/layer-kinds/index.js'
import type { ForwardOptions, ForwardResult, LanguageModel } from '../engine/models/model.js'
import type { Steer } from '../shared/models.js'

/** The hook point name of a spliced layer's post-TopK code. */
export function codesHookName(kind: SparseLayerKind, block: number): string {
  return layerKind(kind).codesHook(block)
}

/** d_in and d_out of a sparse layer (its tensors were checked against these sizes when it was built). */
export function layerDims(layer: SparseLayer): { dIn: number; dOut: number } {
  return { dIn: layer.size.dIn, dOut: layer.size.dOut }
}

export interface SpliceOptions {
  /**
   * Sees the post-TopK code [batch, pos, width] of every forward. Return nothing to leave it, or
   * a tensor of the same shape to decode instead (steering, ablation). The tensor belongs to the
   * forward pass: keep a copy with tf.keep(codes.clone()).
   */
  onCodes?: HookFn
}

/** The sparse layer as blocks[L].mlp: x [batch, pos, d_in] → ŷ [batch, pos, d_out]. */
export function spliceMlp(layer: SparseLayer, opts: SpliceOptions = {}): MlpModule {
  const { onCodes } = opts
  return (x) =>
    tf.tidy(() => {
      const [batch, pos, dIn] = x.shape as [number, number, number]
      const flat = tf.reshape(x, [batch * pos, dIn]) as tf.Tensor2D
      const out = layer.forward(flat)
      const as3d = (t: tf.Tensor2D): tf.Tensor => tf.reshape(t, [batch, pos, t.shape[1]])
      const replaced = onCodes?.(as3d(out.codes), '')
      if (!replaced) return as3d(out.y)
      // Decode a replaced code (the layer's dense-code path, used only when a hook steers).
      const code = tf.reshape(replaced, out.codes.shape) as tf.Tensor2D
      return as3d(layer.forward(flat, { codeHook: () => code }).y)
    })
}

/**
 * Steering (docs/science/mxd.md#steering): a code hook that adds each steer's value to its unit's
 * post-TopK code at every position. The layer then decodes the steered code, so an MxD output
 * moves by value · W_nᵀz for expert n (test/unit/layers/mxd.test.ts checks that by hand).
 */
export function steeringHook(steers: readonly Steer[], width: number): HookFn | undefined {
  if (steers.length === 0) return undefined
  const delta = new Float32Array(width)
  for (const { unit, value } of steers) {
    if (!Number.isInteger(unit) || unit < 0 || unit >= width) {
      throw new Error(`cannot steer unit ${unit}: this layer has units 0…${width - 1}`)
    }
    delta[unit]! += value
  }
  return (codes) => tf.add(codes, tf.tensor1d(delta))
}

/**
 * blocks[L].mlp replaced by a sparse layer, steered or not: the mlpReplacements a forward or a
 * generation takes. Checks the block and the widths first, so a mismatch is a clear error.
 */
export function splicedMlps(model: LanguageModel, splice: SplicedLayer, steers: readonly Steer[] = []): Record<number, MlpModule> {
  checkSplice(model, splice)
  return { [splice.block]: spliceMlp(splice.layer, { onCodes: steeringHook(steers, splice.layer.width) }) }
}

function checkSplice(model: LanguageModel, { block, layer }: SplicedLayer): void {
  if (!Number.isInteger(block) || block < 0 || block >= model.nLayers) {
    throw new Error(`cannot splice into block ${block}: this model has blocks 0…${model.nLayers - 1}`)
  }
  const { dIn, dOut } = layerDims(layer)
  if (dIn !== model.dModel || dOut !== model.dModel) {
    throw new Error(`a ${layer.kind} layer with d_in ${dIn} and d_out ${dOut} cannot replace an MLP of width ${model.dModel}`)
  }
}

/** Zero ablation: blocks[L].mlp's output replaced by 0 (the CE_zero baseline). */
export function zeroMlp(): MlpModule {
  return (x) => tf.zerosLike(x)
}

export interface SplicedLayer {
  /** The block whose MLP the layer replaces. */
  block: number
  layer: SparseLayer
}

/**
 * model.forward with sparse layers in place of some blocks' MLPs. Their code hook points
 * (codesHookName) may be named in `hooks` and `cacheNames` alongside the model's own.
 */
export function forwardSpliced(
  model: LanguageModel,
  ids: number[][],
  opts: ForwardOptions & { splices: readonly SplicedLayer[] },
): ForwardResult {
  const { splices, ...rest } = opts
  const hooks = { ...(rest.hooks ?? {}) }
  const cacheNames = new Set(rest.cacheNames ?? [])
  const mlpReplacements = { ...(rest.mlpReplacements ?? {}) }
  const captured: Record<string, tf.Tensor> = {}

  for (const { block, layer } of splices) {
    checkSplice(model, { block, layer })
    if (mlpReplacements[block]) throw new Error(`block ${block}'s MLP is replaced twice`)
    const name = codesHookName(layer.kind, block)
    const hook = hooks[name]
    const wanted = cacheNames.has(name)
    delete hooks[name]
    cacheNames.delete(name)
    const onCodes: HookFn | undefined =
      hook || wanted
        ? (codes) => {
            const replaced = hook?.(codes, name)
            if (replaced && !sameShape(replaced.shape, codes.shape)) {
              throw new Error(`hook ${name} returned shape [${replaced.shape}] instead of [${codes.shape}]`)
            }
            if (wanted) {
              captured[name]?.dispose()
              captured[name] = tf.keep((replaced ?? codes).clone())
            }
            return replaced
          }
        : undefined
    mlpReplacements[block] = spliceMlp(layer, { onCodes })
  }

  try {
    const result = model.forward(ids, { ...rest, hooks, cacheNames: [...cacheNames], mlpReplacements })
    return { logits: result.logits, cache: { ...result.cache, ...captured } }
  } catch (err) {
    for (const t of Object.values(captured)) t.dispose()
    throw err
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i])
}
