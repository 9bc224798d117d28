// A privacy run's results for its run page (privacy.get), and a certificate's verification from
// there: privacy.verify starts a privacy-verify job, whose end is seen in the backend store's live
// runs list (run.changed events), as the image expert page waits for its analysis. The
// certificate's report.html comes through privacy.getReport (the app serves no files) and is
// shown in a sandboxed frame and offered as a data: URL download (the CSP allows no blob:).
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { PrivacyReport, PrivacyRunState } from '../../../shared/privacy'
import { useAction } from '../lib/action'
import { textDataUrl } from '../lib/data-url'
import { errorMessage } from '../lib/errors'
import { useBackendStore } from './backend'

const FINISHED = new Set(['succeeded', 'failed', 'cancelled', 'interrupted'])

export const usePrivacyRunStore = defineStore('privacy-run', () => {
  const backend = useBackendStore()
  const runId = ref<number | null>(null)
  const state = ref<PrivacyRunState | null>(null)
  const error = ref<string | null>(null)
  /** The verification this page started, and its state once it finished. */
  const verifyRunId = ref<number | null>(null)
  const verifyState = ref<PrivacyRunState | null>(null)
  const verifying = useAction()
  /** The certificate's report.html once asked for, and its download link. */
  const report = ref<PrivacyReport | null>(null)
  const reportUrl = computed(() => (report.value ? textDataUrl(report.value.html, 'text/html') : null))
  const reporting = useAction()

  async function open(id: number): Promise<void> {
    if (runId.value !== id) {
      runId.value = id
      state.value = null
      error.value = null
      verifyRunId.value = null
      verifyState.value = null
      report.value = null
      reporting.error.value = null
    }
    try {
      const s = await backend.call('privacy.get', { runId: id })
      if (runId.value !== id) return
      state.value = s
      error.value = null
    } catch (err) {
      if (runId.value === id) error.value = errorMessage(err)
    }
  }

  /** Starts verifying the certificate this run issued. */
  async function verify(): Promise<void> {
    const cert = state.value?.certify
    if (!cert) return
    verifyState.value = null
    const r = await verifying.run(() => backend.call('privacy.verify', { certificate: { id: cert.certificateId } }))
    if (r) verifyRunId.value = r.runId
  }

  /** Fetches the certificate's report.html (shown, and offered for download). */
  async function loadReport(): Promise<void> {
    const cert = state.value?.certify
    if (!cert) return
    const r = await reporting.run(() => backend.call('privacy.getReport', { certificateId: cert.certificateId }))
    if (r && state.value?.certify?.certificateId === r.certificateId) report.value = r
  }

  const verifyStatus = computed(() =>
    verifyRunId.value === null ? null : (backend.runs.find((r) => r.id === verifyRunId.value)?.status ?? 'queued'),
  )
  const verifyProgress = computed(() => (verifyRunId.value === null ? null : (backend.progress[verifyRunId.value] ?? null)))

  // The verification finished (or failed): fetch its checks.
  watch(verifyStatus, async (status) => {
    const id = verifyRunId.value
    if (id === null || !status || !FINISHED.has(status)) return
    try {
      const s = await backend.call('privacy.get', { runId: id })
      if (verifyRunId.value === id) verifyState.value = s
    } catch (err) {
      if (verifyRunId.value === id) verifying.error.value = errorMessage(err)
    }
  })

  return {
    runId,
    state,
    error,
    verifyRunId,
    verifyState,
    verifyStatus,
    verifyProgress,
    verifying,
    open,
    verify,
    report,
    reportUrl,
    reporting,
    loadReport,
  }
})
