// Small formatting helpers shared by the pages and the status bar.
import type { Run, RunStatus } from '../../../shared/api'
import { CONVERT_RUN_KIND_LABEL } from './convert-format'

export function formatDate(iso: string | null): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  const today = new Date()
  const sameDay = d.toDateString() === today.toDateString()
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
  return sameDay ? `Today ${time}` : `${d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })} ${time}`
}

export function formatSeconds(secs: number | null | undefined): string {
  if (secs === null || secs === undefined || !Number.isFinite(secs)) return '—'
  if (secs < 1) return `${Math.round(secs * 1000)} ms`
  if (secs < 60) return `${secs.toFixed(secs < 10 ? 1 : 0)} s`
  const m = Math.floor(secs / 60)
  const s = Math.round(secs % 60)
  if (m < 60) return `${m} min ${s} s`
  const h = Math.floor(m / 60)
  return `${h} h ${m % 60} min`
}

/** Wall time of a run: finished − started, or so far when still running. */
export function runDurationSeconds(run: Run, now = Date.now()): number | null {
  if (!run.startedAt) return null
  const start = Date.parse(run.startedAt)
  const end = run.finishedAt ? Date.parse(run.finishedAt) : run.status === 'running' ? now : null
  if (end === null || Number.isNaN(start) || Number.isNaN(end)) return null
  return Math.max(0, (end - start) / 1000)
}

export function formatNumber(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v)
  const a = Math.abs(v)
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2)
  if (Number.isInteger(v)) return v.toLocaleString('en-US')
  return v.toLocaleString('en-US', { maximumSignificantDigits: Math.max(digits, Math.ceil(Math.log10(a + 1)) + 2) })
}

export function formatRate(perSecond: number, unit: string): string {
  const v = perSecond >= 100 ? perSecond.toFixed(0) : perSecond >= 10 ? perSecond.toFixed(1) : perSecond.toFixed(2)
  return `${v} ${unit}/s`
}

export const STATUS_HELP: Record<RunStatus, string> = {
  queued: 'Waiting for a free worker; it starts as soon as the job before it ends.',
  running: 'Running now in a background worker; progress updates live.',
  succeeded: 'Finished; all its metrics and checkpoints are stored.',
  failed: 'Stopped by an error (shown on its page). Resume continues from the last checkpoint.',
  cancelled: 'Stopped on request. Resume continues from the last checkpoint.',
  interrupted: 'The app quit or crashed while it ran. Resume continues from the last checkpoint.',
}

export const RUN_KIND_LABEL: Record<string, string> = {
  'bench-backend': 'Backend benchmark',
  'expert-analysis': 'Expert analysis',
  pretrain: 'Pre-training',
  'classify-train': 'Classifier training',
  'classify-eval': 'Classifier evaluation',
  'privacy-finetune': 'Privacy fine-tuning',
  'privacy-certify': 'Privacy certificate',
  'privacy-attack': 'Privacy attacks',
  'privacy-verify': 'Certificate verification',
  ...CONVERT_RUN_KIND_LABEL,
}

/** Display names and units for known metric names. */
export const METRIC_LABEL: Record<string, string> = {
  gflops: 'GFLOP/s',
  ms_per_matmul: 'ms per matmul',
  loss: 'Training loss',
  heldout_loss: 'Held-out loss',
  lr: 'Learning rate',
  grad_norm: 'Gradient norm',
  tokens_per_s: 'Tokens/s',
  samples_per_s: 'Images/s',
  epoch_loss: 'Epoch loss',
  train_accuracy: 'Train accuracy',
  validation_accuracy: 'Validation accuracy',
  test_accuracy: 'Test accuracy',
}

export const STEP_LABEL: Record<string, string> = {
  'bench-backend': 'Matrix size n',
}

export function canCancel(status: RunStatus): boolean {
  return status === 'queued' || status === 'running'
}
export function canResume(status: RunStatus): boolean {
  return status === 'interrupted' || status === 'cancelled' || status === 'failed'
}

/** The key that goes with Enter for "do it" shortcuts: ⌘ on a Mac, Ctrl elsewhere. */
export const MOD_KEY = typeof navigator !== 'undefined' && navigator.platform.toLowerCase().includes('mac') ? '⌘' : 'Ctrl'
