// A request asked again a moment after the last edit (the wizards' live previews): edits within
// the pause cost one request, and only the answer to the newest request is delivered. An older
// answer that arrives late would otherwise overwrite the newer one and show a preview of values
// the user no longer has. No Vue here: the store watches its own fields and calls schedule().

export interface DebouncedRequestOptions<I, O> {
  /** The pause after the last schedule() before the request is sent. */
  delayMs: number
  /** The input as it is when the pause ends; null: nothing to ask (a field is not valid). */
  input: () => I | null
  request: (input: I) => Promise<O>
  /** The newest request's answer; an answer to an older request is dropped. */
  onAnswer: (answer: O, input: I) => void
  /** The newest request's failure; an older request's is dropped. */
  onError: (err: unknown, input: I) => void
  /** A request is being sent (before it goes out), e.g. to clear the previous answer. */
  onStart?: (input: I) => void
  /** The pause ended with nothing to ask; any answer still on its way is dropped. */
  onEmpty?: () => void
  /** True while the newest request is on its way, false once it settled or was dropped. */
  onBusy?: (busy: boolean) => void
  /**
   * When given, an input with the same key as the last one sent is not sent again (its answer is
   * the one shown or on its way): an edit undone within the pause costs no request.
   */
  key?: (input: I) => string
}

export interface DebouncedRequest {
  /** Ask again delayMs from now, dropping any ask still waiting. */
  schedule(): void
  /** Send now, dropping any ask still waiting; resolves once this request has settled (answer or error). */
  now(): Promise<void>
  /** Send a waiting ask now, then wait until the newest request has settled (answer or error). */
  flush(): Promise<void>
}

export function debouncedRequest<I, O>(o: DebouncedRequestOptions<I, O>): DebouncedRequest {
  let timer: ReturnType<typeof setTimeout> | undefined
  /** The number of the newest request; an answer carrying another number is stale. */
  let seq = 0
  let lastKey: string | null = null
  let settled: Promise<void> = Promise.resolve()

  async function run(): Promise<void> {
    const input = o.input()
    if (input === null) {
      seq++
      lastKey = null
      o.onBusy?.(false)
      o.onEmpty?.()
      return
    }
    const key = o.key?.(input) ?? null
    if (key !== null && key === lastKey) return
    lastKey = key
    const mine = ++seq
    o.onStart?.(input)
    o.onBusy?.(true)
    try {
      const answer = await o.request(input)
      if (mine === seq) o.onAnswer(answer, input)
    } catch (err) {
      if (mine === seq) o.onError(err, input)
    } finally {
      if (mine === seq) o.onBusy?.(false)
    }
  }
  function now(): Promise<void> {
    clearTimeout(timer)
    timer = undefined
    settled = run()
    return settled
  }
  return {
    schedule(): void {
      clearTimeout(timer)
      timer = setTimeout(() => void now(), o.delayMs)
    },
    now,
    flush: (): Promise<void> => (timer !== undefined ? now() : settled),
  }
}
