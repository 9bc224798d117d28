// Issue 9 acceptance: a bounded, seeded fuzz over the three kinds of user file the app parses.
//   (a) safetensors headers: lengths, JSON, dtypes, shapes, offsets (overlapping, out of range,
//       huge), non-object JSON, invalid UTF-8, truncated files — through SafetensorsFile and,
//       with a real model's weights, through openModelFolder;
//   (b) config.json of each architecture: fields deleted, retyped, pushed out of range, and
//       whole files that are not JSON objects — through openModelFolder and, when it accepts
//       one, a real load and forward;
//   (c) dataset lines: random bytes, invalid UTF-8, JSON lines of every shape — .txt and .jsonl
//       through the real dataset scanner (src/data scanDataset).
// Property: every case either works or fails with a known error class whose message names the
// file; nothing else escapes (no TypeError, RangeError…), and no case takes long (a hang).
// Deterministic: a fixed seed and a PRNG written here.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DatasetError } from '../../src/data/formats.js'
import { scanDataset } from '../../src/data/scan.js'
import { initBackend } from '../../src/engine/backend.js'
import { assertFiniteLogits, NonFiniteError } from '../../src/engine/finite.js'
import { ModelLoadError, openModelFolder } from '../../src/engine/model-folder.js'
import { loadLanguageModel } from '../../src/engine/models/load.js'
import { SafetensorsError, SafetensorsFile, writeSafetensors } from '../../src/engine/safetensors.js'
import { createRng as prng } from '../../src/engine/generate.js'

const MODELS = join(import.meta.dirname, '../fixtures/models')
const tmp = mkdtempSync(join(tmpdir(), 'mxd-fuzz-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
beforeAll(async () => {
  await initBackend()
})

/** A case that takes longer than this counts as a hang (a real hang also trips the test timeout). */
const CASE_LIMIT_MS = 5_000

// ------------------------------------------------------------------------------------ PRNG

type Rng = () => number
const int = (rng: Rng, n: number): number => Math.floor(rng() * n)
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[int(rng, xs.length)]!

/** Values of every JSON type, and numbers at the edges (INF is written as 1e999 in the file). */
const INF = '__INF__'
function randomValue(rng: Rng, depth = 0): unknown {
  const simple = [0, -1, 1, 2, 3, 7, 0.5, -2.5, 1e-12, 1e308, 2 ** 31, 2 ** 53, 2 ** 64, -(2 ** 63), INF, `-${INF}`, '', 'abc', '32', 'F32', null, true, false]
  const r = rng()
  if (depth > 1 || r < 0.7) return pick(rng, simple)
  if (r < 0.85) return Array.from({ length: int(rng, 4) }, () => randomValue(rng, depth + 1))
  return Object.fromEntries(Array.from({ length: int(rng, 3) }, (_, i) => [pick(rng, ['a', 'type', 'rope_type', `k${i}`]), randomValue(rng, depth + 1)]))
}

function toJson(value: unknown): string {
  return JSON.stringify(value).replaceAll(`"-${INF}"`, '-1e999').replaceAll(`"${INF}"`, '1e999')
}

// ------------------------------------------------------------------------------ classification

interface Tally {
  cases: number
  ok: number
  clean: number
  crashes: { label: string; error: string }[]
  slowest: number
}

const newTally = (): Tally => ({ cases: 0, ok: 0, clean: 0, crashes: [], slowest: 0 })

/**
 * Runs one case: `ok` when it works, `clean` when it throws one of `known` with a message
 * containing `names` (the file or folder), a crash otherwise.
 */
async function runCase(tally: Tally, label: string, names: string, known: (new (...a: never[]) => Error)[], fn: () => unknown): Promise<void> {
  tally.cases++
  const t0 = performance.now()
  try {
    await fn()
    tally.ok++
  } catch (err) {
    const e = err as Error
    if (known.some((k) => err instanceof k) && e.message.includes(names)) tally.clean++
    else tally.crashes.push({ label, error: `${e?.name}: ${e?.message}\n${e?.stack?.split('\n').slice(1, 4).join('\n')}` })
  }
  const ms = performance.now() - t0
  tally.slowest = Math.max(tally.slowest, ms)
  if (ms > CASE_LIMIT_MS) tally.crashes.push({ label, error: `took ${ms.toFixed(0)} ms (a hang)` })
}

function report(name: string, t: Tally): void {
  console.log(
    `fuzz ${name}: ${t.cases} cases — ${t.ok} accepted, ${t.clean} clean errors, ${t.crashes.length} crashes/hangs; slowest case ${t.slowest.toFixed(0)} ms`,
  )
  expect(t.crashes.slice(0, 5)).toEqual([])
  expect(t.ok + t.clean).toBe(t.cases)
}

// --------------------------------------------------------------------- (a) safetensors headers

interface Parsed {
  header: Record<string, unknown>
  data: Buffer
}

function parse(bytes: Buffer): Parsed {
  const n = Number(bytes.readBigUInt64LE(0))
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>, data: bytes.subarray(8 + n) }
}

function serialize(headerText: Buffer, data: Buffer, length?: bigint): Buffer {
  const prefix = Buffer.alloc(8)
  prefix.writeBigUInt64LE(length ?? BigInt(headerText.length))
  return Buffer.concat([prefix, headerText, data])
}

/** One random mutation of a safetensors file (header-level or byte-level). */
function mutateSafetensors(rng: Rng, base: Parsed): Buffer {
  const header = structuredClone(base.header)
  const names = Object.keys(header).filter((k) => k !== '__metadata__')
  const name = pick(rng, names)
  const entry = header[name] as Record<string, unknown>
  const otherEntry = header[pick(rng, names)] as { data_offsets: [number, number] }
  const end = base.data.length
  let headerOverride: string | null = null
  let lengthOverride: bigint | undefined
  let cut: number | null = null
  let flips = 0
  const kind = int(rng, 14)
  switch (kind) {
    case 0:
      entry.dtype = rng() < 0.5 ? randomValue(rng) : pick(rng, ['F32', 'F16', 'BF16', 'I32', 'I64', 'U8', 'BOOL', 'F64', 'I8', 'U32', 'F8_E4M3'])
      break
    case 1:
      entry.shape = rng() < 0.5 ? randomValue(rng) : Array.from({ length: int(rng, 4) }, () => pick(rng, [0, 1, 2, 3, -1, 2.5, 2 ** 31, 2 ** 40, 2 ** 53, '4']))
      break
    case 2: {
      const a = pick(rng, [0, 1, 4, end - 4, end, end + 1, 2 ** 53, -4, 2 ** 64, otherEntry.data_offsets[0], otherEntry.data_offsets[1]])
      const b = pick(rng, [0, 4, a + 4, end, end + 8, 2 ** 53, 2 ** 64, otherEntry.data_offsets[1]])
      entry.data_offsets = rng() < 0.2 ? randomValue(rng) : rng() < 0.5 ? [a, b] : [b, a]
      break
    }
    case 3:
      headerOverride = toJson(randomValue(rng, 1))
      break
    case 4:
      delete entry[pick(rng, ['dtype', 'shape', 'data_offsets'])]
      break
    case 5:
      header.__metadata__ = randomValue(rng)
      break
    case 6:
      header[`extra.${int(rng, 100)}`] = rng() < 0.5 ? randomValue(rng) : { dtype: 'F32', shape: [int(rng, 5)], data_offsets: [int(rng, end), int(rng, end + 16)] }
      break
    case 7:
      header[name] = randomValue(rng)
      break
    case 8:
      lengthOverride = pick(rng, [0n, 1n, 2n ** 63n, 2n ** 64n - 1n, BigInt(end) * 4n, BigInt(int(rng, 2 ** 32))])
      break
    case 9:
      cut = int(rng, 8 + toJson(header).length + end)
      break
    case 10:
      flips = 1 + int(rng, 8)
      break
    case 11:
      headerOverride = toJson(header).slice(0, int(rng, toJson(header).length))
      break
    case 12:
      cut = int(rng, 9)
      break
    default: {
      // Copy another tensor's offsets: two tensors overlapping in the file.
      entry.data_offsets = [...otherEntry.data_offsets]
      entry.shape = [((otherEntry.data_offsets[1] - otherEntry.data_offsets[0]) / 4) | 0]
      entry.dtype = 'F32'
    }
  }
  let text = Buffer.from(headerOverride ?? toJson(header), 'utf8')
  if (kind === 13 && rng() < 0.5) text = Buffer.concat([text.subarray(0, text.length - 1), Buffer.from([0xff, 0xfe]), text.subarray(text.length - 1)])
  let bytes = serialize(text, base.data, lengthOverride)
  if (flips > 0) {
    bytes = Buffer.from(bytes)
    for (let i = 0; i < flips; i++) bytes[8 + int(rng, text.length)] = int(rng, 256)
  }
  return cut === null ? bytes : bytes.subarray(0, cut)
}

/** Opens the file and reads every tensor both ways, as a caller of the reader would. */
function readAll(path: string): void {
  const file = SafetensorsFile.open(path)
  try {
    for (const name of file.tensors.keys()) {
      for (const read of [() => file.readFloat32(name), () => file.readInt32(name)]) {
        try {
          read()
        } catch (err) {
          // Reading an integer tensor as float (or the reverse) is refused by design.
          if (!(err instanceof SafetensorsError && /cannot be read as|does not fit in int32/.test(err.message))) throw err
        }
      }
    }
  } finally {
    file.close()
  }
}

describe('fuzz', () => {
  it('(a) safetensors headers: every failure is a SafetensorsError / ModelLoadError naming the file', async () => {
    const rng = prng(0x5afe7e)
    const small = join(tmp, 'small.safetensors')
    writeSafetensors(small, {
      a: { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      b: { dtype: 'F16', shape: [4], data: Float32Array.from([1, -2, 0.5, 65504]) },
      c: { dtype: 'BF16', shape: [1, 2], data: Float32Array.from([3, -7]) },
      d: { dtype: 'I32', shape: [3], data: Int32Array.from([1, -1, 7]) },
      e: { dtype: 'F32', shape: [0], data: new Float32Array(0) },
    })
    const smallBase = parse(readFileSync(small))
    const tally = newTally()
    for (let i = 0; i < 900; i++) {
      const path = join(tmp, `st-${i}.safetensors`)
      writeFileSync(path, mutateSafetensors(rng, smallBase))
      await runCase(tally, `safetensors case ${i}`, path, [SafetensorsError], () => readAll(path))
    }
    // With a real model's header, through the model folder (header checks against config.json).
    const gpt2 = parse(readFileSync(join(MODELS, 'gpt2-tiny-f32/model.safetensors')))
    const config = readFileSync(join(MODELS, 'gpt2-tiny-f32/config.json'))
    for (let i = 0; i < 150; i++) {
      const dir = join(tmp, `st-model-${i}`)
      mkdirSync(dir)
      writeFileSync(join(dir, 'config.json'), config)
      writeFileSync(join(dir, 'model.safetensors'), mutateSafetensors(rng, gpt2))
      await runCase(tally, `model folder case ${i}`, dir, [SafetensorsError, ModelLoadError], () => openModelFolder(dir).close())
    }
    report('safetensors', tally)
    expect(tally.clean).toBeGreaterThan(tally.cases / 2)
  }, 120_000)

  it('(b) config.json of each architecture: refused with the file named, or loads and runs finite', async () => {
    const rng = prng(0xc0f19)
    const tally = newTally()
    let loaded = 0
    for (const fixture of ['gpt2-tiny-f32', 'neox-tiny-f32', 'llama-tiny-f32']) {
      const base = JSON.parse(readFileSync(join(MODELS, fixture, 'config.json'), 'utf8')) as Record<string, unknown>
      const keys = [...Object.keys(base), 'n_inner', 'head_dim', 'mlp_kind', 'n_experts', 'rank', 'tr_ranks', 'n_ctx', 'rotary_pct', 'rope_scaling']
      for (let i = 0; i < 150; i++) {
        const dir = join(tmp, `cfg-${fixture}-${i}`)
        mkdirSync(dir)
        // The weights are the fixture's own (a link: nothing to copy).
        symlinkSync(join(MODELS, fixture, 'model.safetensors'), join(dir, 'model.safetensors'))
        const config = structuredClone(base)
        const r = rng()
        let text: string
        if (r < 0.06) text = toJson(randomValue(rng, 1))
        else if (r < 0.1) text = toJson(config).slice(0, int(rng, 200))
        else if (r < 0.12) text = Buffer.from(Array.from({ length: 40 }, () => int(rng, 256))).toString('latin1')
        else {
          for (let m = 1 + int(rng, 3); m > 0; m--) {
            const key = pick(rng, keys)
            const v = config[key]
            const op = int(rng, 4)
            if (op === 0) delete config[key]
            else if (op === 1 || typeof v !== 'number') config[key] = randomValue(rng)
            else config[key] = pick(rng, [v + 1, v - 1, v * 2, v / 2, -v, 0, v * 1000, v + 0.5])
          }
          text = toJson(config)
        }
        writeFileSync(join(dir, 'config.json'), text)
        await runCase(tally, `${fixture} config case ${i}: ${text.slice(0, 300)}`, dir, [ModelLoadError, NonFiniteError], async () => {
          openModelFolder(dir).close()
          // Accepted by inspect: then it must load and run (inspect and load agree).
          const model = await loadLanguageModel(dir)
          try {
            const { logits } = model.forward([[1, 2, 3]])
            const values = logits!.dataSync()
            logits!.dispose()
            assertFiniteLogits(model, [1, 2, 3], values)
            loaded++
          } catch (err) {
            // A forward error on an accepted config must still say which folder.
            if (err instanceof NonFiniteError) err.message = `${dir}: ${err.message}`
            throw err
          } finally {
            model.dispose()
          }
        })
      }
    }
    report('config.json', tally)
    console.log(`fuzz config.json: ${loaded} accepted configs loaded and ran a finite forward`)
    expect(tally.clean).toBeGreaterThan(tally.cases / 3)
    expect(loaded).toBe(tally.ok)
  }, 120_000)

  it('(c) dataset lines (.txt, .jsonl): read, or refused with a DatasetError naming the file', async () => {
    const rng = prng(0xda7a)
    const tally = newTally()
    const line = (): Buffer => {
      const r = rng()
      if (r < 0.2) return Buffer.from(Array.from({ length: int(rng, 30) }, () => int(rng, 256)))
      if (r < 0.3) return Buffer.from([0xc3, 0x28, 0xed, 0xa0, 0x80, 0xff, 0x41]) // invalid UTF-8 sequences
      if (r < 0.4) return Buffer.from('')
      if (r < 0.55) return Buffer.from(toJson({ text: randomValue(rng) }))
      if (r < 0.7) return Buffer.from(toJson({ input_ids: rng() < 0.5 ? randomValue(rng) : Array.from({ length: int(rng, 5) }, () => randomValue(rng)) }))
      if (r < 0.8) return Buffer.from(toJson(randomValue(rng, 1)))
      if (r < 0.9) return Buffer.from(`{"text": "${'x'.repeat(int(rng, 20))}`)
      return Buffer.from(pick(rng, ['hello world', '\u0000\u0001', '\r', '\ufeff text', '{"text":"ok"}', '{"input_ids":[1,2,3]}']))
    }
    for (let i = 0; i < 400; i++) {
      const ext = i % 2 === 0 ? 'txt' : 'jsonl'
      const path = join(tmp, `data-${i}.${ext}`)
      const lines = Array.from({ length: int(rng, 12) }, line)
      writeFileSync(path, Buffer.concat(lines.flatMap((l) => [l, Buffer.from(rng() < 0.9 ? '\n' : '\r\n')])))
      await runCase(tally, `dataset case ${i} (${ext})`, path, [DatasetError], async () => {
        await scanDataset(path)
      })
    }
    report('datasets', tally)
  }, 120_000)
})
