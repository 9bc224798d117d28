// The layer-kind registry (issue 10): every sparse-layer kind that can replace a dense MLP, as
// data. The config schema, the API contract, the wizard, the layer file reader and writer, the
// frontier and the run summaries all read this list; the engine keeps the matching compute in
// src/engine/layers/kinds.ts. Adding a kind is one descriptor file here plus one line below (and
// its engine half there); registerLayerKind adds one at run time (tests, plug-ins).
import { z } from 'zod'
import { mxdKind } from './mxd.js'
import { skipTranscoderKind } from './skip-transcoder.js'
import { transcoderKind } from './transcoder.js'
import type { LayerKindDescriptor, LayerSize } from './types.js'

export type { LayerActivation, LayerKindDescriptor, LayerSize, WidthBasis } from './types.js'
export { matchedExperts, mxdGateHookName, mxdParams } from './mxd.js'
export { matchedSkipWidth } from './skip-transcoder.js'
export { transcoderParams } from './transcoder.js'

/** The built-in kinds, in the order the wizard and the frontier show them. */
const BUILT_IN = [mxdKind, transcoderKind, skipTranscoderKind] as const

/** The ids of the kinds the app ships (what the renderer, which registers nothing, can meet in its own lists). */
export type BuiltInLayerKindId = (typeof BUILT_IN)[number]['id']

/**
 * A layer kind's id: a built-in one, spelled out for editors, or any other string, a kind
 * registered at run time (`string & {}` keeps the literals from collapsing into string).
 */
export type LayerKindId = BuiltInLayerKindId | (string & {})

/** Longest kind id: a bound for the API boundary (every string a client sends has one). */
const MAX_KIND_ID_CHARS = 64

const registry = new Map<string, LayerKindDescriptor>(BUILT_IN.map((d): [string, LayerKindDescriptor] => [d.id, d]))

/**
 * Adds a kind (refused when its id is taken by a different descriptor; registering the same one
 * again is a no-op, so a module imported twice is harmless).
 */
export function registerLayerKind(descriptor: LayerKindDescriptor): void {
  const existing = registry.get(descriptor.id)
  if (existing === descriptor) return
  if (existing) throw new Error(`layer kind "${descriptor.id}" is already registered`)
  if (!/^[a-z][a-z0-9_]*$/.test(descriptor.id) || descriptor.id.length > MAX_KIND_ID_CHARS)
    throw new Error(`layer kind id "${descriptor.id}" must be lower-case letters, digits and "_", at most ${MAX_KIND_ID_CHARS} characters`)
  registry.set(descriptor.id, descriptor)
}

/** Every registered kind, built-in ones first, in registration order. */
export function layerKinds(): LayerKindDescriptor[] {
  return [...registry.values()]
}

export function isLayerKind(id: unknown): id is LayerKindId {
  return typeof id === 'string' && registry.has(id)
}

const listed = (): string =>
  layerKinds()
    .map((d) => `"${d.id}"`)
    .join(', ')

/** The descriptor of `id`; an unknown id is an error that lists the registered ones. */
export function layerKind(id: string): LayerKindDescriptor {
  const d = registry.get(id)
  if (!d) throw new Error(`unknown layer kind "${id}": the registered kinds are ${listed()}`)
  return d
}

/**
 * A layer kind in the API contract and the configs: any registered id, checked when parsed (not
 * when this module loads), so a kind registered at run time is accepted everywhere at once.
 */
export const LayerKind = z
  .string()
  .max(MAX_KIND_ID_CHARS, `a layer kind is at most ${MAX_KIND_ID_CHARS} characters`)
  .superRefine((value, ctx) => {
    if (!registry.has(value)) ctx.addIssue({ code: 'custom', message: `unknown layer kind "${value}": use one of ${listed()}` })
  })

/** Exact parameters of a layer, from its tensors' shapes (what every descriptor's `parameters` must equal). */
export function tensorParameters(kind: LayerKindDescriptor, size: LayerSize): number {
  return Object.values(kind.file.tensors(size)).reduce((sum, shape) => sum + shape.reduce((a, b) => a * b, 1), 0)
}
