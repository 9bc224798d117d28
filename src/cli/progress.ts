// A one-line progress bar for a TTY; nothing at all when stderr is not a terminal, so pipes
// and logs stay clean (use --json for machine-readable progress).
import type { JobProgress } from '../shared/api.js'

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '?'
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

export function progressLine(p: JobProgress, width = 30): string {
  const filled = Math.round(p.fraction * width)
  const bar = '█'.repeat(filled) + '░'.repeat(width - filled)
  const pct = `${(p.fraction * 100).toFixed(0).padStart(3)}%`
  return `${bar} ${pct} ${p.done}/${p.total} ${p.unit} · ${p.perSecond.toFixed(1)} ${p.unit}/s · ETA ${formatDuration(p.etaSeconds)} ${p.message}`
}

export class ProgressBar {
  private active = false
  constructor(private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }) {}

  update(p: JobProgress): void {
    if (!this.stream.isTTY) return
    const line = progressLine(p).slice(0, (this.stream.columns ?? 100) - 1)
    this.stream.write(`\r\x1b[2K${line}`)
    this.active = true
  }

  done(): void {
    if (this.active) this.stream.write('\n')
    this.active = false
  }
}
