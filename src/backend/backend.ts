// The back end: one per process (Electron's main process, the web server, a CLI command).
// It owns the store and the job queue, validates every request against the contract and runs
// its handler. Transports (IPC, WebSocket, CLI) only carry `dispatch` and events.
import { z } from 'zod'
import {
  ApiError,
  contract,
  type ApiEvent,
  type BackendName,
  type Method,
  type Output,
  type Reply,
} from '../shared/api.js'
import { initBackend } from '../engine/backend.js'
import { JobQueue } from '../jobs/queue.js'
import type { WorkerFactory } from '../jobs/spawn.js'
import { describeStoreError, Store } from '../store/store.js'
import { describeFsError, UserPathError } from '../fs/user-files.js'
import type { BackendContext } from './context.js'
import { handlers } from './handlers/index.js'
import { EngineService } from './engine-service.js'
import { followUpEvaluation } from './follow-up-eval.js'
import { resourcesDir } from './paths.js'
import { join } from 'node:path'

export interface BackendOptions {
  storeDir: string
  nativeBinding?: string
  workerFactory?: WorkerFactory
  backend?: BackendName
  electronVersion?: string | null
  /** Start queued runs left from an earlier session (the app does; one-shot CLI commands do not). */
  restoreQueue?: boolean
  /** Where shipped models live (default: resources/models of the checkout). */
  bundledModelsDir?: string
}

export class Backend {
  readonly ctx: BackendContext
  private readonly listeners = new Set<(e: ApiEvent) => void>()

  private constructor(ctx: Omit<BackendContext, 'queue' | 'engine'>, opts: BackendOptions) {
    const queue = new JobQueue(
      ctx.store,
      {
        progress: (data) => this.emit({ event: 'job.progress', data }),
        runChanged: (data) => this.emit({ event: 'run.changed', data }),
      },
      { workerFactory: opts.workerFactory, nativeBinding: opts.nativeBinding, backend: opts.backend },
    )
    const engine = new EngineService((data) => this.emit({ event: 'playground.event', data }), {
      workerFactory: opts.workerFactory,
      backend: opts.backend,
    })
    this.ctx = {
      ...ctx,
      queue,
      engine,
      notifyRunChanged: (data) => this.emit({ event: 'run.changed', data }),
      notifyRunDeleted: (id) => this.emit({ event: 'run.deleted', data: { id } }),
    }
  }

  static async create(opts: BackendOptions): Promise<Backend> {
    const compute = await initBackend(opts.backend)
    const store = new Store({ dir: opts.storeDir, nativeBinding: opts.nativeBinding })
    store.markInterrupted()
    const bundledModelsDir = opts.bundledModelsDir ?? join(resourcesDir, 'models')
    const backend = new Backend({ store, compute, electronVersion: opts.electronVersion ?? null, bundledModelsDir }, opts)
    backend.subscribe(followUpEvaluation(backend.ctx))
    if (opts.restoreQueue) backend.ctx.queue.restoreQueued()
    return backend
  }

  subscribe(listener: (e: ApiEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private emit(e: ApiEvent): void {
    for (const l of this.listeners) l(e)
  }

  /** Validates and runs one request; never throws, so every transport answers something. */
  async dispatch(method: string, input: unknown): Promise<Reply<unknown>> {
    try {
      return { ok: true, value: await this.call(method, input) }
    } catch (err) {
      return { ok: false, error: toApiError(err, this.ctx.store.path).toBody() }
    }
  }

  /** Like dispatch, but throws ApiError; for in-process callers such as the CLI. */
  async call<M extends Method>(method: M | string, input: unknown): Promise<Output<M>> {
    if (!Object.hasOwn(contract, method)) {
      throw new ApiError('bad_request', `Unknown method "${method}".`)
    }
    const m = method as M
    const parsed = contract[m].input.safeParse(input ?? {})
    if (!parsed.success) throw new ApiError('bad_request', describeIssues(m, parsed.error))
    const handler = handlers[m] as (ctx: BackendContext, input: unknown) => Output<M> | Promise<Output<M>>
    try {
      return await handler(this.ctx, parsed.data)
    } catch (err) {
      // The same mapping as dispatch, so the CLI prints what the UI shows.
      throw toApiError(err, this.ctx.store.path)
    }
  }

  async close(): Promise<void> {
    await this.ctx.queue.shutdown()
    await this.ctx.engine.close()
    this.ctx.store.close()
  }
}

const DISK_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO'])

/**
 * The one mapping from whatever a handler threw to what a client sees. A user's path that cannot
 * be used (UserPathError, or a raw Node errno error that escaped a handler) is the user's to fix:
 * bad_request, in describeFsError's words naming the file and the fix. A full or failing disk
 * (errno, or SQLite's SQLITE_FULL / SQLITE_IOERR on the store) is 'internal' but said as plainly.
 */
export function toApiError(err: unknown, storePath: string): ApiError {
  if (err instanceof ApiError) return err
  const described = describeStoreError(err, storePath)
  let pathError: UserPathError | undefined
  if (described instanceof UserPathError) pathError = described
  else {
    const e = err as NodeJS.ErrnoException
    if (e instanceof Error && typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) {
      pathError = describeFsError(e, typeof e.path === 'string' ? e.path : 'a file')
    }
  }
  if (pathError) return new ApiError(pathError.code && DISK_CODES.has(pathError.code) ? 'internal' : 'bad_request', pathError.message)
  return new ApiError('internal', err instanceof Error ? err.message : String(err))
}

/** "runs.get: id: expected number, received string" — one line a person can act on. */
export function describeIssues(method: string, error: z.ZodError): string {
  const parts = error.issues.map((i) => {
    const where = i.path.length ? i.path.join('.') : 'input'
    return `${where}: ${i.message}`
  })
  return `Invalid request to ${method}: ${parts.join('; ')}`
}
