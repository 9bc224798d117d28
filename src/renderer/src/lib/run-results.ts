// A run page's results panel loads its run's result once the run has succeeded — and again when a
// resumed run succeeds anew, or the page switches to another run. One watcher for every panel.
import { watch } from 'vue'
import type { Run } from '../../../shared/api'

export function loadWhenSucceeded(run: () => Run, open: (runId: number) => unknown): void {
  watch(
    () => [run().id, run().status] as const,
    ([id, status]) => {
      if (status === 'succeeded') void open(id)
    },
    { immediate: true },
  )
}
