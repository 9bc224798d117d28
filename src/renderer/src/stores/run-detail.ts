// The run the run page shows: its detail (metrics, checkpoints, log) kept fresh as events arrive,
// the live row and progress from the backend store, and cancelling or resuming it.
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { RunDetail } from '../../../shared/api'
import { errorMessage } from '../lib/errors'
import { useBackendStore } from './backend'
import { useRunsStore } from './runs'

/** At most one refetch this often while progress streams in (new metrics, log lines, checkpoints). */
const REFETCH_MS = 1000

export const useRunDetailStore = defineStore('run-detail', () => {
  const backend = useBackendStore()
  const runs = useRunsStore()

  const id = ref<number | null>(null)
  const detail = ref<RunDetail | null>(null)
  const loadError = ref<string | null>(null)
  const actionError = ref<string | null>(null)
  const busy = ref(false)

  // One fetch at a time; events that arrive meanwhile cause exactly one more.
  let inFlight = false
  let again = false
  let lastLoad = 0
  let trailing: ReturnType<typeof setTimeout> | undefined
  /** Whether the run page is open: events for its run refetch only then. */
  let active = false

  async function load(): Promise<void> {
    if (id.value === null) return
    if (inFlight) {
      again = true
      return
    }
    inFlight = true
    lastLoad = Date.now()
    try {
      do {
        again = false
        const asked: number = id.value
        const d = await runs.fetchDetail(asked)
        if (asked === id.value) {
          detail.value = d
          loadError.value = null
        }
      } while (again)
    } catch (err) {
      loadError.value = errorMessage(err)
    } finally {
      inFlight = false
    }
  }

  function loadSoon(): void {
    const wait = REFETCH_MS - (Date.now() - lastLoad)
    if (wait <= 0) void load()
    else
      trailing ??= setTimeout(() => {
        trailing = undefined
        void load()
      }, wait)
  }

  /** Shows run `runId`: what another run showed is dropped at once. */
  function open(runId: number): void {
    active = true
    if (runId !== id.value) {
      id.value = runId
      detail.value = null
      loadError.value = null
      actionError.value = null
    }
    void load()
    if (runs.summaries[runId] === undefined) void runs.refreshSummaries()
  }

  /** The page is gone: no refetch left pending. */
  function close(): void {
    active = false
    clearTimeout(trailing)
    trailing = undefined
  }

  // The backend store bumps this on every change of the run and on every progress with new metrics.
  watch(
    () => (id.value === null ? undefined : backend.runEvents[id.value]),
    (n) => {
      if (active && n !== undefined) void load()
    },
  )
  // Progress updates are throttled by the worker, so the one that carries a finished step's
  // metrics can be skipped: refetch (throttled) on any progress of this run.
  watch(
    () => (id.value === null ? undefined : backend.progress[id.value]),
    (p) => {
      if (active && p) loadSoon()
    },
  )

  /** The live row from the backend store wins over the fetched one (events keep it current). */
  const run = computed(() => backend.runs.find((r) => r.id === id.value) ?? detail.value?.run ?? null)
  const progress = computed(() => (run.value?.status === 'running' && id.value !== null ? (backend.progress[id.value] ?? null) : null))

  /**
   * Cancels or resumes the run (at learning rate `lr` for a conversion); the id of the run that
   * goes on, which is a new run for some kinds, or null when it failed (see actionError).
   */
  async function act(what: 'cancel' | 'resume', lr?: number): Promise<number | null> {
    const r = run.value
    if (!r) return null
    actionError.value = null
    busy.value = true
    try {
      if (what === 'cancel') {
        await backend.cancel(r.id)
        return r.id
      }
      return await backend.resume(r.id, lr)
    } catch (err) {
      actionError.value = `Could not ${what}: ${errorMessage(err)}`
      return null
    } finally {
      busy.value = false
    }
  }

  return { id, detail, loadError, actionError, busy, run, progress, open, close, load, act }
})
