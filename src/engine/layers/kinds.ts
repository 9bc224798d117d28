// The engine half of the layer-kind registry (src/shared/layer-kinds holds the data half): for
// each kind, how to create a fresh layer and how to rebuild one from saved tensors. The training
// job, the layer file reader and the importer build layers only through here. Adding a kind is
// its descriptor (shared), its LayerKindImpl, and one line in each BUILT_IN list; at run time,
// registerSparseLayerKind adds both halves at once.
import { layerKind, registerLayerKind, type LayerSize } from '../../shared/layer-kinds/index.js'
import { mxdLayerKind } from './mxd.js'
import { checkTensorShapes, type LayerKindImpl, type LayerTensors, type SparseLayer } from './sparse-layer.js'
import { skipTranscoderLayerKind, transcoderLayerKind } from './transcoder.js'

const BUILT_IN: readonly LayerKindImpl[] = [mxdLayerKind, transcoderLayerKind, skipTranscoderLayerKind]

const implementations = new Map<string, LayerKindImpl>(BUILT_IN.map((impl) => [impl.descriptor.id, impl]))

/** Registers a kind's descriptor (in the shared registry) and its implementation together. */
export function registerSparseLayerKind(impl: LayerKindImpl): void {
  const existing = implementations.get(impl.descriptor.id)
  if (existing === impl) return
  if (existing) throw new Error(`layer kind "${impl.descriptor.id}" already has an implementation`)
  registerLayerKind(impl.descriptor)
  implementations.set(impl.descriptor.id, impl)
}

/** The implementation of `kind`; a kind registered without one (data only) is named in the error. */
export function layerImplementation(kind: string): LayerKindImpl {
  const impl = implementations.get(kind)
  if (impl) return impl
  layerKind(kind) // an unknown id: its error lists the registered kinds
  throw new Error(`layer kind "${kind}" has a descriptor but no engine implementation: register it with registerSparseLayerKind`)
}

/** A freshly initialised layer of `kind` (the kind's own initialisation, seeded). */
export function createSparseLayer(kind: string, size: LayerSize, seed?: number): SparseLayer {
  return layerImplementation(kind).create(size, seed)
}

/**
 * A layer of `kind` from saved tensors. Every tensor the kind's file format names is checked by
 * name and shape first (a file of another size or kind is refused with the tensor named).
 */
export function sparseLayerFromTensors(kind: string, size: LayerSize, tensors: LayerTensors): SparseLayer {
  const impl = layerImplementation(kind)
  checkTensorShapes(tensors, impl.descriptor.file.tensors(size))
  return impl.fromTensors(size, tensors)
}
