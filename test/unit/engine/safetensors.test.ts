import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { SafetensorsError, SafetensorsFile, writeSafetensors } from '../../../src/engine/safetensors.js'
import { sha256 } from '../../../src/store/files.js'

// Fixtures written by scripts/fixtures/make_safetensors_fixtures.py (PyTorch, format by hand).
const FIXTURES = join(import.meta.dirname, '../../fixtures/safetensors')
interface Expected {
  [file: string]: Record<string, { shape: number[]; bits: number[] }>
}
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Expected & {
  ints: { i32: number[]; i64_small: number[] }
  writer_source: { bits: number[]; ids: number[] }
}

const tmp = mkdtempSync(join(tmpdir(), 'mxd-safetensors-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

function bitsOf(values: Float32Array): number[] {
  return [...new Uint32Array(values.buffer, values.byteOffset, values.length)]
}

describe('SafetensorsFile reads files written by an independent (PyTorch) writer', () => {
  for (const file of ['f32', 'f16', 'bf16']) {
    it(`${file}: every value bit-exact, shapes and metadata as written`, () => {
      const st = SafetensorsFile.open(join(FIXTURES, `${file}.safetensors`))
      try {
        const tensors = expected[file]!
        expect([...st.tensors.keys()].sort()).toEqual(Object.keys(tensors).sort())
        for (const [name, want] of Object.entries(tensors)) {
          expect(st.tensors.get(name)!.shape).toEqual(want.shape)
          expect(bitsOf(st.readFloat32(name))).toEqual(want.bits)
        }
      } finally {
        st.close()
      }
    })
  }

  it('reports absolute byte offsets, metadata, and float16 specials (subnormal, inf, nan)', () => {
    const st = SafetensorsFile.open(join(FIXTURES, 'f32.safetensors'))
    expect(st.metadata).toEqual({ format: 'pt', note: 'fixture' })
    const headerLength = Number(readFileSync(st.path).readBigUInt64LE(0))
    const empty = st.tensors.get('empty')!
    expect(empty).toMatchObject({ dtype: 'F32', shape: [0, 5], begin: 8 + headerLength, end: 8 + headerLength })
    expect(st.readFloat32('empty')).toHaveLength(0)
    expect(st.readFloat32('scalar')).toEqual(new Float32Array([7.25]))
    st.close()

    const half = SafetensorsFile.open(join(FIXTURES, 'f16.safetensors'))
    const v = half.readFloat32('specials')
    expect(v[11]).toBe(2 ** -24) // smallest subnormal
    expect(v[13]).toBe(2 ** -14 - 2 ** -24) // largest subnormal
    expect(v[8]).toBe(Infinity)
    expect(v[9]).toBe(-Infinity)
    expect(v[10]).toBeNaN()
    expect(Object.is(v[1], -0)).toBe(true)
    half.close()
  })

  it('reads F32 as float64 widened exactly, and F64 as stored (the privacy references)', () => {
    const st = SafetensorsFile.open(join(FIXTURES, 'f32.safetensors'))
    expect(st.readFloat64('scalar')).toEqual(new Float64Array([7.25]))
    for (const name of st.tensors.keys()) expect(Array.from(st.readFloat64(name))).toEqual(Array.from(st.readFloat32(name)))
    st.close()
    const f64 = SafetensorsFile.open(join(FIXTURES, '../privacy/logreg-squared-t1.safetensors'))
    expect(f64.tensors.get('lambda_min')!.dtype).toBe('F64')
    // λ = 0.01 exactly in float64 differs from its float32 rounding: the value is not narrowed.
    const lam = f64.readFloat64('lambda_min')[0]!
    expect(Math.abs(lam - 0.01)).toBeLessThan(1e-12)
    expect(lam).not.toBe(Math.fround(lam))
    f64.close()
    const ints = SafetensorsFile.open(join(FIXTURES, 'ints.safetensors'))
    expect(() => ints.readFloat64('i32')).toThrow(/cannot be read as float64 exactly \(only F64, F32, F16 or BF16\)/)
    ints.close()
  })

  it('reads integers as int32, refusing values that do not fit', () => {
    const st = SafetensorsFile.open(join(FIXTURES, 'ints.safetensors'))
    expect([...st.readInt32('i32')]).toEqual(expected.ints.i32)
    expect([...st.readInt32('i64_small')]).toEqual(expected.ints.i64_small)
    expect(() => st.readInt32('i64_big')).toThrow(/does not fit in int32/)
    expect(() => st.readFloat32('i32')).toThrow(SafetensorsError)
    expect(() => st.readFloat32('nope')).toThrow(/has no tensor named "nope"/)
    st.close()
    expect(() => st.readInt32('i32')).toThrow(/was closed/)
  })
})

describe('writeSafetensors', () => {
  const source = new Float32Array(new Uint32Array(expected.writer_source.bits).buffer)
  const ids = new Int32Array(expected.writer_source.ids)

  it('writes the same bytes as the reference-layout PyTorch writer, F16/BF16 rounded as torch rounds', () => {
    const path = join(tmp, 'written.safetensors')
    const hash = writeSafetensors(
      path,
      {
        x_f32: { dtype: 'F32', shape: [source.length], data: source },
        x_f16: { dtype: 'F16', shape: [source.length], data: source },
        x_bf16: { dtype: 'BF16', shape: [8, 10], data: source },
        ids: { dtype: 'I32', shape: [3, 4], data: ids },
      },
      { format: 'pt' },
    )
    const written = readFileSync(path)
    expect(written.equals(readFileSync(join(FIXTURES, 'writer_reference.safetensors')))).toBe(true)
    expect(hash).toBe(sha256(written))
    expect(written.readBigUInt64LE(0) % 8n === 0n).toBe(true)
  })

  it('round-trips F32 and I32 exactly and F16/BF16 to the nearest representable value', () => {
    const path = join(tmp, 'roundtrip.safetensors')
    const data = new Float32Array([1, -0.5, 1 / 3, 1e-8, 65520, 3e38])
    writeSafetensors(path, {
      a: { dtype: 'F32', shape: [2, 3], data },
      h: { dtype: 'F16', shape: [6], data },
      b: { dtype: 'BF16', shape: [6], data },
      i: { dtype: 'I32', shape: [2], data: new Int32Array([-7, 2 ** 31 - 1]) },
    })
    const st = SafetensorsFile.open(path)
    expect(st.readFloat32('a')).toEqual(data)
    expect([...st.readFloat32('h')]).toEqual([1, -0.5, 0.333251953125, 0, Infinity, Infinity])
    expect([...st.readFloat32('b')].slice(0, 3)).toEqual([1, -0.5, 0.333984375])
    expect([...st.readInt32('i')]).toEqual([-7, 2 ** 31 - 1])
    expect(st.metadata).toEqual({})
    st.close()
  })

  it('refuses data that does not match its shape or dtype', () => {
    const path = join(tmp, 'bad-write.safetensors')
    expect(() => writeSafetensors(path, { a: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } })).toThrow(
      /shape \[2, 2\] but 3 values/,
    )
    expect(() => writeSafetensors(path, { a: { dtype: 'I32', shape: [1], data: new Float32Array(1) } })).toThrow(SafetensorsError)
  })
})

describe('bad files get a clear SafetensorsError naming the file and the fix', () => {
  const good = readFileSync(join(FIXTURES, 'f32.safetensors'))
  const goodHeaderLength = Number(good.readBigUInt64LE(0))
  type Header = Record<string, { dtype?: string; shape?: number[]; data_offsets?: number[]; [key: string]: unknown }>
  const goodHeader = JSON.parse(good.subarray(8, 8 + goodHeaderLength).toString()) as Header
  const goodData = good.subarray(8 + goodHeaderLength)

  function withHeader(headerText: string, data: Uint8Array = goodData): Buffer {
    const len = Buffer.alloc(8)
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(headerText)))
    return Buffer.concat([len, Buffer.from(headerText), data])
  }
  function withEdit(edit: (h: Header) => void): Buffer {
    const header = structuredClone(goodHeader)
    edit(header)
    return withHeader(JSON.stringify(header))
  }
  function openBytes(bytes: Uint8Array): () => SafetensorsFile {
    const path = join(tmp, 'model.safetensors')
    writeFileSync(path, bytes)
    return () => SafetensorsFile.open(path)
  }

  const cases: [string, Uint8Array, RegExp][] = [
    ['file shorter than 8 bytes', good.subarray(0, 5), /model\.safetensors is truncated: it has 5 bytes/],
    [
      'truncated inside the header',
      good.subarray(0, 40),
      /is truncated or not a safetensors file: header says \d+ bytes but the file has 40; re-download/,
    ],
    [
      'header length past the end',
      Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), good.subarray(8)]),
      /header says 9223372036854775807 bytes/,
    ],
    [
      'truncated inside the data',
      good.subarray(0, good.length - 10),
      /is truncated or corrupt: tensor "weight" has data_offsets \[\d+, \d+\] past the end/,
    ],
    [
      'out-of-range offsets',
      withEdit((h) => (h.scalar!.data_offsets = [10_000, 10_004])),
      /tensor "scalar" has data_offsets \[10000, 10004\] past the end/,
    ],
    ['overlapping offsets', withEdit((h) => (h.scalar!.data_offsets = [4, 8])), /is corrupt: tensors "\w+" and "\w+" overlap/],
    [
      'shape × dtype size mismatch',
      withEdit((h) => (h.weight!.shape = [3, 5])),
      /shape \[3, 5\] of F32 needs 60 bytes but data_offsets \[\d+, \d+\] hold 48/,
    ],
    ['unknown dtype', withEdit((h) => (h.weight!.dtype = 'Q4_K')), /unknown dtype "Q4_K" \(known: F64, F32, F16, BF16/],
    ['negative shape', withEdit((h) => (h.weight!.shape = [-3, -4])), /shape \[-3,-4\] is not a list of non-negative integers/],
    ['metadata not a string map', withEdit((h) => (h.__metadata__ = { n: 3 })), /"__metadata__" entry that is not a map of strings/],
    ['invalid header JSON', withHeader('{"weight": {"dtype": "F32",'), /has a header that is not valid JSON/],
    ['header that is not an object', withHeader('[1, 2, 3]'), /not a JSON object/],
  ]
  for (const [what, bytes, message] of cases) {
    it(what, () => {
      const open = openBytes(bytes)
      expect(open).toThrow(SafetensorsError)
      expect(open).toThrow(message)
      expect(open).toThrow(/model\.safetensors/)
    })
  }

  it('a missing file', () => {
    expect(() => SafetensorsFile.open(join(tmp, 'absent.safetensors'))).toThrow(/absent\.safetensors cannot be opened/)
  })
})
