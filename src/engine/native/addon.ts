// The addon (native/*.c) and what every native kernel shares: loading it, its exports' types, and
// reading a tensor's place in the wasm heap. The kernels themselves are one file each beside this
// one; registry.ts lists them, ../native.ts installs them.
import * as tf from '@tensorflow/tfjs-core'
import type { KernelConfig, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isMainThread } from 'node:worker_threads'

/** The addon's exports (native/*.c has the contract of each; offsets are bytes into `heap`). */
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
  layerNorm(
    heap: ArrayBuffer,
    xOff: number,
    wOff: number,
    bOff: number,
    yOff: number,
    meanOff: number,
    rstdOff: number,
    rows: number,
    d: number,
    eps: number,
  ): void
  layerNormGrad(
    heap: ArrayBuffer,
    dyOff: number,
    xOff: number,
    wOff: number,
    meanOff: number,
    rstdOff: number,
    dxOff: number,
    dwOff: number,
    dbOff: number,
    rows: number,
    d: number,
  ): void
  geluNew(heap: ArrayBuffer, xOff: number, yOff: number, sOff: number, n: number, c1: number, c3: number): void
  geluNewGrad(heap: ArrayBuffer, dyOff: number, xOff: number, sOff: number, dxOff: number, n: number, c1: number, c3: number): void
  gelu(heap: ArrayBuffer, xOff: number, yOff: number, n: number): void
  geluGrad(heap: ArrayBuffer, dyOff: number, xOff: number, dxOff: number, n: number): void
  softmaxGrad(heap: ArrayBuffer, pOff: number, dpOff: number, dsOff: number, rows: number, n: number): void
  gather(heap: ArrayBuffer, xOff: number, indicesOff: number, yOff: number, outer: number, n: number, count: number, inner: number): void
  transpose(heap: ArrayBuffer, xOff: number, yOff: number, rank: number, dims: Int32Array): void
  /** y = x repeated along each axis (dims: x's shape, then reps); elemBytes 1 (bool) or 4. */
  tile(heap: ArrayBuffer, xOff: number, yOff: number, rank: number, dims: Int32Array, elemBytes: number): void
  crossEntropy(heap: ArrayBuffer, logitsOff: number, targetsOff: number, lossOff: number, pOff: number, rows: number, vocab: number): void
  crossEntropyGrad(heap: ArrayBuffer, pOff: number, targetsOff: number, dyOff: number, dlOff: number, rows: number, vocab: number): void
  selectedRows(
    heap: ArrayBuffer,
    valuesOff: number,
    indicesOff: number,
    mOff: number,
    yOff: number,
    B: number,
    K: number,
    N: number,
    O: number,
  ): void
  selectedRowsGrad(
    heap: ArrayBuffer,
    valuesOff: number,
    indicesOff: number,
    mOff: number,
    dyOff: number,
    dValuesOff: number,
    dmOff: number,
    B: number,
    K: number,
    N: number,
    O: number,
  ): void
  gateGrad(
    heap: ArrayBuffer,
    xOff: number,
    valuesOff: number,
    indicesOff: number,
    dValuesOff: number,
    dwOff: number,
    dbOff: number,
    B: number,
    K: number,
    N: number,
    d: number,
  ): void
  rowProject(heap: ArrayBuffer, gOff: number, mOff: number, outOff: number, rows: number, cols: number): void
  unitRows(heap: ArrayBuffer, mOff: number, outOff: number, rows: number, cols: number): void
  denseCodes(heap: ArrayBuffer, valuesOff: number, indicesOff: number, yOff: number, B: number, K: number, N: number): void
  copy2d(heap: ArrayBuffer, srcOff: number, srcStride: number, dstOff: number, dstStride: number, rows: number, cols: number): void
  setThreads(n: number): void
  info(): { config: string; corename: string; threads: number; parallel: number; threadTimeout: string | null }
}

/** The subset of tfjs-backend-wasm's BackendWasm the kernels touch. */
export interface WasmBackendLike {
  wasm: { HEAPU8: Uint8Array }
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined }
  makeOutput(shape: number[], dtype: 'float32' | 'int32' | 'bool'): TensorInfo
}

/** What tfjs hands a kernel function, with the wasm backend. */
export interface KernelArgs<I> {
  inputs: I
  backend: WasmBackendLike
  attrs: NamedAttrMap
}

/** One native kernel: a file of its own, listed in registry.ts. */
export interface NativeKernel {
  /** The tfjs kernel name: a stock wasm kernel this one replaces, or one of ours (Mxd…). */
  name: string
  /**
   * true: it replaces the wasm backend's own kernel of that name, which stays available as the
   * fallback (stockKernel) and comes back when the native kernels are turned off. false: our own
   * kernel, registered only while the native kernels are on; the engine op that calls it through
   * tf.engine().runKernel takes its tf-ops path when it is not registered.
   */
  replacesStock: boolean
  kernelFunc: (args: KernelArgs<never>) => TensorInfo | TensorInfo[]
}

const ADDON_PATH = join('native', 'build', 'Release', 'mxd_native.node')
let addon: NativeAddon | null = null

/**
 * Finds the addon by walking up from this module: src/engine/native/ in development, out/main/
 * in the built app; native/build/ sits in the checkout above both.
 */
function findAddon(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, ADDON_PATH)
    if (existsSync(candidate)) return candidate
    const up = resolve(dir, '..')
    if (up === dir) break
    dir = up
  }
  return null
}

/**
 * OpenBLAS's idle threads spin for 2^OPENBLAS_THREAD_TIMEOUT cycles (default 2^28, about a tenth of
 * a second) waiting for the next GEMM before they sleep. With as many threads as cores, that
 * spinning takes the cores our own kernels' threads need between GEMMs: at 2 threads the MxD
 * step's scatter-adds and gathers ran 2× slower than with a short spin, and the step 10–20%
 * slower. Too short a spin costs the other way, a wake-up per GEMM where small GEMMs come back to
 * back (pre-training a small model). Measured at 2^4…2^28 (bench/README, "issue 12's speed goals
 * on an idle machine"): 2^22 (about 1.5 ms) kept all of pre-training's speed and most of the MxD
 * step's gain. A value the user set is left alone.
 */
export const OPENBLAS_SPIN_DEFAULT = '22'

/** The OpenBLAS variables to add to `env` (none when the user set them). */
export function openblasEnvDefaults(env: NodeJS.ProcessEnv): Record<string, string> {
  return env.OPENBLAS_THREAD_TIMEOUT ? {} : { OPENBLAS_THREAD_TIMEOUT: OPENBLAS_SPIN_DEFAULT }
}

/**
 * Puts openblasEnvDefaults into the process environment. OpenBLAS reads it once, when the addon
 * first loads it, and only the main thread's process.env is the process's (a worker's is a copy C
 * does not see), so this runs on the main thread before the addon loads and before any worker
 * starts (src/jobs/spawn.ts); on a worker it does nothing.
 */
export function applyOpenblasEnvDefaults(): void {
  if (isMainThread) Object.assign(process.env, openblasEnvDefaults(process.env))
}

/** Loads the addon, or says why it cannot. Never throws. */
export function loadAddon(env: NodeJS.ProcessEnv = process.env): { addon: NativeAddon } | { reason: string } {
  if (env.MXD_NATIVE === '0') return { reason: 'turned off by MXD_NATIVE=0' }
  if (addon) return { addon }
  const path = findAddon()
  if (!path) return { reason: 'the addon is not built (run `npm run build:native`; it needs libopenblas-dev)' }
  applyOpenblasEnvDefaults()
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon
    return { addon }
  } catch (err) {
    return { reason: `the addon failed to load: ${(err as Error).message.split('\n')[0]}` }
  }
}

/** The loaded addon, for the benchmark and the tests; null when none. */
export function nativeAddon(): NativeAddon | null {
  return addon
}

/** The addon, for a kernel: kernels are only registered once it has loaded. */
export function theAddon(): NativeAddon {
  if (!addon) throw new Error('The native addon is not loaded.')
  return addon
}

/** The stock wasm kernels our replacements displaced, by name (their fallback). */
export const originals = new Map<string, KernelConfig>()

/** The stock wasm kernel `name`, for inputs a native kernel does not handle (non-float32). */
export function stockKernel(name: string): KernelConfig {
  const stock = originals.get(name)
  if (!stock) throw new Error(`No stock ${name} kernel was kept.`)
  return stock
}

/** Byte offset of a tensor's data in the wasm heap. */
export function offsetOf(backend: WasmBackendLike, t: TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId)
  if (!data) throw new Error('A tensor given to a native kernel has no data on the wasm backend.')
  return data.memoryOffset
}

/**
 * The heap's buffer. Read it after the last makeOutput of a kernel: an allocation can grow the
 * wasm memory, which detaches the old ArrayBuffer.
 */
export function heapOf(backend: WasmBackendLike): ArrayBuffer {
  return backend.wasm.HEAPU8.buffer as ArrayBuffer
}

/** Throws unless every tensor is float32 (our own kernels have no other dtype). */
export function needFloat32(kernel: string, ...ts: TensorInfo[]): void {
  for (const t of ts) if (t.dtype !== 'float32') throw new Error(`${kernel} needs float32 inputs, got ${t.dtype}.`)
}

/** Whether our own kernel `name` is registered now (the engine's ops ask before runKernel). */
export function nativeKernelOn(name: string): boolean {
  return tf.getBackend() === 'wasm' && tf.getKernel(name, 'wasm') !== undefined
}
