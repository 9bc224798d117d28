// Waiting on a condition the way a loaded CI machine needs: poll until it holds or a deadline
// passes, never a fixed sleep. A test that sleeps a guessed time assumes the back end is fast (the
// sleep is long enough) or slow (the state is still there after it); polling assumes neither.

export interface WaitOptions {
  /** Give up after this long; generous, because the machine may be 10× slower than a laptop. */
  timeoutMs?: number
  /** Pause between two looks. */
  intervalMs?: number
}

/**
 * Resolves with the first value `probe` returns that is not `undefined`, looking every
 * `intervalMs`; rejects, naming `what`, once `timeoutMs` has passed without one.
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, opts: WaitOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000)
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${opts.timeoutMs ?? 120_000} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 50))
  }
}
