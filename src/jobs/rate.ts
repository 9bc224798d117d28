// Throughput and ETA over a sliding window, so a slow first step (warm-up, JIT) does not
// distort the estimate for the rest of the run.
export class RateMeter {
  private samples: { t: number; done: number }[] = []

  constructor(
    private readonly windowMs = 10_000,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Records that `done` units are complete now; returns units per second over the window. */
  update(done: number): number {
    const t = this.clock()
    this.samples.push({ t, done })
    while (this.samples.length > 2 && t - this.samples[0]!.t > this.windowMs) this.samples.shift()
    const first = this.samples[0]!
    const dt = (t - first.t) / 1000
    return dt > 0 ? (done - first.done) / dt : 0
  }

  static eta(done: number, total: number, perSecond: number): number | null {
    if (perSecond <= 0 || total <= done) return total <= done ? 0 : null
    return (total - done) / perSecond
  }
}
