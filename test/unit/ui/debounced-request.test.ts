// The wizards' debounced preview request (src/renderer/src/lib/debounced-request.ts), a pure unit
// of timing logic: fake timers stand for the pause, and each request is a promise the test settles
// by hand, so the order in which answers arrive is chosen here, not left to the machine.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

// The renderer is its own TypeScript project (tsconfig.web.json); a specifier tsc does not follow
// keeps it out of this one, and this interface states the part of the module tested here.
interface Options<I, O> {
  delayMs: number
  input: () => I | null
  request: (input: I) => Promise<O>
  onAnswer: (answer: O, input: I) => void
  onError: (err: unknown, input: I) => void
  onStart?: (input: I) => void
  onEmpty?: () => void
  onBusy?: (busy: boolean) => void
  key?: (input: I) => string
}
interface DebouncedRequest {
  schedule(): void
  now(): Promise<void>
  flush(): Promise<void>
}
interface Module {
  debouncedRequest<I, O>(o: Options<I, O>): DebouncedRequest
}
const MODULE: string = '../../../src/renderer/src/lib/debounced-request.ts'
const { debouncedRequest } = (await import(MODULE)) as Module

/** A request whose answer the test gives (or whose failure it raises) when it chooses. */
interface Pending {
  input: string
  resolve(answer: string): void
  reject(err: Error): void
}

/** A debounced request over a settable input, recording every callback in order. */
function harness(extra: Partial<Options<string, string>> = {}) {
  let current: string | null = 'a'
  const sent: Pending[] = []
  const log: string[] = []
  const r = debouncedRequest<string, string>({
    delayMs: 150,
    input: () => current,
    request: (input) =>
      new Promise<string>((resolve, reject) => {
        sent.push({ input, resolve, reject })
      }),
    onAnswer: (answer, input) => log.push(`answer ${answer} for ${input}`),
    onError: (err, input) => log.push(`error ${(err as Error).message} for ${input}`),
    onStart: (input) => log.push(`start ${input}`),
    onEmpty: () => log.push('empty'),
    onBusy: (busy) => log.push(`busy ${busy}`),
    ...extra,
  })
  return {
    r,
    sent,
    log,
    set(v: string | null): void {
      current = v
      r.schedule()
    },
  }
}

/** Lets the promise callbacks queued by a settled request run. */
const drain = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

describe('debouncedRequest', () => {
  it('sends one request delayMs after the last of several edits, with the input as it is then', async () => {
    const h = harness()
    h.set('a')
    vi.advanceTimersByTime(100)
    h.set('ab')
    vi.advanceTimersByTime(100)
    h.set('abc')
    vi.advanceTimersByTime(149)
    expect(h.sent).toEqual([])
    vi.advanceTimersByTime(1)
    expect(h.sent.map((p) => p.input)).toEqual(['abc'])
    expect(h.log).toEqual(['start abc', 'busy true'])
    h.sent[0]!.resolve('A')
    await drain()
    expect(h.log).toEqual(['start abc', 'busy true', 'answer A for abc', 'busy false'])
  })

  it('drops the answer to an older request, even when it arrives after the newer one', async () => {
    const h = harness()
    h.set('x')
    vi.advanceTimersByTime(150)
    h.set('y')
    vi.advanceTimersByTime(150)
    expect(h.sent.map((p) => p.input)).toEqual(['x', 'y'])
    h.sent[1]!.resolve('Y')
    await drain()
    h.sent[0]!.resolve('X')
    await drain()
    expect(h.log.filter((l) => l.startsWith('answer'))).toEqual(['answer Y for y'])
    // Busy went true twice and false once: when the newest settled, not when the older did.
    expect(h.log.filter((l) => l.startsWith('busy'))).toEqual(['busy true', 'busy true', 'busy false'])
  })

  it('drops an older request that arrives first too', async () => {
    const h = harness()
    h.set('x')
    vi.advanceTimersByTime(150)
    h.set('y')
    vi.advanceTimersByTime(150)
    h.sent[0]!.resolve('X')
    await drain()
    expect(h.log.filter((l) => l.startsWith('answer'))).toEqual([])
    h.sent[1]!.resolve('Y')
    await drain()
    expect(h.log.filter((l) => l.startsWith('answer'))).toEqual(['answer Y for y'])
  })

  it('delivers the newest request’s error and drops an older one’s', async () => {
    const h = harness()
    h.set('x')
    vi.advanceTimersByTime(150)
    h.set('y')
    vi.advanceTimersByTime(150)
    h.sent[0]!.reject(new Error('old failure'))
    h.sent[1]!.reject(new Error('bad y'))
    await drain()
    expect(h.log.filter((l) => l.startsWith('error'))).toEqual(['error bad y for y'])
    expect(h.log.at(-1)).toBe('busy false')
  })

  it('an error thrown before the request’s promise exists is delivered the same way', async () => {
    const h = harness({
      request: () => {
        throw new Error('refused')
      },
    })
    h.set('z')
    vi.advanceTimersByTime(150)
    await drain()
    expect(h.log).toEqual(['start z', 'busy true', 'error refused for z', 'busy false'])
  })

  it('an input that turns empty sends nothing and drops the answer still on its way', async () => {
    const h = harness()
    h.set('x')
    vi.advanceTimersByTime(150)
    h.set(null)
    vi.advanceTimersByTime(150)
    expect(h.sent).toHaveLength(1)
    expect(h.log).toEqual(['start x', 'busy true', 'busy false', 'empty'])
    h.sent[0]!.resolve('X')
    await drain()
    expect(h.log).toEqual(['start x', 'busy true', 'busy false', 'empty'])
  })

  it('flush sends a waiting ask at once and resolves when its answer is in', async () => {
    const h = harness()
    h.set('f')
    let done = false
    const flushed = h.r.flush().then(() => (done = true))
    expect(h.sent.map((p) => p.input)).toEqual(['f'])
    await drain()
    expect(done).toBe(false)
    h.sent[0]!.resolve('F')
    await flushed
    expect(h.log).toContain('answer F for f')
    // The timer was taken over: nothing more is sent when the pause would have ended.
    vi.advanceTimersByTime(1000)
    expect(h.sent).toHaveLength(1)
  })

  it('flush with nothing waiting waits for the request on its way, and resolves at once when there is none', async () => {
    const h = harness()
    await h.r.flush()
    expect(h.sent).toEqual([])
    h.set('g')
    vi.advanceTimersByTime(150)
    let done = false
    const flushed = h.r.flush().then(() => (done = true))
    await drain()
    expect(done).toBe(false)
    h.sent[0]!.reject(new Error('no'))
    await flushed
    expect(h.log).toContain('error no for g')
  })

  it('now sends at once, even with nothing waiting, and takes over a waiting ask', async () => {
    const h = harness()
    const first = h.r.now()
    expect(h.sent.map((p) => p.input)).toEqual(['a'])
    h.sent[0]!.resolve('A')
    await first
    expect(h.log).toContain('answer A for a')
    h.set('b')
    const second = h.r.now()
    expect(h.sent.map((p) => p.input)).toEqual(['a', 'b'])
    vi.advanceTimersByTime(1000)
    expect(h.sent).toHaveLength(2)
    h.sent[1]!.resolve('B')
    await second
    expect(h.log.at(-2)).toBe('answer B for b')
  })

  it('with a key, an input equal to the last one sent is not sent again; an empty input forgets it', async () => {
    const h = harness({ key: (input) => input })
    h.set('k')
    vi.advanceTimersByTime(150)
    h.set('kk')
    h.set('k')
    vi.advanceTimersByTime(150)
    expect(h.sent.map((p) => p.input)).toEqual(['k'])
    h.sent[0]!.resolve('K')
    await drain()
    expect(h.log.filter((l) => l.startsWith('answer'))).toEqual(['answer K for k'])
    h.set(null)
    vi.advanceTimersByTime(150)
    h.set('k')
    vi.advanceTimersByTime(150)
    expect(h.sent.map((p) => p.input)).toEqual(['k', 'k'])
  })

  it('without a key, the same input is sent again', () => {
    const h = harness()
    h.set('k')
    vi.advanceTimersByTime(150)
    h.set('k')
    vi.advanceTimersByTime(150)
    expect(h.sent.map((p) => p.input)).toEqual(['k', 'k'])
  })
})
