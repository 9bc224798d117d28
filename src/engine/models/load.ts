// Loads a model folder into a LanguageModel. Weights are read once per process: every caller
// (the app, a training job, an evaluation) that loads the same folder shares one copy, keyed by
// its real path and the modification times of its files so an edited folder is read afresh.
// Each call returns its own handle; the weights are freed when the last handle is disposed.
import { readdirSync, realpathSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { initBackend } from '../backend.js'
import { ModelLoadError, openModelFolder, SUPPORTED_MODEL_TYPES, type ModelFolder } from '../model-folder.js'
import { Decoder, type DecoderSpec, type LanguageModel } from './model.js'
import { architectureModule } from './registry.js'

interface SharedWeights {
  spec: DecoderSpec
  handles: number
}

const shared = new Map<string, SharedWeights>()

/**
 * Opens `dirOrFolder` (a path, or a ModelFolder the caller keeps ownership of) and returns a
 * model handle. Throws ModelLoadError for an unsupported architecture or inconsistent weights.
 */
export async function loadLanguageModel(dirOrFolder: string | ModelFolder): Promise<LanguageModel> {
  await initBackend()
  const dir = typeof dirOrFolder === 'string' ? dirOrFolder : dirOrFolder.dir
  const key = cacheKey(dir)
  let entry = shared.get(key)
  if (!entry) {
    entry = { spec: readSpec(dirOrFolder), handles: 0 }
    shared.set(key, entry)
  }
  entry.handles++
  const owner = entry
  return new Decoder(owner.spec, () => {
    if (--owner.handles > 0) return
    shared.delete(key)
    for (const t of owner.spec.tensors) t.dispose()
  })
}

/** How many distinct weight sets are in memory (for tests and diagnostics). */
export function loadedWeightSets(): number {
  return shared.size
}

function readSpec(dirOrFolder: string | ModelFolder): DecoderSpec {
  const folder = typeof dirOrFolder === 'string' ? openModelFolder(dirOrFolder) : dirOrFolder
  try {
    const loader = architectureModule(folder.architecture)?.load
    if (!loader) {
      throw new ModelLoadError(
        `Architecture "${folder.architecture}" is not supported: MxD Studio runs ${SUPPORTED_MODEL_TYPES.join(', ')}.`,
      )
    }
    return loader(folder.valid, folder.weights)
  } catch (err) {
    if (err instanceof ModelLoadError) err.message = `${folder.dir}: ${err.message}`
    throw err
  } finally {
    if (folder !== dirOrFolder) folder.close()
  }
}

function cacheKey(dir: string): string {
  let real: string
  try {
    real = realpathSync(dir)
  } catch {
    return dir // openModelFolder reports the missing folder
  }
  const stamps = readdirSync(real)
    .filter((f) => f === 'config.json' || f.endsWith('.safetensors') || f.endsWith('.index.json'))
    .sort()
    .map((f) => `${f}@${statSync(join(real, f)).mtimeMs}`)
  return `${real}|${stamps.join(',')}`
}
