// Where the checkout's own folders are, for code that runs from source (CLI, web mode, tests).
import { fileURLToPath } from 'node:url'
import { resolve } from 'node:path'

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)))
export const rendererDir = resolve(repoRoot, 'out/renderer')
export const resourcesDir = resolve(repoRoot, 'resources')
