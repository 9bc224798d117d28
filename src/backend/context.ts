// What every handler receives: the store, the job queue and facts about this process.
import type { BackendReport } from '../engine/backend.js'
import type { Run } from '../shared/api.js'
import type { JobQueue } from '../jobs/queue.js'
import type { Store } from '../store/store.js'
import type { EngineService } from './engine-service.js'

export interface BackendContext {
  store: Store
  queue: JobQueue
  compute: BackendReport
  /** Electron's version when the back end runs inside Electron's main process. */
  electronVersion: string | null
  /** Interactive model work (the Playground) in the engine worker. */
  engine: EngineService
  /** Models shipped with the app (resources/models). */
  bundledModelsDir: string | undefined
  /** Tells every client that a run changed outside the queue (e.g. an imported layer). */
  notifyRunChanged?: (run: Run) => void
  /** Tells every client that a run was deleted. */
  notifyRunDeleted?: (id: number) => void
}
