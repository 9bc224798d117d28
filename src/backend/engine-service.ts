// The back end's side of the engine worker: starts it on first use, gives each generation an
// id, and turns the worker's messages into `playground.event` events for every client. A second,
// folders-only instance of the same worker script does the file work on model folders the
// Models page asks for (inspect, describe, add, list), so that work never runs on the server's
// event loop and never waits behind a multi-GB model being loaded for the Playground.
import type { Worker } from 'node:worker_threads'
import type { EngineRequest, EngineResponse, FolderRequest, FolderResults, InspectRequest, InspectResults } from '../jobs/engine-protocol.js'
import { sourceWorkerFactory, type WorkerFactory } from '../jobs/spawn.js'
import type { GenerateRequest, PlaygroundEvent, Steer } from '../shared/models.js'

export class EngineService {
  private worker: Worker | undefined
  private folderWorker: Worker | undefined
  private nextId = 1
  private readonly live = new Set<string>()
  private readonly folders = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private readonly inspections = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()

  constructor(
    private readonly emit: (e: PlaygroundEvent) => void,
    private readonly opts: { workerFactory?: WorkerFactory; backend?: string } = {},
  ) {}

  generate(dir: string, req: GenerateRequest, splice?: { dir: string; steer: Steer[] }): string {
    const generationId = `g${this.nextId++}`
    this.live.add(generationId)
    this.post({
      type: 'generate',
      id: generationId,
      dir,
      prompt: req.prompt,
      topPredictions: req.topPredictions,
      options: {
        maxNewTokens: req.maxTokens,
        temperature: req.temperature,
        topK: req.topK,
        topP: req.topP,
        frequencyPenalty: req.frequencyPenalty,
        seed: req.seed,
      },
      ...(splice ? { splice } : {}),
    })
    return generationId
  }

  /**
   * Model-folder file work (inspect, describe, add, discover) in the worker, off the event loop:
   * the server never makes a synchronous filesystem call on a path a user chose.
   */
  folder<R extends FolderRequest>(request: R): Promise<FolderResults[R['op']]> {
    const id = `f${this.nextId++}`
    return new Promise((resolve, reject) => {
      this.folders.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.ensureFolderWorker().postMessage({ type: 'folder', id, request } satisfies EngineRequest)
    })
  }

  /**
   * features.search / features.ablate on the main engine worker, beside the Playground's
   * generations: it shares their loaded model and layer (why: src/jobs/engine-worker.ts inspectWork).
   */
  inspect<R extends InspectRequest>(request: R): Promise<InspectResults[R['op']]> {
    const id = `i${this.nextId++}`
    return new Promise((resolve, reject) => {
      this.inspections.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.post({ type: 'inspect', id, request })
    })
  }

  stop(generationId: string): boolean {
    if (!this.live.has(generationId)) return false
    this.post({ type: 'stop', id: generationId })
    return true
  }

  async close(): Promise<void> {
    await Promise.all([this.worker?.terminate(), this.folderWorker?.terminate()])
    this.worker = undefined
    this.folderWorker = undefined
  }

  private post(req: EngineRequest): void {
    this.ensureWorker().postMessage(req)
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker
    const worker = (this.opts.workerFactory ?? sourceWorkerFactory)('engine', { backend: this.opts.backend })
    worker.on('message', (msg: EngineResponse) => this.onMessage(msg))
    worker.on('error', (err) => this.failAll(`The engine worker crashed: ${err.message}`))
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined
      this.failAll('The engine worker stopped.')
    })
    this.worker = worker
    return worker
  }

  private ensureFolderWorker(): Worker {
    if (this.folderWorker) return this.folderWorker
    const worker = (this.opts.workerFactory ?? sourceWorkerFactory)('engine', { backend: this.opts.backend, foldersOnly: true })
    worker.on('message', (msg: EngineResponse) => this.onMessage(msg))
    const fail = (message: string): void => {
      for (const pending of this.folders.values()) pending.reject(new Error(message))
      this.folders.clear()
    }
    worker.on('error', (err) => fail(`The model-folder worker crashed: ${err.message}`))
    worker.on('exit', () => {
      if (this.folderWorker === worker) this.folderWorker = undefined
      fail('The model-folder worker stopped.')
    })
    this.folderWorker = worker
    return worker
  }

  private onMessage(msg: EngineResponse): void {
    if (msg.type === 'ready') return
    if (msg.type === 'folder') {
      const pending = this.folders.get(msg.id)
      this.folders.delete(msg.id)
      if (msg.ok) pending?.resolve(msg.value)
      else pending?.reject(new Error(msg.message))
      return
    }
    if (msg.type === 'inspect') {
      const pending = this.inspections.get(msg.id)
      this.inspections.delete(msg.id)
      if (msg.ok) pending?.resolve(msg.value)
      else pending?.reject(new Error(msg.message))
      return
    }
    const generationId = msg.id
    if (msg.type === 'prompt') this.emit({ type: 'prompt', generationId, ids: msg.ids, tokens: msg.tokens })
    else if (msg.type === 'token') this.emit({ type: 'token', generationId, ...msg.token })
    else {
      this.live.delete(generationId)
      if (msg.type === 'done') {
        const r = msg.result
        this.emit({ type: 'done', generationId, stopReason: r.stopReason, text: r.text, seed: r.seed })
      } else this.emit({ type: 'error', generationId, message: msg.message })
    }
  }

  private failAll(message: string): void {
    for (const generationId of this.live) this.emit({ type: 'error', generationId, message })
    this.live.clear()
    for (const pending of this.inspections.values()) pending.reject(new Error(message))
    this.inspections.clear()
  }
}
