// Checkpoint bytes in the safetensors layout (8-byte little-endian header length, JSON header,
// raw little-endian data), built in memory because the job system writes checkpoint bytes
// atomically itself. Read back with SafetensorsFile.
import type { WritableTensor } from '../safetensors.js'

export function encodeSafetensors(tensors: Record<string, WritableTensor>, metadata: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort()
  const header: Record<string, unknown> = { __metadata__: metadata }
  const chunks: Uint8Array[] = []
  let offset = 0
  for (const name of names) {
    const t = tensors[name]!
    if (t.dtype !== 'F32' && t.dtype !== 'I32') throw new Error(`checkpoint tensor "${name}" must be F32 or I32, not ${t.dtype}`)
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] }
    chunks.push(bytes)
    offset += bytes.length
  }
  const json = new TextEncoder().encode(JSON.stringify(header))
  const headerLength = Math.ceil(json.length / 8) * 8
  const out = new Uint8Array(8 + headerLength + offset)
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true)
  out.fill(0x20, 8, 8 + headerLength)
  out.set(json, 8)
  let at = 8 + headerLength
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}
