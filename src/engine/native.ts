// Native CPU kernels under the wasm backend. tfjs-wasm's matMul is single-threaded XNNPACK
// (≈20–38 GFLOP/s per core here) against OpenBLAS's ≈100+ per core, and GEMMs are most of a
// forward or training step. So where the addon in native/ loads, this module re-registers the
// wasm backend's BatchMatMul and _FusedMatMul with kernels that call OpenBLAS on the wasm heap in
// place: tensors stay where tfjs put them, the engine's code does not change, and every other
// kernel is still wasm. Where the addon is missing, fails to load, or MXD_NATIVE=0, nothing is
// registered and the app computes exactly as before; the report says why. TopK is native too (one
// heap pass per row instead of wasm's sort: 3× faster on the MxD gate). So is one whole AdamW step
// per parameter (ADAMW_KERNEL: one pass instead of about eleven wasm elementwise kernels).
//
// Our _FusedMatMul is also a correctness fix: stock tfjs-wasm 4.22's gives wrong results with
// transposeA/B plus a bias and with a bias of shape [1] (test/unit/native-kernels.test.ts checks
// ours against a float64 reference in those cases).
import * as tf from '@tensorflow/tfjs-core'
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The addon's exports (native/mxd_native.c has the contract of each). */
export interface NativeAddon {
  sgemm(
    heap: ArrayBuffer,
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    aOff: number,
    lda: number,
    bOff: number,
    ldb: number,
    beta: number,
    cOff: number,
    ldc: number,
  ): void
  sgemmBatched(
    heap: ArrayBuffer,
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    batch: number,
    aOff: number,
    aIndex: Int32Array | null,
    bOff: number,
    bIndex: Int32Array | null,
    cOff: number,
    beta: number,
  ): void
  fillBroadcast(
    heap: ArrayBuffer,
    cOff: number,
    batch: number,
    m: number,
    n: number,
    srcOff: number,
    sb: number,
    sm: number,
    sn: number,
  ): void
  activate(
    heap: ArrayBuffer,
    cOff: number,
    batch: number,
    m: number,
    n: number,
    activation: number,
    alpha: number,
    wOff: number,
    wb: number,
    wm: number,
    wn: number,
  ): void
  topk(
    heap: ArrayBuffer,
    xOff: number,
    rows: number,
    n: number,
    k: number,
    valuesOff: number,
    indicesOff: number,
    scratch: ArrayBuffer,
  ): void
  adamw(
    heap: ArrayBuffer,
    n: number,
    pOff: number,
    mOff: number,
    vOff: number,
    gOff: number,
    pOutOff: number,
    mOutOff: number,
    vOutOff: number,
    decay: number,
    b1: number,
    b2: number,
    sqrtBias2: number,
    eps: number,
    stepSize: number,
  ): void
  setThreads(n: number): void
  info(): { config: string; corename: string; threads: number; parallel: number }
}

export interface NativeKernelsReport {
  /** Kernels of the wasm backend now computed natively; empty when none. */
  kernels: string[]
  /** Why no native kernels are in use (null when they are). */
  reason: string | null
  /** OpenBLAS's build line and the core type whose kernels it runs (null without the addon). */
  blas: string | null
  corename: string | null
  /** OpenBLAS threads, and where that number came from. */
  threads: number | null
  threadsFrom: string | null
}

/** The subset of tfjs-backend-wasm's BackendWasm these kernels touch. */
interface WasmBackendLike {
  wasm: { HEAPU8: Uint8Array }
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined }
  makeOutput(shape: number[], dtype: 'float32' | 'int32'): TensorInfo
}

const NATIVE_KERNELS = ['BatchMatMul', '_FusedMatMul', 'TopK'] as const
/**
 * Our own kernel, with no stock counterpart: one AdamW step (src/engine/optim/adamw.ts runs it
 * through tf.engine().runKernel while it is registered, and its tf-ops path otherwise).
 */
export const ADAMW_KERNEL = 'MxdAdamW'
const ADDON_PATH = join('native', 'build', 'Release', 'mxd_native.node')
// tfjs-backend-wasm's FusableActivation numbering, which the addon's activate() uses too.
const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, prelu: 3, leakyrelu: 4, sigmoid: 5, elu: 6 }
const LINEAR = 0
const PRELU = 3

let addon: NativeAddon | null = null
let report: NativeKernelsReport | null = null
const originals = new Map<string, KernelConfig>()

/**
 * Finds the addon by walking up from this module: src/engine/ in development, out/main/ in the
 * built app; both sit two levels under the checkout, where native/build/ is.
 */
function findAddon(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, ADDON_PATH)
    if (existsSync(candidate)) return candidate
    const up = resolve(dir, '..')
    if (up === dir) break
    dir = up
  }
  return null
}

/** Loads the addon, or says why it cannot. Never throws. */
export function loadAddon(env: NodeJS.ProcessEnv = process.env): { addon: NativeAddon } | { reason: string } {
  if (env.MXD_NATIVE === '0') return { reason: 'turned off by MXD_NATIVE=0' }
  if (addon) return { addon }
  const path = findAddon()
  if (!path) return { reason: 'the addon is not built (run `npm run build:native`; it needs libopenblas-dev)' }
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon
    return { addon }
  } catch (err) {
    return { reason: `the addon failed to load: ${(err as Error).message.split('\n')[0]}` }
  }
}

/**
 * OpenBLAS's thread count: MXD_THREADS (the app's own setting, also set by --threads) wins; else
 * an OPENBLAS_NUM_THREADS the user set is left in force (null: do not change it); else every
 * core. An invalid MXD_THREADS is ignored with a note rather than refused, so a typo cannot push
 * the app off its fast kernels. OPENBLAS_CORETYPE is never touched: some processors need it
 * because older OpenBLAS builds compute wrong results on them.
 */
export function chooseThreads(env: NodeJS.ProcessEnv, cores: number): { threads: number | null; from: string } {
  const mine = env.MXD_THREADS
  let note = ''
  if (mine !== undefined && mine !== '') {
    const n = Number(mine)
    if (Number.isInteger(n) && n >= 1 && n <= 1024) return { threads: n, from: 'MXD_THREADS' }
    note = ` (MXD_THREADS="${mine}" ignored: not a whole number from 1 to 1024)`
  }
  if (env.OPENBLAS_NUM_THREADS !== undefined && env.OPENBLAS_NUM_THREADS !== '')
    return { threads: null, from: `OPENBLAS_NUM_THREADS${note}` }
  return { threads: cores, from: `all cores${note}` }
}

function applyThreads(native: NativeAddon, env: NodeJS.ProcessEnv): { threads: number; from: string } {
  const choice = chooseThreads(env, availableParallelism())
  if (choice.threads !== null) native.setThreads(choice.threads)
  // What OpenBLAS then runs with (it caps the count at its build's MAX_THREADS).
  return { threads: native.info().threads, from: choice.from }
}

/**
 * Registers the native kernels on the wasm backend (call after tf.setBackend('wasm') has
 * resolved, so the wasm kernels' own set-up has run and they stay usable as fallbacks).
 * Idempotent; returns what is in use and why.
 */
export function installNativeKernels(env: NodeJS.ProcessEnv = process.env): NativeKernelsReport {
  if (report && report.kernels.length > 0) return report
  const loaded = loadAddon(env)
  if ('reason' in loaded) {
    report = { kernels: [], reason: loaded.reason, blas: null, corename: null, threads: null, threadsFrom: null }
    return report
  }
  const native = loaded.addon
  const heap = (tf.findBackend('wasm') as unknown as WasmBackendLike | null)?.wasm.HEAPU8.buffer
  if (!(heap instanceof ArrayBuffer)) {
    // The threaded wasm build's heap is a SharedArrayBuffer, which N-API cannot hand to C.
    report = {
      kernels: [],
      reason: 'the wasm backend is not running or its heap is shared memory',
      blas: null,
      corename: null,
      threads: null,
      threadsFrom: null,
    }
    return report
  }
  try {
    const threads = applyThreads(native, env)
    const info = native.info()
    setNativeKernels(true)
    report = {
      kernels: [...NATIVE_KERNELS, ADAMW_KERNEL],
      reason: null,
      blas: info.config,
      corename: info.corename,
      threads: threads.threads,
      threadsFrom: threads.from,
    }
  } catch (err) {
    // Whatever went wrong, the stock kernels stay (or go back) in place: plain wasm, as before.
    restoreStock()
    const why = `the native kernels could not be installed: ${(err as Error).message.split('\n')[0]}`
    report = { kernels: [], reason: why, blas: null, corename: null, threads: null, threadsFrom: null }
  }
  return report
}

/** Puts back every stock kernel that was replaced (a partial install included). Never throws. */
function restoreStock(): void {
  if (tf.getKernel(ADAMW_KERNEL, 'wasm')) tf.unregisterKernel(ADAMW_KERNEL, 'wasm')
  for (const [name, stock] of originals) {
    try {
      if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm')
      tf.registerKernel(stock)
    } catch {
      // Nothing more to do: the registry is as tfjs left it.
    }
  }
}

/** What installNativeKernels decided, or null before it ran. */
export function nativeKernelsReport(): NativeKernelsReport | null {
  return report
}

/**
 * Swaps the wasm backend's matMul kernels between ours and tfjs's own. For tests that compare the
 * two kernel sets in one process; the app calls installNativeKernels once and never swaps back.
 */
export function setNativeKernels(on: boolean): void {
  if (!addon) throw new Error('The native addon is not loaded.')
  for (const name of NATIVE_KERNELS) {
    if (!originals.has(name)) {
      const stock = tf.getKernel(name, 'wasm')
      if (!stock) throw new Error(`The wasm backend has no ${name} kernel to replace.`)
      originals.set(name, stock)
    }
    const config: KernelConfig = on
      ? { kernelName: name, backendName: 'wasm', kernelFunc: OURS[name] as unknown as KernelFunc }
      : originals.get(name)!
    // unregister first: registerKernel over an existing entry prints a warning each time.
    if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm')
    tf.registerKernel(config)
  }
  // "Off" means no AdamW kernel at all, so the optimizer takes its tf-ops path.
  if (tf.getKernel(ADAMW_KERNEL, 'wasm')) tf.unregisterKernel(ADAMW_KERNEL, 'wasm')
  if (on) tf.registerKernel({ kernelName: ADAMW_KERNEL, backendName: 'wasm', kernelFunc: adamW as unknown as KernelFunc })
}

/**
 * Whether matMuls run on the native GEMM right now: OpenBLAS reads a transposed operand through
 * its flag at full speed, where tfjs-wasm's own kernel is faster on operands transposed first.
 */
export function nativeGemmActive(): boolean {
  return tf.getBackend() === 'wasm' && tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc === (batchMatMul as unknown as KernelFunc)
}

/** The loaded addon, for the benchmark and the tests; null when none. */
export function nativeAddon(): NativeAddon | null {
  return addon
}

// ---- the kernels ----

interface MatMulPlan {
  outShape: number[]
  batch: number
  m: number
  n: number
  k: number
  /** Per output batch entry, which A / B matrix it reads; null when entry i reads matrix i. */
  aIndex: Int32Array | null
  bIndex: Int32Array | null
}

/**
 * Shapes of a (batched) matMul with numpy broadcasting over the leading dimensions: a leading
 * dimension of size 1 repeats. tfjs-wasm's own kernel flattens them instead and so only handles
 * equal batches or a batch of 1; this handles every broadcast tfjs-core's shape check accepts.
 */
export function planMatMul(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatMulPlan {
  const ra = aShape.length
  const rb = bShape.length
  if (ra < 2 || rb < 2) throw new Error(`matMul needs rank ≥ 2, got ${ra} and ${rb}.`)
  const [a0, a1] = [aShape[ra - 2]!, aShape[ra - 1]!]
  const [b0, b1] = [bShape[rb - 2]!, bShape[rb - 1]!]
  const m = transposeA ? a1 : a0
  const k = transposeA ? a0 : a1
  const kb = transposeB ? b1 : b0
  const n = transposeB ? b0 : b1
  if (k !== kb)
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${aShape} and ${bShape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    )
  const aOuter = aShape.slice(0, -2)
  const bOuter = bShape.slice(0, -2)
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter)
  const batch = outer.reduce((p, d) => p * d, 1)
  return { outShape: [...outer, m, n], batch, m, n, k, aIndex: batchIndex(aOuter, outer), bIndex: batchIndex(bOuter, outer) }
}

/** For each entry of the broadcast batch `outer`, the flat index of the matrix `own` supplies. */
function batchIndex(own: number[], outer: number[]): Int32Array | null {
  const ownSize = own.reduce((p, d) => p * d, 1)
  const batch = outer.reduce((p, d) => p * d, 1)
  if (ownSize === batch) return null // same dims up to leading 1s: entry i reads matrix i
  const strides = broadcastStrides(own, outer)
  const index = new Int32Array(batch)
  for (let i = 0; i < batch; i++) index[i] = offsetOf(i, outer, strides)
  return index
}

/** Element strides of `shape` read as broadcast to `out` (right-aligned; 0 where it repeats). */
function broadcastStrides(shape: number[], out: number[]): number[] {
  const strides = new Array<number>(out.length).fill(0)
  let stride = 1
  for (let d = shape.length - 1; d >= 0; d--) {
    const od = out.length - shape.length + d
    const size = shape[d]!
    strides[od] = size === 1 ? 0 : stride
    stride *= size
  }
  return strides
}

/** The source offset of flat index `i` of `out`, given per-dimension strides. */
function offsetOf(i: number, out: number[], strides: number[]): number {
  let off = 0
  for (let d = out.length - 1; d >= 0; d--) {
    const size = out[d]!
    off += (i % size) * strides[d]!
    i = Math.floor(i / size)
  }
  return off
}

function offsetOfData(backend: WasmBackendLike, t: TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId)
  if (!data) throw new Error('A tensor given to a native kernel has no data on the wasm backend.')
  return data.memoryOffset
}

/**
 * Lays `src` (broadcast to [...outer, m, n]) into the output at outOff, or applies the prelu
 * weights from it. One addon call when the leading dimensions collapse to one stride, else one
 * per batch entry.
 */
function broadcastCall(
  plan: MatMulPlan,
  srcShape: number[],
  call: (outOffset: number, batch: number, srcByteOffset: number, sb: number, sm: number, sn: number) => void,
): void {
  const out = plan.outShape
  if (srcShape.length > out.length) throw new Error(`A fused matMul operand of shape [${srcShape}] does not broadcast to [${out}].`)
  tf.broadcast_util.assertAndGetBroadcastShape(out, srcShape)
  const strides = broadcastStrides(srcShape, out)
  const r = out.length
  const sm = strides[r - 2]!
  const sn = strides[r - 1]!
  const outer = out.slice(0, -2)
  const outerStrides = strides.slice(0, -2)
  if (outer.length <= 1 || outerStrides.every((s) => s === 0)) {
    call(0, plan.batch, 0, outerStrides[0] ?? 0, sm, sn)
    return
  }
  for (let i = 0; i < plan.batch; i++) call(i * plan.m * plan.n * 4, 1, offsetOf(i, outer, outerStrides) * 4, 0, sm, sn)
}

function batchMatMul(args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }): TensorInfo {
  const { inputs, backend, attrs } = args
  const { a, b } = inputs
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return originals.get('BatchMatMul')!.kernelFunc(args as never) as TensorInfo
  const plan = planMatMul(a.shape, b.shape, attrs.transposeA === true, attrs.transposeB === true)
  const out = backend.makeOutput(plan.outShape, 'float32')
  // The heap's buffer is read after makeOutput: an allocation can grow the wasm memory, which
  // detaches the old ArrayBuffer.
  const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer
  sgemm(
    heap,
    plan,
    attrs.transposeA === true,
    attrs.transposeB === true,
    offsetOfData(backend, a),
    offsetOfData(backend, b),
    offsetOfData(backend, out),
    0,
  )
  return out
}

/** C = op(A)·op(B) + beta·C for every matrix of the plan's batch, in the wasm heap in place. */
function sgemm(
  heap: ArrayBuffer,
  plan: MatMulPlan,
  ta: boolean,
  tb: boolean,
  aOff: number,
  bOff: number,
  outOff: number,
  beta: 0 | 1,
): void {
  addon!.sgemmBatched(heap, ta, tb, plan.m, plan.n, plan.k, plan.batch, aOff, plan.aIndex, bOff, plan.bIndex, outOff, beta)
}

function fusedMatMul(args: {
  inputs: { a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo }
  backend: WasmBackendLike
  attrs: NamedAttrMap
}): TensorInfo {
  const { inputs, backend, attrs } = args
  const { a, b, bias, preluActivationWeights: prelu } = inputs
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return originals.get('_FusedMatMul')!.kernelFunc(args as never) as TensorInfo
  const activation = ACTIVATIONS[String(attrs.activation ?? 'linear')]
  if (activation === undefined) throw new Error(`${String(attrs.activation)} activation is not supported by the fused matMul kernel.`)
  if (activation === PRELU && !prelu) throw new Error('prelu activation needs preluActivationWeights.')
  const ta = attrs.transposeA === true
  const tb = attrs.transposeB === true
  const plan = planMatMul(a.shape, b.shape, ta, tb)
  const out = backend.makeOutput(plan.outShape, 'float32')
  const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer
  const outOff = offsetOfData(backend, out)
  // The bias goes into C first and the GEMM adds onto it (beta = 1): no extra pass over C.
  if (bias) {
    const biasOff = offsetOfData(backend, bias)
    broadcastCall(plan, bias.shape, (o, batch, s, sb, sm, sn) =>
      addon!.fillBroadcast(heap, outOff + o, batch, plan.m, plan.n, biasOff + s, sb, sm, sn),
    )
  }
  sgemm(heap, plan, ta, tb, offsetOfData(backend, a), offsetOfData(backend, b), outOff, bias ? 1 : 0)
  if (activation === PRELU) {
    const wOff = offsetOfData(backend, prelu!)
    broadcastCall(plan, prelu!.shape, (o, batch, s, sb, sm, sn) =>
      addon!.activate(heap, outOff + o, batch, plan.m, plan.n, activation, 0, wOff + s, sb, sm, sn),
    )
  } else if (activation !== LINEAR) {
    const alpha = typeof attrs.leakyreluAlpha === 'number' ? attrs.leakyreluAlpha : 0.2
    addon!.activate(heap, outOff, plan.batch, plan.m, plan.n, activation, alpha, 0, 0, 0, 0)
  }
  return out
}

// The k-element heap's scratch space (8 bytes a pick), kept between calls and grown on demand, so
// the C code never allocates.
let topkScratch = new ArrayBuffer(8 * 64)

/**
 * TopK along the last axis, in the order of tfjs-wasm's own kernel (larger first, NaN above every
 * number, ties to the lower index), so that switching kernels changes no selection. Single
 * threaded: one pass per row with a k-element heap (wasm's sorts each row).
 */
function topK(args: { inputs: { x: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }): TensorInfo[] {
  const { inputs, backend, attrs } = args
  const { x } = inputs
  if (x.dtype !== 'float32' || x.shape.length === 0) return originals.get('TopK')!.kernelFunc(args as never) as TensorInfo[]
  const k = Number(attrs.k)
  const n = x.shape[x.shape.length - 1]!
  if (!Number.isInteger(k) || k < 0 || k > n) throw new Error(`topk: k = ${String(attrs.k)} must be a whole number from 0 to ${n}.`)
  const rows = n === 0 ? 0 : tf.util.sizeFromShape(x.shape) / n
  const outShape = [...x.shape.slice(0, -1), k]
  const values = backend.makeOutput(outShape, 'float32')
  const indices = backend.makeOutput(outShape, 'int32')
  if (rows === 0 || k === 0) return [values, indices]
  if (topkScratch.byteLength < 8 * k) topkScratch = new ArrayBuffer(8 * k)
  const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer
  addon!.topk(heap, offsetOfData(backend, x), rows, n, k, offsetOfData(backend, values), offsetOfData(backend, indices), topkScratch)
  return [values, indices]
}

/**
 * One AdamW step: inputs p, m, v, g (float32, one shape); attrs decay (1 − lr·wd, or 1), b1, b2,
 * sqrtBias2, eps, stepSize; outputs new p, m, v. The outputs are fresh tensors rather than writes
 * into p, m, v in place: a tf.Variable shares its dataId with the tensor it was made from or last
 * assigned (tfjs counts references to it, it does not copy), so an in-place write could change a
 * tensor the caller still holds. Fresh outputs plus assign() cost two allocations and keep tfjs's
 * ownership rules intact; the work is still one pass instead of about eleven.
 */
function adamW(args: {
  inputs: { p: TensorInfo; m: TensorInfo; v: TensorInfo; g: TensorInfo }
  backend: WasmBackendLike
  attrs: NamedAttrMap
}): TensorInfo[] {
  const { inputs, backend, attrs } = args
  const { p, m, v, g } = inputs
  for (const t of [m, v, g]) {
    if (t.dtype !== 'float32' || p.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, p.shape))
      throw new Error(`${ADAMW_KERNEL} needs float32 p, m, v, g of one shape, got [${p.shape}] and [${t.shape}].`)
  }
  const outs = [backend.makeOutput(p.shape, 'float32'), backend.makeOutput(p.shape, 'float32'), backend.makeOutput(p.shape, 'float32')]
  const size = tf.util.sizeFromShape(p.shape)
  if (size === 0) return outs
  const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer
  const [pOut, mOut, vOut] = outs.map((t) => offsetOfData(backend, t)) as [number, number, number]
  const num = (key: string): number => {
    const x = attrs[key]
    if (typeof x !== 'number') throw new Error(`${ADAMW_KERNEL} needs a number attribute ${key}.`)
    return x
  }
  addon!.adamw(
    heap,
    size,
    offsetOfData(backend, p),
    offsetOfData(backend, m),
    offsetOfData(backend, v),
    offsetOfData(backend, g),
    pOut,
    mOut,
    vOut,
    num('decay'),
    num('b1'),
    num('b2'),
    num('sqrtBias2'),
    num('eps'),
    num('stepSize'),
  )
  return outs
}

const OURS: Record<(typeof NATIVE_KERNELS)[number], unknown> = { BatchMatMul: batchMatMul, _FusedMatMul: fusedMatMul, TopK: topK }
