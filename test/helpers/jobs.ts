// Waiting for a run to end, and stopping a run a test no longer needs, without assuming it is still going: on a fast back end
// it may already have ended, and cancelling an ended run is (rightly) an error.
import type { MxdClient, Run } from '../../src/shared/api.js'
import type { Store } from '../../src/store/store.js'
import { waitFor } from './wait.js'

/** Cancels run `id` if it is queued or running; a run that already ended is left as it is. */
export async function cancelIfActive(client: MxdClient, id: number): Promise<void> {
  try {
    await client.call('jobs.cancel', { id })
  } catch (e) {
    const { run } = await client.call('runs.get', { id })
    if (run.status === 'queued' || run.status === 'running') throw e
  }
}

/** Waits (no fixed sleep: waitFor polls the store) until run `id` has ended, and returns it. */
export function runEnded(store: Pick<Store, 'getRun'>, id: number): Promise<Run> {
  return waitFor(`run ${id} to end`, () => {
    const run = store.getRun(id)
    if (!run) throw new Error(`run ${id} does not exist`)
    return run.status === 'queued' || run.status === 'running' ? undefined : run
  })
}
