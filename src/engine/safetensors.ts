// Reader and writer for the safetensors format: an 8-byte little-endian header length, a JSON
// header naming each tensor's dtype, shape and byte range, then the raw little-endian data.
// Model files come from anywhere, so the header is untrusted: every field is checked before a
// single tensor byte is read, and tensors are read with positioned reads so that a 10 GB model
// never has to fit in memory at once. tfjs only computes in float32/int32, so the reader widens
// F16/BF16 (exactly) and integer types (when in range) to those.
import { closeSync, fstatSync, readSync } from 'node:fs'
import { describeFsError, openRegularFileSync } from '../fs/user-files.js'
import { writeFileAtomic } from '../store/files.js'

/** Bytes per element of every dtype the format defines; only some can be read as numbers. */
const DTYPE_SIZE = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
} as const

export type SafetensorsDtype = keyof typeof DTYPE_SIZE

export interface TensorInfo {
  name: string
  dtype: SafetensorsDtype
  shape: number[]
  /** Absolute byte offsets in the file (header included), end exclusive. */
  begin: number
  end: number
}

export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file} ${problem}`)
    this.name = 'SafetensorsError'
  }
}

const FIX_FILE = 're-download or re-export the file'
// The reference implementation refuses headers over 100 MB; a real one is a few hundred KB.
const MAX_HEADER_BYTES = 100_000_000
// fs.readSync reads at most 2 GiB − 1 bytes per call.
const READ_CHUNK = 1 << 30

export class SafetensorsFile {
  private fd: number | null

  private constructor(
    readonly path: string,
    fd: number,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Record<string, string>,
  ) {
    this.fd = fd
  }

  /** Opens the file and validates its header; tensor data is read later, on demand. */
  static open(path: string): SafetensorsFile {
    let fd: number
    try {
      // Non-blocking open + fstat: a FIFO or device named *.safetensors is refused, not waited on.
      fd = openRegularFileSync(path)
    } catch (err) {
      throw new SafetensorsError(path, `cannot be opened: ${describeFsError(err, path).message}`)
    }
    try {
      const { tensors, metadata } = readHeader(path, fd)
      return new SafetensorsFile(path, fd, tensors, metadata)
    } catch (err) {
      closeSync(fd)
      throw err
    }
  }

  info(name: string): TensorInfo {
    const info = this.tensors.get(name)
    if (info === undefined) throw new SafetensorsError(this.path, `has no tensor named "${name}"`)
    return info
  }

  /** The tensor as float32: F32 as stored, F16 and BF16 widened exactly. */
  readFloat32(name: string): Float32Array {
    const info = this.info(name)
    switch (info.dtype) {
      case 'F32':
        return new Float32Array(this.readRaw(info))
      case 'F16':
        return widenF16(new Uint16Array(this.readRaw(info)))
      case 'BF16':
        return widenBF16(new Uint16Array(this.readRaw(info)))
      default:
        throw this.cannotConvert(info, 'float32', 'F32, F16 or BF16')
    }
  }

  /**
   * The tensor as float64: F64 as stored, the float32-readable dtypes widened exactly. For the
   * vectors a privacy certificate is computed from (docs/privacy.md), which must not be rounded.
   */
  readFloat64(name: string): Float64Array {
    const info = this.info(name)
    if (info.dtype === 'F64') return new Float64Array(this.readRaw(info))
    if (info.dtype === 'F32' || info.dtype === 'F16' || info.dtype === 'BF16') return Float64Array.from(this.readFloat32(name))
    throw this.cannotConvert(info, 'float64', 'F64, F32, F16 or BF16')
  }

  /** The tensor as int32: I32 as stored, narrower integers widened, I64/U32 only when every value fits. */
  readInt32(name: string): Int32Array {
    const info = this.info(name)
    const raw = (): ArrayBuffer => this.readRaw(info)
    switch (info.dtype) {
      case 'I32':
        return new Int32Array(raw())
      case 'I16':
        return Int32Array.from(new Int16Array(raw()))
      case 'U16':
        return Int32Array.from(new Uint16Array(raw()))
      case 'I8':
        return Int32Array.from(new Int8Array(raw()))
      case 'U8':
      case 'BOOL':
        return Int32Array.from(new Uint8Array(raw()))
      case 'I64':
        return this.narrow(info, new BigInt64Array(raw()))
      case 'U32':
        return this.narrow(info, new Uint32Array(raw()))
      default:
        throw this.cannotConvert(info, 'int32', 'an integer dtype')
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd)
    this.fd = null
  }

  /**
   * The tensor's bytes in a fresh (hence aligned) buffer, via positioned reads. Typed arrays over
   * it use the host's byte order, little-endian like the format on every platform Electron runs on.
   */
  private readRaw(info: TensorInfo): ArrayBuffer {
    if (this.fd === null) throw new SafetensorsError(this.path, `was closed before "${info.name}" was read`)
    const bytes = new Uint8Array(info.end - info.begin)
    readFully(this.path, this.fd, bytes, info.begin, `tensor "${info.name}"`)
    return bytes.buffer
  }

  private narrow(info: TensorInfo, values: BigInt64Array | Uint32Array): Int32Array {
    const out = new Int32Array(values.length)
    for (let i = 0; i < values.length; i++) {
      const v = Number(values[i])
      if (v < -0x80000000 || v > 0x7fffffff) {
        throw new SafetensorsError(this.path, `tensor "${info.name}" holds ${values[i]}, which does not fit in int32`)
      }
      out[i] = v
    }
    return out
  }

  private cannotConvert(info: TensorInfo, target: string, accepted: string): SafetensorsError {
    return new SafetensorsError(
      this.path,
      `tensor "${info.name}" is ${info.dtype}, which cannot be read as ${target} exactly (only ${accepted}); re-export it in one of those dtypes`,
    )
  }
}

/** Fills `bytes` from `position` on; the file shrinking under us reads as truncation. */
function readFully(path: string, fd: number, bytes: Uint8Array, position: number, what: string): void {
  let done = 0
  while (done < bytes.length) {
    const n = readSync(fd, bytes, done, Math.min(READ_CHUNK, bytes.length - done), position + done)
    if (n === 0) throw new SafetensorsError(path, `is truncated: it ended while reading ${what}; ${FIX_FILE}`)
    done += n
  }
}

// ------------------------------------------------------------------------ header validation

function readHeader(path: string, fd: number): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const fileSize = fstatSync(fd).size
  if (fileSize < 8) {
    throw new SafetensorsError(path, `is truncated: it has ${fileSize} bytes, fewer than the 8-byte header length; ${FIX_FILE}`)
  }
  const lengthBytes = Buffer.alloc(8)
  readFully(path, fd, lengthBytes, 0, 'the header length')
  const headerLength = lengthBytes.readBigUInt64LE(0)
  if (headerLength > BigInt(fileSize - 8)) {
    throw new SafetensorsError(
      path,
      `is truncated or not a safetensors file: header says ${headerLength} bytes but the file has ${fileSize}; ${FIX_FILE}`,
    )
  }
  if (headerLength > MAX_HEADER_BYTES) {
    throw new SafetensorsError(path, `has a ${headerLength}-byte header, over the ${MAX_HEADER_BYTES}-byte limit; ${FIX_FILE}`)
  }
  const headerBytes = Buffer.alloc(Number(headerLength))
  readFully(path, fd, headerBytes, 8, 'the header')
  const dataStart = 8 + headerBytes.length
  return parseHeader(path, headerBytes, dataStart, fileSize - dataStart)
}

function parseHeader(
  path: string,
  bytes: Buffer,
  dataStart: number,
  dataSize: number,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw new SafetensorsError(path, `has a header that is not valid JSON (${(err as Error).message}); ${FIX_FILE}`)
  }
  if (!isPlainObject(header)) throw new SafetensorsError(path, `has a header that is not a JSON object; ${FIX_FILE}`)

  let metadata: Record<string, string> = {}
  const tensors = new Map<string, TensorInfo>()
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') metadata = parseMetadata(path, entry)
    else tensors.set(name, parseTensorEntry(path, name, entry, dataStart, dataSize))
  }
  checkNoOverlap(path, [...tensors.values()])
  return { tensors, metadata }
}

function parseMetadata(path: string, entry: unknown): Record<string, string> {
  if (!isPlainObject(entry) || !Object.values(entry).every((v) => typeof v === 'string')) {
    throw new SafetensorsError(path, `has a "__metadata__" entry that is not a map of strings to strings; ${FIX_FILE}`)
  }
  return entry as Record<string, string>
}

function parseTensorEntry(path: string, name: string, entry: unknown, dataStart: number, dataSize: number): TensorInfo {
  const bad = (problem: string): SafetensorsError =>
    new SafetensorsError(path, `has a bad header entry for tensor "${name}": ${problem}; ${FIX_FILE}`)
  if (!isPlainObject(entry)) throw bad('it is not an object')
  const { dtype, shape, data_offsets: offsets } = entry
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZE, dtype)) {
    throw bad(`unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_SIZE).join(', ')})`)
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`)
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0]! > offsets[1]!) {
    throw bad(`data_offsets ${JSON.stringify(offsets)} is not a [begin, end] pair with begin ≤ end`)
  }
  const [begin, end] = offsets as [number, number]
  const elements = shape.reduce((a: number, b: number) => a * b, 1)
  const expected = elements * DTYPE_SIZE[dtype as SafetensorsDtype]
  if (!Number.isSafeInteger(expected) || expected !== end - begin) {
    throw bad(`shape [${shape.join(', ')}] of ${dtype} needs ${expected} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`)
  }
  if (end > dataSize) {
    throw new SafetensorsError(
      path,
      `is truncated or corrupt: tensor "${name}" has data_offsets [${begin}, ${end}] past the end of the ${dataSize}-byte data section; ${FIX_FILE}`,
    )
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin: dataStart + begin, end: dataStart + end }
}

function checkNoOverlap(path: string, infos: TensorInfo[]): void {
  const sorted = infos.filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin)
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!
    const cur = sorted[i]!
    if (cur.begin < prev.end) {
      throw new SafetensorsError(path, `is corrupt: tensors "${prev.name}" and "${cur.name}" overlap in the file; ${FIX_FILE}`)
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

// ------------------------------------------------------------------ float16 / bfloat16 bits

let f16Table: Uint32Array | null = null

/** float32 bit patterns of all 65536 float16 values (256 KB), built on first use. */
function f16ToF32Table(): Uint32Array {
  if (f16Table !== null) return f16Table
  const table = new Uint32Array(65536)
  for (let h = 0; h < 65536; h++) table[h] = f16BitsToF32Bits(h)
  f16Table = table
  return table
}

function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16
  const exp = (h >> 10) & 0x1f
  let frac = h & 0x3ff
  if (exp === 0x1f && frac === 0) return (sign | 0x7f800000) >>> 0 // ±inf
  // NaN: keep the payload, set the quiet bit, as the hardware conversion (and PyTorch) does.
  if (exp === 0x1f) return (sign | 0x7fc00000 | (frac << 13)) >>> 0
  if (exp !== 0) return (sign | ((exp - 15 + 127) << 23) | (frac << 13)) >>> 0
  if (frac === 0) return sign >>> 0 // ±0
  // Subnormal: value = frac × 2^-24; shift the leading 1 up to the implicit-bit position.
  let e = -14
  while ((frac & 0x400) === 0) {
    frac <<= 1
    e--
  }
  return (sign | ((e + 127) << 23) | ((frac & 0x3ff) << 13)) >>> 0
}

function widenF16(half: Uint16Array): Float32Array {
  const table = f16ToF32Table()
  const bits = new Uint32Array(half.length)
  for (let i = 0; i < half.length; i++) bits[i] = table[half[i]!]!
  return new Float32Array(bits.buffer)
}

/** bfloat16 is the top half of a float32, so widening is a shift. */
function widenBF16(half: Uint16Array): Float32Array {
  const bits = new Uint32Array(half.length)
  for (let i = 0; i < half.length; i++) bits[i] = half[i]! << 16
  return new Float32Array(bits.buffer)
}

/** Rounds `value >> shift` to nearest, ties to even. */
function roundShift(value: number, shift: number): number {
  const q = value >>> shift
  const rem = value & ((1 << shift) - 1)
  const half = 1 << (shift - 1)
  return rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q
}

function f32BitsToF16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000
  const exp = (bits >>> 23) & 0xff
  const mant = bits & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0) // keep NaN a (quiet) NaN
  const e = exp - 127 + 15
  if (e >= 31) return sign | 0x7c00 // too large: infinity
  if (e <= 0) {
    // float16 subnormal (or zero): the value in units of 2^-24 is (1.mant) × 2^(e-14).
    if (e < -10) return sign // below half the smallest subnormal: rounds to ±0
    return sign | roundShift(mant | 0x800000, 14 - e)
  }
  // Normal: dropping 13 mantissa bits; a carry may bump the exponent, up to infinity, as it should.
  return sign | roundShift((e << 23) | mant, 13)
}

function f32BitsToBF16Bits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40 // NaN: keep it a NaN
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16
}

// -------------------------------------------------------------------------------- writer

export type WritableDtype = 'F32' | 'F16' | 'BF16' | 'I32'

export interface WritableTensor {
  dtype: WritableDtype
  shape: number[]
  data: Float32Array | Int32Array
}

/** A float64 tensor, stored as is (the vectors of a privacy certificate, which must not be rounded). */
export interface WritableTensor64 {
  dtype: 'F64'
  shape: number[]
  data: Float64Array
}

/**
 * Writes tensors as a safetensors file, atomically, and returns its sha256. Like the reference
 * implementation: `__metadata__` first, tensors sorted by name and packed in that order, compact
 * JSON header padded with spaces to a multiple of 8 bytes. F16/BF16 round to nearest even;
 * F64 (WritableTensor64) is written as is.
 */
export function writeSafetensors(path: string, tensors: Record<string, WritableTensor | WritableTensor64>, metadata?: Record<string, string>): string {
  const names = Object.keys(tensors).sort()
  const header: Record<string, unknown> = {}
  if (metadata !== undefined && Object.keys(metadata).length > 0) header.__metadata__ = metadata
  const chunks: Uint8Array[] = []
  let offset = 0
  for (const name of names) {
    const tensor = tensors[name]!
    const bytes = encodeTensor(path, name, tensor)
    header[name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes.length] }
    chunks.push(bytes)
    offset += bytes.length
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8')
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, ' ')
  json.copy(padded)
  const length = Buffer.alloc(8)
  length.writeBigUInt64LE(BigInt(padded.length))
  return writeFileAtomic(path, [length, padded, ...chunks])
}

function encodeTensor(path: string, name: string, { dtype, shape, data }: WritableTensor | WritableTensor64): Uint8Array {
  const elements = shape.reduce((a, b) => a * b, 1)
  if (!shape.every(isCount) || elements !== data.length) {
    throw new SafetensorsError(path, `cannot be written: tensor "${name}" has shape [${shape.join(', ')}] but ${data.length} values`)
  }
  const expected = dtype === 'I32' ? Int32Array : dtype === 'F64' ? Float64Array : Float32Array
  if (!(data instanceof expected)) {
    throw new SafetensorsError(path, `cannot be written: tensor "${name}" is ${dtype} but its data is ${data.constructor.name}`)
  }
  if (dtype === 'F64' || dtype === 'F32' || dtype === 'I32') return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength))
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length)
  const convert = dtype === 'F16' ? f32BitsToF16Bits : f32BitsToBF16Bits
  const out = new Uint16Array(data.length)
  for (let i = 0; i < data.length; i++) out[i] = convert(bits[i]!)
  return new Uint8Array(out.buffer)
}
