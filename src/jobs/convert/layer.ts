// The sparse layer a conversion run trains: a fresh one, or one rebuilt from a checkpoint's tensors.
import { MxDLayer } from '../../engine/layers/mxd.js'
import type { LayerTensors, SparseLayer } from '../../engine/layers/sparse-layer.js'
import { TranscoderLayer } from '../../engine/layers/transcoder.js'
import type { ConvertConfig, ResolvedSizes } from '../../shared/convert.js'

export function createLayer(config: ConvertConfig, s: ResolvedSizes): SparseLayer {
  if (config.kind === 'mxd') {
    return MxDLayer.create({ dIn: s.d, dOut: s.d, hidden: s.hidden, experts: s.width, k: config.k, glu: s.glu, seed: config.seed })
  }
  return TranscoderLayer.create({ dIn: s.d, dOut: s.d, width: s.width, k: config.k, skip: config.kind === 'skip_transcoder', seed: config.seed })
}

export function layerFromTensors(config: ConvertConfig, s: ResolvedSizes, tensors: LayerTensors): SparseLayer {
  if (config.kind === 'mxd') {
    return MxDLayer.fromTensors({ dIn: s.d, dOut: s.d, hidden: s.hidden, experts: s.width, k: config.k, glu: s.glu }, tensors)
  }
  return TranscoderLayer.fromTensors({ dIn: s.d, dOut: s.d, width: s.width, k: config.k, skip: config.kind === 'skip_transcoder' }, tensors)
}
