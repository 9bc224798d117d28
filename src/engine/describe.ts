// A model folder as a user sees it before loading it: the facts of ModelInfo plus one row per
// layer with the MLP that can be converted (its input and output hook points and its size).
import { hookNames } from './hooks.js'
import { openModelFolder, type ModelInfo } from './model-folder.js'

export interface LayerRow {
  layer: number
  /** The MLP's input (what a transcoder or MxD reads) and output (what it reproduces). */
  hookIn: string
  hookOut: string
  dModel: number
  dMlp: number
  /** Weights and biases of this layer's MLP, as stored. */
  mlpParameters: number
}

export interface ModelDescription {
  info: ModelInfo
  layers: LayerRow[]
}

export function describeModel(dir: string): ModelDescription {
  const folder = openModelFolder(dir)
  try {
    const { info, weights } = folder
    const mlpParams = new Array<number>(info.layers).fill(0)
    // Every supported layout names MLP tensors "<prefix>.<layer>.mlp.<name>".
    for (const name of weights.names()) {
      const m = /\.(\d+)\.mlp\./.exec(name)
      if (!m) continue
      const layer = Number(m[1])
      if (layer < info.layers) mlpParams[layer]! += weights.info(name).shape.reduce((a, b) => a * b, 1)
    }
    return {
      info,
      layers: mlpParams.map((mlpParameters, layer) => ({
        layer,
        hookIn: hookNames.ln2(layer),
        hookOut: hookNames.mlpOut(layer),
        dModel: info.dModel,
        dMlp: info.mlpWidth,
        mlpParameters,
      })),
    }
  } finally {
    folder.close()
  }
}
