// The interface every language model exposes to the rest of the engine, and the one decoder
// forward pass that GPT-2, GPT-NeoX and Llama share. The architecture files only say what differs
// (how weights are named and laid out, which norm, which MLP, which position scheme); the order
// of operations and every hook point live here, once.
import { tf } from '../backend.js'
import type { ConfigDims } from '../config-fields.js'
import { hookNames, hookPointNames, type HookFn, type MlpModule } from '../hooks.js'
import {
  attention,
  attentionVisibility,
  causalSelfAttention,
  causalBias,
  idGrid,
  linear,
  positionIds,
  rotaryTables,
  type AttentionContext,
  type AttentionShape,
  type AttentionWeights,
  type IdGrid,
  type Norm,
} from '../ops.js'
import { KVCache } from './kv-cache.js'

export { KVCache }

/** The sizes config.json gives (checked by src/engine/architectures.ts), plus the special tokens. */
export interface ModelDims extends ConfigDims {
  bosId: number | null
  /** Token ids that end generation (Llama 3 has several). */
  eosIds: number[]
}

export interface ForwardOptions {
  /** 1 = real token, 0 = padding; same shape as ids. Default: all ones. Left or right padding. */
  attentionMask?: number[][]
  /** Read or replace activations by hook point name (see hooks.ts). */
  hooks?: Record<string, HookFn>
  /** Hook point names whose activation (after any hook) is returned in `cache`. */
  cacheNames?: readonly string[]
  /** Replace blocks[L].mlp: receives ln2's output, returns mlp_out (mlp.hook_post then does not fire). */
  mlpReplacements?: Record<number, MlpModule>
  /** Run blocks 0..L only and return the cache without logits. Not combinable with kvCache. */
  stopAfterLayer?: number
  /**
   * Start at block L from a residual stream given as `residual` (blocks.L.hook_resid_pre of an
   * earlier forward on the same ids, [batch, pos, d_model]): embeddings and blocks 0..L−1 are
   * skipped and their hook points do not fire. Forwards that differ only from block L on (clean,
   * spliced, ablated) share the prefix this way, as TransformerLens's start_at_layer does. The
   * caller keeps ownership of `residual`. Not combinable with kvCache.
   */
  startAtLayer?: { layer: number; residual: tf.Tensor }
  /**
   * Continue from (and extend) cached keys/values: ids are then only the new tokens, and
   * attn.hook_pattern is [batch, head, new, cached + new]. A forward that throws leaves the cache unusable.
   */
  kvCache?: KVCache
  /** Compute logits for the final position only ([batch, 1, vocab]), as generation needs. */
  lastPositionOnly?: boolean
}

export interface ForwardResult {
  /** [batch, pos, vocab], or null when stopAfterLayer was given. The caller disposes it. */
  logits: tf.Tensor3D | null
  /** The activations named in cacheNames. The caller disposes them. */
  cache: Record<string, tf.Tensor>
}

export interface LanguageModel {
  /** config.json's model_type (models/registry.ts). */
  readonly architecture: string
  /** config.json as read from the folder. */
  readonly config: Readonly<Record<string, unknown>>
  readonly dims: Readonly<ModelDims>
  readonly nLayers: number
  readonly dModel: number
  readonly dMlp: number
  readonly vocabSize: number
  /** Every hook point name, in forward order. */
  readonly hookPoints: readonly string[]
  forward(ids: number[][], opts?: ForwardOptions): ForwardResult
  /** Releases this handle; the shared weights are freed when the last handle is disposed. */
  dispose(): void
}

// ------------------------------------------------------------------- what an architecture supplies

export type HookRunner = (name: string, act: tf.Tensor) => tf.Tensor

/**
 * An MLP that reports its hidden activation through `post` (which may replace it); a μMoE MLP
 * also reports its expert gate weights through `gate`.
 */
export type Mlp = (x: tf.Tensor, post: (act: tf.Tensor) => tf.Tensor, gate: (a: tf.Tensor) => tf.Tensor) => tf.Tensor

export interface DecoderBlock {
  ln1: Norm
  attn: AttentionWeights
  ln2: Norm
  mlp: Mlp
}

export interface DecoderSpec {
  architecture: string
  config: Record<string, unknown>
  dims: ModelDims
  /** GPT-NeoX use_parallel_residual: x + attn(ln1(x)) + mlp(ln2(x)). */
  parallelResidual: boolean
  /** Learned absolute positions (GPT-2), reported through hook_pos_embed. */
  hasPosEmbed: boolean
  /** μMoE MLPs (GPT-2 pre-trained here), whose gate is reported through mlp.hook_gate. */
  hasMlpGate?: boolean
  /** Token (and learned position) embedding; must run hook_embed (and hook_pos_embed). */
  embed(ids: IdGrid, positions: number[][], hook: HookRunner): tf.Tensor
  /** Rotary inverse frequencies (one per rotated channel pair), or null without rotary. */
  rotaryInvFreq: Float32Array | null
  blocks: DecoderBlock[]
  lnFinal: Norm
  /** ln_final's output → logits: the lm_head (tied to the token embedding for GPT-2). */
  unembed: (x: tf.Tensor) => tf.Tensor
  /** Every weight tensor, freed on dispose. */
  tensors: tf.Tensor[]
}

// ------------------------------------------------------------------------------- the decoder

/** One handle on a DecoderSpec; several handles may share one spec (see load.ts). */
export class Decoder implements LanguageModel {
  readonly hookPoints: readonly string[]
  private readonly attnShape: AttentionShape
  private disposed = false

  constructor(
    private readonly spec: DecoderSpec,
    private readonly release: () => void,
  ) {
    this.hookPoints = hookPointNames({
      nLayers: spec.dims.nLayers,
      hasPosEmbed: spec.hasPosEmbed,
      parallelResidual: spec.parallelResidual,
      mlpGate: spec.hasMlpGate ?? false,
    })
    this.attnShape = { nHeads: spec.dims.nHeads, nKvHeads: spec.dims.nKvHeads, headDim: spec.dims.headDim }
  }

  get architecture(): string {
    return this.spec.architecture
  }
  get config(): Readonly<Record<string, unknown>> {
    return this.spec.config
  }
  get dims(): Readonly<ModelDims> {
    return this.spec.dims
  }
  get nLayers(): number {
    return this.spec.dims.nLayers
  }
  get dModel(): number {
    return this.spec.dims.dModel
  }
  get dMlp(): number {
    return this.spec.dims.dMlp
  }
  get vocabSize(): number {
    return this.spec.dims.vocabSize
  }

  forward(ids: number[][], opts: ForwardOptions = {}): ForwardResult {
    if (this.disposed) throw new Error('forward() on a disposed model')
    const mask = opts.attentionMask ?? ids.map((row) => row.map(() => 1))
    this.validate(ids, mask, opts)
    const kvCache = opts.kvCache ?? null
    const fullMask = kvCache ? mask.map((row, b) => [...(kvCache.mask[b] ?? []), ...row]) : mask
    const positions = positionIds(fullMask).map((row) => row.slice(row.length - (ids[0]?.length ?? 0)))
    const lastLayer = opts.stopAfterLayer ?? this.nLayers - 1

    const cache: Record<string, tf.Tensor> = {}
    const wanted = new Set(opts.cacheNames ?? [])
    const hooks = opts.hooks ?? {}
    const run: HookRunner = (name, act) => {
      const replaced = hooks[name]?.(act, name)
      if (replaced && !sameShape(replaced.shape, act.shape)) {
        throw new Error(`hook ${name} returned shape [${replaced.shape}] instead of [${act.shape}]`)
      }
      const out = replaced ?? act
      if (wanted.has(name)) cache[name] = tf.keep(out.clone())
      return out
    }

    // tf.tidy frees every intermediate; logits and cached activations are kept for the caller.
    const logits = tf.tidy((): tf.Tensor3D | undefined => {
      const ctx: AttentionContext = {
        visible: attentionVisibility(fullMask, positions[0]?.length ?? 0),
        rotary: this.spec.rotaryInvFreq ? rotaryTables(this.spec.rotaryInvFreq, positions) : null,
        kvCache,
      }
      const start = opts.startAtLayer
      let x = start ? start.residual : this.spec.embed(idGrid(ids), positions, run)
      // A tidy per block frees its intermediates as soon as it ends, so a forward holds one block's
      // working set (plus the residual stream) instead of every layer's: less memory, and the wasm
      // heap reuses warm buffers.
      for (let layer = start?.layer ?? 0; layer <= lastLayer; layer++) {
        const input = x
        x = tf.tidy(() => this.block(layer, input, ctx, run, opts))
      }
      if (opts.stopAfterLayer !== undefined) return undefined
      let final = run(hookNames.lnFinal, this.spec.lnFinal(x))
      if (opts.lastPositionOnly) final = tf.slice(final, [0, (final.shape[1] as number) - 1], [-1, 1])
      return this.spec.unembed(final) as tf.Tensor3D
    })
    kvCache?.appendMask(mask)
    return { logits: logits ?? null, cache }
  }

  /**
   * One transformer block. Pre-norm: each branch reads a normalised copy of the residual stream
   * and adds its output back, so the stream itself is never rescaled.
   */
  private block(layer: number, x: tf.Tensor, ctx: AttentionContext, run: HookRunner, opts: ForwardOptions): tf.Tensor {
    const block = this.spec.blocks[layer] as DecoderBlock
    const residPre = run(hookNames.residPre(layer), x)
    const ln1 = run(hookNames.ln1(layer), block.ln1(residPre))
    const onPattern = (p: tf.Tensor): tf.Tensor => run(hookNames.pattern(layer), p)
    const attnOut = run(hookNames.attnOut(layer), attention(ln1, block.attn, this.attnShape, ctx, layer, onPattern))
    // Sequential blocks feed the MLP the stream after attention; parallel GPT-NeoX feeds both
    // branches resid_pre, so no resid_mid exists there.
    const residMid = this.spec.parallelResidual ? null : run(hookNames.residMid(layer), tf.add(residPre, attnOut))
    const ln2 = run(hookNames.ln2(layer), block.ln2(residMid ?? residPre))
    const replacement = opts.mlpReplacements?.[layer]
    const mlpOut = run(
      hookNames.mlpOut(layer),
      replacement
        ? replacement(ln2)
        : block.mlp(
            ln2,
            (post) => run(hookNames.mlpPost(layer), post),
            (gate) => run(hookNames.mlpGate(layer), gate),
          ),
    )
    const residPost = residMid ? tf.add(residMid, mlpOut) : tf.addN([residPre, attnOut, mlpOut])
    return run(hookNames.residPost(layer), residPost)
  }

  private validate(ids: number[][], mask: number[][], opts: ForwardOptions): void {
    const { vocabSize, maxPositions } = this.spec.dims
    const time = ids[0]?.length ?? 0
    if (ids.length === 0 || time === 0) throw new Error('forward() needs at least one sequence of at least one token')
    ids.forEach((row, b) => {
      if (row.length !== time)
        throw new Error(`sequence ${b} has ${row.length} tokens, sequence 0 has ${time}: pad them to one length and pass an attentionMask`)
      for (const id of row) {
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
          throw new Error(`token id ${id} in sequence ${b} is outside this model's vocabulary (0…${vocabSize - 1})`)
        }
      }
    })
    if (mask.length !== ids.length || mask.some((row) => row.length !== time || row.some((m) => m !== 0 && m !== 1))) {
      throw new Error('attentionMask must have the shape of ids and hold only 0 and 1')
    }
    const cached = opts.kvCache?.length ?? 0
    if (opts.kvCache && cached > 0 && opts.kvCache.mask.length !== ids.length) {
      throw new Error(`the KV cache holds ${opts.kvCache.mask.length} sequences but ${ids.length} were given`)
    }
    if (cached + time > maxPositions) {
      throw new Error(`${cached + time} positions exceed this model's context of ${maxPositions}`)
    }
    if (opts.stopAfterLayer !== undefined) {
      if (!Number.isInteger(opts.stopAfterLayer) || opts.stopAfterLayer < 0 || opts.stopAfterLayer >= this.nLayers) {
        throw new Error(`stopAfterLayer must be a layer index 0…${this.nLayers - 1}`)
      }
      if (opts.kvCache) throw new Error('stopAfterLayer cannot be combined with a KV cache (later layers would miss their keys)')
    }
    if (opts.startAtLayer) {
      const { layer, residual } = opts.startAtLayer
      if (!Number.isInteger(layer) || layer < 0 || layer > (opts.stopAfterLayer ?? this.nLayers - 1)) {
        throw new Error(`startAtLayer must be a layer index 0…${opts.stopAfterLayer ?? this.nLayers - 1}`)
      }
      if (opts.kvCache) throw new Error('startAtLayer cannot be combined with a KV cache (earlier layers would miss their keys)')
      const want = [ids.length, time, this.dModel]
      if (!sameShape(residual.shape, want)) {
        throw new Error(`startAtLayer: the residual has shape [${residual.shape}], these ids need [${want}]`)
      }
    }
    for (const layer of Object.keys(opts.mlpReplacements ?? {})) {
      const l = Number(layer)
      if (!Number.isInteger(l) || l < 0 || l >= this.nLayers) throw new Error(`mlpReplacements: no layer ${layer}`)
    }
    const known = new Set(this.hookPoints)
    for (const name of [...Object.keys(opts.hooks ?? {}), ...(opts.cacheNames ?? [])]) {
      if (!known.has(name)) throw new Error(`unknown hook point "${name}" for this ${this.architecture} model`)
    }
  }

  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    this.release()
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i])
}

// ------------------------------------------------------------------------- the training path

const noHook = (_name: string, act: tf.Tensor): tf.Tensor => act

/**
 * logits [batch·time, vocab] of unpadded sequences ids [batch, time], for training: Decoder's
 * forward (the same spec, the same ops in the same order, on the same [batch, pos, d] shapes, so
 * the same numbers) without what training never uses — hooks, padding masks, the KV cache — and
 * with attention's hand-differentiated fast path. Learned positions only (GPT-2): rotary models
 * are not trained here.
 */
export function trainingLogits(spec: DecoderSpec, ids: IdGrid): tf.Tensor2D {
  const { batch, time } = ids
  if (spec.rotaryInvFreq) throw new Error(`training a ${spec.architecture} model (rotary positions) is not supported`)
  if (time > spec.dims.maxPositions) throw new Error(`${time} positions exceed the context of ${spec.dims.maxPositions}`)
  const row = Array.from({ length: time }, (_, t) => t)
  let x = spec.embed(
    ids,
    Array.from({ length: batch }, () => row),
    noHook,
  )
  const bias = causalBias(time)
  for (const block of spec.blocks) {
    const qkv = linear(block.ln1(x), block.attn.qkv) as tf.Tensor3D
    const attnOut = linear(causalSelfAttention(qkv, spec.dims.nHeads, bias), block.attn.out)
    const mid = spec.parallelResidual ? null : tf.add(x, attnOut)
    const mlpOut = block.mlp(
      block.ln2(mid ?? x),
      (a) => a,
      (a) => a,
    )
    x = mid ? tf.add(mid, mlpOut) : tf.addN([x, attnOut, mlpOut])
  }
  const logits = spec.unembed(spec.lnFinal(x))
  return tf.reshape(logits, [batch * time, spec.dims.vocabSize]) as tf.Tensor2D
}
