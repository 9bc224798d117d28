// Native CPU kernels under the wasm backend. tfjs-wasm's matMul is single-threaded XNNPACK
// (≈20–38 GFLOP/s per core here) against OpenBLAS's ≈100+ per core, and GEMMs are most of a
// forward or training step. So where the addon in native/ loads, this module re-registers some of
// the wasm backend's kernels (BatchMatMul, _FusedMatMul, TopK, SplitV, Concat, GatherV2,
// Transpose; and Identity, which shares instead of copying) with ones that run in C on the wasm heap in place: tensors stay where tfjs put them,
// the engine's code does not change, and every other kernel is still wasm. It also registers
// kernels of our own (Mxd…: one AdamW step; layer norm, GPT-2's GELU, the softmax backward) that
// the engine's ops call through tf.engine().runKernel while they are registered, taking their
// tf-ops path otherwise. Where the addon is missing, fails to load, or MXD_NATIVE=0, nothing is
// registered and the app computes exactly as before; the report says why.
//
// The kernels are a registry: one file each in native/, listed in native/registry.ts.
import * as tf from '@tensorflow/tfjs-core'
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core'
import { availableParallelism } from 'node:os'
import { loadAddon, nativeAddon, originals, type NativeAddon, type WasmBackendLike } from './native/addon.js'
import { BATCH_MAT_MUL } from './native/batch-mat-mul.js'
import { NATIVE_KERNELS } from './native/registry.js'

export { loadAddon, nativeAddon, nativeKernelOn, type NativeAddon } from './native/addon.js'
export { planMatMul } from './native/matmul-plan.js'
export { ADAMW_KERNEL } from './native/adamw.js'

export interface NativeKernelsReport {
  /** Kernels of the wasm backend now computed natively; empty when none. */
  kernels: string[]
  /** Why no native kernels are in use (null when they are). */
  reason: string | null
  /** OpenBLAS's build line and the core type whose kernels it runs (null without the addon). */
  blas: string | null
  corename: string | null
  /** OpenBLAS threads (and the native kernels' own), and where that number came from. */
  threads: number | null
  threadsFrom: string | null
  /** OPENBLAS_THREAD_TIMEOUT as OpenBLAS read it (the app's default 22 unless the user set one). */
  threadTimeout: string | null
}

let report: NativeKernelsReport | null = null

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
  const none = (reason: string): NativeKernelsReport => ({
    kernels: [],
    reason,
    blas: null,
    corename: null,
    threads: null,
    threadsFrom: null,
    threadTimeout: null,
  })
  const loaded = loadAddon(env)
  if ('reason' in loaded) {
    report = none(loaded.reason)
    return report
  }
  const native = loaded.addon
  const heap = (tf.findBackend('wasm') as unknown as WasmBackendLike | null)?.wasm.HEAPU8.buffer
  if (!(heap instanceof ArrayBuffer)) {
    // The threaded wasm build's heap is a SharedArrayBuffer, which N-API cannot hand to C.
    report = none('the wasm backend is not running or its heap is shared memory')
    return report
  }
  try {
    const threads = applyThreads(native, env)
    const info = native.info()
    setNativeKernels(true)
    report = {
      kernels: NATIVE_KERNELS.map((k) => k.name),
      reason: null,
      blas: info.config,
      corename: info.corename,
      threads: threads.threads,
      threadsFrom: threads.from,
      threadTimeout: info.threadTimeout,
    }
  } catch (err) {
    // Whatever went wrong, the stock kernels stay (or go back) in place: plain wasm, as before.
    restoreStock()
    report = none(`the native kernels could not be installed: ${(err as Error).message.split('\n')[0]}`)
  }
  return report
}

/** Unregisters every native kernel and puts back every stock one replaced. Never throws. */
function restoreStock(): void {
  for (const k of NATIVE_KERNELS) {
    try {
      if (tf.getKernel(k.name, 'wasm')) tf.unregisterKernel(k.name, 'wasm')
      const stock = originals.get(k.name)
      if (stock) tf.registerKernel(stock)
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
 * Swaps the wasm backend's kernels between ours and tfjs's own (and registers or removes our own
 * Mxd… kernels, so the ops take their tf-ops paths when off). For tests that compare the two
 * kernel sets in one process; the app calls installNativeKernels once and never swaps back.
 */
export function setNativeKernels(on: boolean): void {
  if (!nativeAddon()) throw new Error('The native addon is not loaded.')
  for (const k of NATIVE_KERNELS) {
    if (k.replacesStock && !originals.has(k.name)) {
      const stock = tf.getKernel(k.name, 'wasm')
      if (!stock) throw new Error(`The wasm backend has no ${k.name} kernel to replace.`)
      originals.set(k.name, stock)
    }
    // unregister first: registerKernel over an existing entry prints a warning each time.
    if (tf.getKernel(k.name, 'wasm')) tf.unregisterKernel(k.name, 'wasm')
    const config: KernelConfig | undefined = on
      ? { kernelName: k.name, backendName: 'wasm', kernelFunc: k.kernelFunc as unknown as KernelFunc }
      : originals.get(k.name)
    if (config) tf.registerKernel(config)
  }
}

/**
 * Whether matMuls run on the native GEMM right now: OpenBLAS reads a transposed operand through
 * its flag at full speed, where tfjs-wasm's own kernel is faster on operands transposed first.
 */
export function nativeGemmActive(): boolean {
  return (
    tf.getBackend() === 'wasm' && tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc === (BATCH_MAT_MUL.kernelFunc as unknown as KernelFunc)
  )
}
