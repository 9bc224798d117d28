// `--splice RUN|LAYER_DIR` for commands that run the model: the layer of a conversion or
// imported run (from the store) or a layer folder replaces blocks[L].mlp, and its post-TopK code
// becomes a hook point (blocks.L.mxd.hook_gate, or blocks.L.transcoder.hook_codes).
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { resolveLayerSpec } from '../convert/export.js'
import { checkLayerModel, loadLayerFolder, readLayerConfig } from '../convert/layer-file.js'
import { codesHookName, forwardSpliced, splicedMlps } from '../convert/splice.js'
import type { MlpModule } from '../engine/hooks.js'
import type { ForwardResult, LanguageModel } from '../engine/models/model.js'
import type { Steer } from '../shared/models.js'
import { DB_FILE, Store } from '../store/store.js'
import type { CommandContext } from './command.js'
import { UsageError } from './command.js'

export interface CliSplice {
  block: number
  /** The code's hook point name, accepted in --hooks. */
  hookName: string
  forward(model: LanguageModel, ids: number[][], cacheNames: string[]): ForwardResult
  /** The mlpReplacements that put the layer (steered by `steers`) in its block, for generation. */
  mlps(model: LanguageModel, steers: readonly Steer[]): Record<number, MlpModule>
  dispose(): void
}

/** The official steering constant (docs/science/mxd.md#steering): a bare unit number means +100. */
export const DEFAULT_STEER = 100

/** `--steer 12=100,40=-50` (or `--steer 12` for +100) → steers; units are checked against the layer later. */
export function parseSteers(spec: string): Steer[] {
  return spec.split(',').map((part) => {
    const m = /^\s*(\d+)\s*(?:=\s*([-+]?\d*\.?\d+(?:e[-+]?\d+)?))?\s*$/i.exec(part)
    if (!m) throw new UsageError(`--steer: "${part}" is not UNIT or UNIT=VALUE (e.g. --steer 12=100,40=-50)`)
    return { unit: Number(m[1]), value: m[2] === undefined ? DEFAULT_STEER : Number(m[2]) }
  })
}

export function openSplice(ctx: CommandContext, spec: string | undefined, modelDir: string): CliSplice | undefined {
  if (spec === undefined) return undefined
  let store: Store | undefined
  if (/^\d+$/.test(spec)) {
    if (!existsSync(join(ctx.storeDir, DB_FILE))) {
      throw new UsageError(`--splice ${spec} names a run, but there is no store at ${ctx.storeDir}: give --store DIR, or a layer folder path`)
    }
    store = new Store({ dir: ctx.storeDir, readonly: true })
  }
  let dir: string
  try {
    dir = resolveLayerSpec(spec, store)
  } finally {
    store?.close()
  }
  // The app's rule (src/backend/handlers/playground.ts): refused, before the weights are read.
  checkLayerModel(readLayerConfig(dir), modelDir, store ? `Run ${spec}'s layer` : `The layer in ${dir}`)
  const { layer, cfg } = loadLayerFolder(dir)
  const block = cfg.layer
  return {
    block,
    hookName: codesHookName(layer.kind, block),
    forward: (model, ids, cacheNames) => forwardSpliced(model, ids, { cacheNames, splices: [{ block, layer }] }),
    mlps: (model, steers) => splicedMlps(model, { block, layer }, steers),
    dispose: () => layer.dispose(),
  }
}
