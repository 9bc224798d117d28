// The one store for the back end: the client, the doctor report, the runs list (kept live from
// `run.changed` events) and the newest `job.progress` per run.
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import type { ApiEvent, DoctorReport, Input, JobProgress, Method, MxdClient, Output, Run } from '../../../shared/api'
import type { Transport } from '../api/client'
import { errorMessage } from '../lib/errors'

export interface Connection {
  client: MxdClient
  transport: Transport
  onClose(listener: () => void): void
}

export const useBackendStore = defineStore('backend', () => {
  const client = shallowRef<MxdClient | null>(null)
  const transport = ref<Transport>('web')
  const connected = ref(false)
  const doctor = ref<DoctorReport | null>(null)
  const doctorError = ref<string | null>(null)
  const runs = ref<Run[]>([])
  const runsLoaded = ref(false)
  const runsError = ref<string | null>(null)
  const progress = ref<Record<number, JobProgress>>({})
  /** Bumped on every event for a run, so detail pages know to refetch. */
  const runEvents = ref<Record<number, number>>({})
  let unsubscribe: (() => void) | null = null

  function upsertRun(run: Run): void {
    const i = runs.value.findIndex((r) => r.id === run.id)
    if (i >= 0) runs.value.splice(i, 1, run)
    else {
      runs.value.push(run)
      runs.value.sort((a, b) => b.id - a.id)
    }
    if (run.status !== 'running' && run.status !== 'queued') {
      // Keep the final progress for finished runs out of the way of the status bar.
      const { [run.id]: _dropped, ...rest } = progress.value
      progress.value = rest
    }
  }

  function bump(id: number): void {
    runEvents.value = { ...runEvents.value, [id]: (runEvents.value[id] ?? 0) + 1 }
  }

  function onEvent(e: ApiEvent): void {
    if (e.event === 'run.changed') {
      upsertRun(e.data)
      bump(e.data.id)
    } else if (e.event === 'run.deleted') {
      forgetRun(e.data.id)
      bump(e.data.id)
    } else if (e.event === 'job.progress') {
      const run = runs.value.find((r) => r.id === e.data.runId)
      if (run && run.status !== 'running' && run.status !== 'queued') return
      progress.value = { ...progress.value, [e.data.runId]: e.data }
      if (Object.keys(e.data.metrics).length > 0) bump(e.data.runId)
    }
  }

  async function attach(conn: Connection): Promise<void> {
    client.value = conn.client
    transport.value = conn.transport
    connected.value = true
    conn.onClose(() => (connected.value = false))
    unsubscribe?.()
    // Subscribe before the first list so no change between the two is lost.
    unsubscribe = conn.client.subscribe(onEvent)
    await Promise.all([refreshDoctor(), refreshRuns()])
  }

  async function call<M extends Method>(method: M, input: Input<M>): Promise<Output<M>> {
    if (!client.value) throw new Error('Not connected to the MxD Studio back end.')
    return client.value.call(method, input)
  }

  async function refreshDoctor(): Promise<void> {
    try {
      doctor.value = await call('app.diagnose', {})
      doctorError.value = null
    } catch (err) {
      doctorError.value = errorMessage(err)
    }
  }

  async function refreshRuns(): Promise<void> {
    try {
      const list = await call('runs.list', {})
      // Events that arrived while the list was in flight are newer: keep them.
      const byId = new Map(list.map((r) => [r.id, r]))
      for (const r of runs.value) byId.set(r.id, r)
      runs.value = [...byId.values()].sort((a, b) => b.id - a.id)
      runsError.value = null
    } catch (err) {
      runsError.value = errorMessage(err)
    } finally {
      runsLoaded.value = true
    }
  }

  /** Drops a deleted run from the list (the run.deleted event, in every window). */
  function forgetRun(id: number): void {
    runs.value = runs.value.filter((r) => r.id !== id)
    const { [id]: _dropped, ...rest } = progress.value
    progress.value = rest
  }

  async function cancel(id: number): Promise<void> {
    await call('jobs.cancel', { id })
  }
  /** lr: a conversion run goes on at this learning rate (left out: the one it has). */
  async function resume(id: number, lr?: number): Promise<number> {
    const { runId } = await call('jobs.resume', lr === undefined ? { id } : { id, lr })
    return runId
  }

  const activeRuns = computed(() => runs.value.filter((r) => r.status === 'running'))
  /** The job the status bar shows: the newest running run. */
  const activeJob = computed(() => {
    const run = activeRuns.value[0]
    if (!run) return null
    return { run, progress: progress.value[run.id] ?? null }
  })

  return {
    client,
    transport,
    connected,
    doctor,
    doctorError,
    runs,
    runsLoaded,
    runsError,
    progress,
    runEvents,
    activeRuns,
    activeJob,
    attach,
    call,
    refreshDoctor,
    refreshRuns,
    forgetRun,
    cancel,
    resume,
  }
})
