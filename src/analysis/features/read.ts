// Reading a stored feature index back (features.list / features.get): the store rows, the unit's
// encoded detail and the token file, turned into the API's shapes. Reads a unit's contexts
// straight out of tokens.u32 at their offsets, never the whole file.
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs'
import { join } from 'node:path'
import type { FeatureContext, FeatureIndexInfo, FeatureUnit, FeatureUnitRow } from '../../shared/features.js'
import type { FeatureIndexRow, FeatureUnitStoreRow } from '../../store/store.js'
import { histogramEdges } from './accumulator.js'
import { decodeTokenSlots, decodeUnitDetail, tokenUnitsOffsets } from './codec.js'
import { TOKEN_SLOTS } from './accumulator.js'
import { EFFECT_DESCRIPTION, MXD_EFFECT_DESCRIPTION, NEVER_FIRED_DESCRIPTION, NO_EFFECT_DESCRIPTION } from './effect.js'
import { contextSpan, type ValuedSample } from './pass.js'

/** Where a feature index's files live inside its run folder (src/jobs/features/index.ts writes them). */
export const FEATURE_FILES = { dir: 'features', tokens: 'tokens.u32', vocab: 'vocab.json', tokenUnits: 'token-units.bin' } as const

export function indexInfo(row: FeatureIndexRow): FeatureIndexInfo {
  return {
    indexRunId: row.runId,
    layerRunId: row.layerRunId,
    kind: row.kind,
    block: row.block,
    width: row.width,
    k: row.k,
    tokens: row.tokens,
    seqLen: row.seqLen,
    dead: row.dead,
    histogramEdges: histogramEdges(),
  }
}

export function unitRow(index: FeatureIndexRow, u: Omit<FeatureUnitStoreRow, 'detail'> & { label?: string | null }): FeatureUnitRow {
  return { unit: u.unit, count: u.count, frequency: index.tokens > 0 ? u.count / index.tokens : 0, meanActivation: u.mean, maxActivation: u.max, label: u.label ?? null }
}

/** Token ids [start, end) of the index's token file. */
export function readTokens(runDir: string, start: number, end: number): number[] {
  const path = join(runDir, FEATURE_FILES.dir, FEATURE_FILES.tokens)
  const buf = Buffer.alloc((end - start) * 4)
  const fd = openSync(path, 'r')
  try {
    readSync(fd, buf, 0, buf.length, start * 4)
  } finally {
    closeSync(fd)
  }
  return Array.from({ length: end - start }, (_, i) => buf.readUInt32LE(i * 4))
}

export function readVocab(runDir: string): Record<string, string> | null {
  const path = join(runDir, FEATURE_FILES.dir, FEATURE_FILES.vocab)
  if (!existsSync(path)) return null
  const vocab = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>
  return Object.keys(vocab).length > 0 ? vocab : null
}

/** One stored context as the API gives it: the ids from its sequence's start, the unit's activation at each. */
export function contextOf(runDir: string, index: FeatureIndexRow, c: ValuedSample, vocab: Record<string, string> | null): FeatureContext {
  const { start, end } = contextSpan(c.position, index.seqLen)
  const ids = readTokens(runDir, start, end)
  const values = new Array<number>(ids.length).fill(0)
  c.firedAt.forEach((at, i) => (values[at] = c.firedValues[i]!))
  return { ids, position: c.position - start, value: c.value, values, tokens: vocab ? ids.map((id) => vocab[id] ?? '') : null }
}

/** A whole unit page. */
export function unitPage(runDir: string, index: FeatureIndexRow, row: FeatureUnitStoreRow): FeatureUnit {
  const d = decodeUnitDetail(row.detail)
  const vocab = readVocab(runDir)
  return {
    index: indexInfo(index),
    stats: unitRow(index, row),
    histogram: d.histogram,
    top: d.top.map((c) => contextOf(runDir, index, c, vocab)),
    bands: d.bands.map((b) => ({ lo: b.lo, hi: b.hi, contexts: b.samples.map((c) => contextOf(runDir, index, c, vocab)) })),
    cofiring: d.cofiring,
    effect: d.effect
      ? {
          description: index.kind === 'mxd' ? MXD_EFFECT_DESCRIPTION : EFFECT_DESCRIPTION,
          top: d.effect.top.map((t) => ({ ...t, text: vocab?.[t.id] ?? null })),
          bottom: d.effect.bottom.map((t) => ({ ...t, text: vocab?.[t.id] ?? null })),
        }
      : { description: row.count === 0 ? NEVER_FIRED_DESCRIPTION : NO_EFFECT_DESCRIPTION, top: [], bottom: [] },
  }
}

/** Token `id`'s occurrences in the index and the units firing most on it (approximate counts). */
export function unitsOnToken(runDir: string, id: number): { vocab: number; occurrences: number; units: { unit: number; count: number }[] } {
  const fd = openSync(join(runDir, FEATURE_FILES.dir, FEATURE_FILES.tokenUnits), 'r')
  try {
    const head = Buffer.alloc(8)
    readSync(fd, head, 0, 8, 0)
    const vocab = head.readUInt32LE(0)
    if (id >= vocab) return { vocab, occurrences: 0, units: [] }
    const at = tokenUnitsOffsets(vocab, id)
    const occ = Buffer.alloc(4)
    readSync(fd, occ, 0, 4, at.occurrences)
    const slots = Buffer.alloc(8 * TOKEN_SLOTS)
    readSync(fd, slots, 0, slots.length, at.slots)
    return { vocab, occurrences: occ.readUInt32LE(0), units: decodeTokenSlots(slots) }
  } finally {
    closeSync(fd)
  }
}

/** The token ids whose decoded text is exactly `text` (from the index's vocab.json). */
export function tokenIdsOf(vocab: Record<string, string> | null, text: string): number[] {
  if (!vocab) return []
  return Object.entries(vocab)
    .filter(([, t]) => t === text)
    .map(([id]) => Number(id))
    .sort((a, b) => a - b)
}
