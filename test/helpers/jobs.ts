// Stopping a run a test no longer needs, without assuming it is still going: on a fast back end
// it may already have ended, and cancelling an ended run is (rightly) an error.
import type { MxdClient } from '../../src/shared/api.js'

/** Cancels run `id` if it is queued or running; a run that already ended is left as it is. */
export async function cancelIfActive(client: MxdClient, id: number): Promise<void> {
  try {
    await client.call('jobs.cancel', { id })
  } catch (e) {
    const { run } = await client.call('runs.get', { id })
    if (run.status === 'queued' || run.status === 'running') throw e
  }
}
