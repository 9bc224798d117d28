// The protected set D_f and the retain set D_r (docs/privacy.md): which training-split indices a
// ProtectSpec names, checked against the data (a class the dataset lacks, an index past the
// split's end, a duplicate, a count larger than there are images), and how they are recorded —
// by count, per-class count and sha256 — so a certificate names its sets without listing them.
// Pure: no I/O, so the handler (preview), the jobs and the verifier all select identically.
import { createHash } from 'node:crypto'
import { Rng } from '../../data/shuffle.js'
import type { LabelledRows } from '../../engine/privacy/types.js'
import type { z } from 'zod'
import type { ProtectedSetInfo, ProtectSpec } from '../../shared/privacy.js'

/** A ProtectSpec after parsing (seeds defaulted). */
export type ParsedProtectSpec = z.output<typeof ProtectSpec>

export interface ProtectedSelection {
  /** D_f: training-split indices, sorted ascending. */
  forget: Uint32Array
  /** D_r: every other training-split index, ascending. */
  retain: Uint32Array
}

/** A protected set the data cannot give (the message says which and how to fix it). */
export class ProtectedSetError extends Error {}

/** The first `count` entries of a seeded Fisher–Yates shuffle of `pool` (pool is reordered), sorted. */
function draw(pool: Uint32Array, count: number, seed: number): Uint32Array {
  const rng = new Rng(seed)
  for (let i = 0; i < count; i++) {
    const j = i + rng.below(pool.length - i)
    const t = pool[i]!
    pool[i] = pool[j]!
    pool[j] = t
  }
  return pool.slice(0, count).sort()
}

/** The forget indices and the retain indices of a split with these labels. */
export function selectProtected(
  labels: Uint8Array,
  classCount: number,
  spec: ParsedProtectSpec,
  classNames?: readonly string[],
): ProtectedSelection {
  const n = labels.length
  let forget: Uint32Array
  if (spec.by === 'class') {
    if (spec.class >= classCount) {
      const names = classNames ? ` (${classNames.map((c, i) => `${i} ${c}`).join(', ')})` : ''
      throw new ProtectedSetError(
        `The dataset has no class ${spec.class}: its classes are 0–${classCount - 1}${names}; choose one of those.`,
      )
    }
    const members: number[] = []
    for (let i = 0; i < n; i++) if (labels[i] === spec.class) members.push(i)
    const name = classNames?.[spec.class] === undefined ? `class ${spec.class}` : `class ${spec.class} (${classNames[spec.class]})`
    if (members.length === 0) throw new ProtectedSetError(`The training split has no images of ${name}: choose another class.`)
    if (spec.count !== undefined && spec.count > members.length) {
      throw new ProtectedSetError(
        `${spec.count} images of ${name} were asked for but the training split has ${members.length}: ask for at most ${members.length}.`,
      )
    }
    forget = spec.count === undefined ? Uint32Array.from(members) : draw(Uint32Array.from(members), spec.count, spec.seed)
  } else if (spec.by === 'random') {
    if (spec.count >= n)
      throw new ProtectedSetError(
        `${spec.count} random images were asked for but the training split has ${n}: ask for fewer than ${n}, so some remain to retain.`,
      )
    const pool = new Uint32Array(n)
    for (let i = 0; i < n; i++) pool[i] = i
    forget = draw(pool, spec.count, spec.seed)
  } else {
    forget = Uint32Array.from(spec.indices).sort()
    for (let i = 0; i < forget.length; i++) {
      if (forget[i]! >= n)
        throw new ProtectedSetError(
          `Index ${forget[i]} is past the end of the training split (${n} images, indices 0–${n - 1}): remove it.`,
        )
      if (i > 0 && forget[i] === forget[i - 1])
        throw new ProtectedSetError(`Index ${forget[i]} is listed more than once: list each protected image once.`)
    }
  }
  if (forget.length >= n)
    throw new ProtectedSetError(
      `The protected set holds the whole training split (${n} images): nothing would remain to retain; protect fewer images.`,
    )
  const retain = new Uint32Array(n - forget.length)
  for (let i = 0, f = 0, r = 0; i < n; i++) {
    if (f < forget.length && forget[f] === i) f++
    else retain[r++] = i
  }
  return { forget, retain }
}

/** sha256 of indices as little-endian uint32 (the bytes of a Uint32Array on every supported host). */
export function indexHash(indices: Uint32Array): string {
  const bytes = Buffer.alloc(indices.length * 4)
  for (let i = 0; i < indices.length; i++) bytes.writeUInt32LE(indices[i]!, i * 4)
  return createHash('sha256').update(bytes).digest('hex')
}

/** The record of a selection: its spec, sizes, hashes and how many protected images per class. */
export function protectedInfo(spec: ParsedProtectSpec, sel: ProtectedSelection, labels: Uint8Array, classCount: number): ProtectedSetInfo {
  const classCounts = new Array<number>(classCount).fill(0)
  for (const i of sel.forget) classCounts[labels[i]!]!++
  return {
    spec: { ...spec },
    forget: sel.forget.length,
    retain: sel.retain.length,
    forgetHash: indexHash(sel.forget),
    retainHash: indexHash(sel.retain),
    classCounts,
  }
}

/** The rows at `indices`, in that order (copies). */
export function subsetRows(rows: LabelledRows, indices: ArrayLike<number>): LabelledRows {
  const size = rows.height * rows.width * rows.channels
  const images = new Uint8Array(indices.length * size)
  const labels = new Uint8Array(indices.length)
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!
    if (i >= rows.labels.length) throw new RangeError(`row ${i} is past the end of ${rows.labels.length} rows`)
    images.set(rows.images.subarray(i * size, (i + 1) * size), k * size)
    labels[k] = rows.labels[i]!
  }
  return { images, labels, height: rows.height, width: rows.width, channels: rows.channels }
}
