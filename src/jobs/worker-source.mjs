// Starts a TypeScript worker when the back end runs from source (CLI, web mode, tests):
// worker threads do not inherit tsx's loader, so register it here and import the real entry.
import { register } from 'tsx/esm/api'
import { workerData } from 'node:worker_threads'

register()
await import(workerData.entry)
