// One bad WebSocket frame closes that one socket with the protocol's close code; the `mxd web`
// process (and every job it runs) keeps serving other sockets and HTTP. Frames are written by
// hand over a raw TCP socket after a real upgrade handshake, as a broken or hostile client would.
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startWebProcess, type WebProcess } from '../helpers/web-process.js'
import { MAX_WIRE_BYTES } from '../../src/shared/wire.js'

let web: WebProcess
beforeAll(async () => {
  web = await startWebProcess()
})
afterAll(async () => {
  if (web.child.exitCode === null && web.child.signalCode === null) await web.stop()
})

interface RawSocket {
  socket: Socket
  /** Bytes received after the 101 response. */
  received(): Buffer
  /** Resolves when the server has closed the TCP connection. */
  ended: Promise<void>
}

/** Opens a TCP connection and performs the WebSocket upgrade handshake by hand. */
async function upgrade(port: number, token: string): Promise<RawSocket> {
  const socket = connect(port, '127.0.0.1')
  // Writes after the server closed (the 1.2 MB frame) fail with EPIPE/ECONNRESET: expected here.
  socket.on('error', () => {})
  let buf = Buffer.alloc(0)
  let upgraded = false
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  const handshake = new Promise<void>((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (upgraded) return
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = buf.subarray(0, end).toString()
      buf = buf.subarray(end + 4)
      upgraded = true
      if (/^HTTP\/1\.1 101 /.test(head)) resolve()
      else reject(new Error(`upgrade refused: ${head}`))
    })
    socket.once('close', () => reject(new Error('closed during the handshake')))
  })
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  socket.write(
    [
      `GET /api?token=${encodeURIComponent(token)} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      '',
      '',
    ].join('\r\n'),
  )
  await handshake
  return { socket, received: () => buf, ended }
}

/** One frame: `first` is FIN/RSV/opcode; client frames are masked unless `masked` is false. */
function frame(first: number, payload: Buffer, opts: { masked?: boolean; declaredLength?: number } = {}): Buffer {
  const masked = opts.masked ?? true
  const len = opts.declaredLength ?? payload.length
  let header: Buffer
  if (len < 126) header = Buffer.from([first, (masked ? 0x80 : 0) | len])
  else if (len < 65536) {
    header = Buffer.alloc(4)
    header.writeUInt8(first, 0)
    header.writeUInt8((masked ? 0x80 : 0) | 126, 1)
    header.writeUInt16BE(len, 2)
  } else {
    header = Buffer.alloc(10)
    header.writeUInt8(first, 0)
    header.writeUInt8((masked ? 0x80 : 0) | 127, 1)
    header.writeBigUInt64BE(BigInt(len), 2)
  }
  if (!masked) return Buffer.concat([header, payload])
  const mask = randomBytes(4)
  const body = Buffer.from(payload)
  for (let i = 0; i < body.length; i++) body[i]! ^= mask[i % 4]!
  return Buffer.concat([header, mask, body])
}

/** The first server frame, parsed: opcode, and for a close frame its code and reason. */
function firstFrame(buf: Buffer): { opcode: number; code?: number; reason?: string; payload: Buffer } {
  expect(buf.length).toBeGreaterThanOrEqual(2)
  const opcode = buf[0]! & 0x0f
  let len = buf[1]! & 0x7f
  let off = 2
  if (len === 126) {
    len = buf.readUInt16BE(2)
    off = 4
  } else if (len === 127) {
    len = Number(buf.readBigUInt64BE(2))
    off = 10
  }
  const payload = buf.subarray(off, off + len)
  if (opcode !== 8) return { opcode, payload }
  return { opcode, code: payload.readUInt16BE(0), reason: payload.subarray(2).toString(), payload }
}

const TEXT = 0x81 // FIN + text
const cases: { name: string; bytes: () => Buffer; code: number }[] = [
  {
    name: 'a frame larger than the server accepts',
    // Only the header claims the size: the server must refuse it before reading a byte of it.
    bytes: () => frame(TEXT, Buffer.from('{"id":1,'), { declaredLength: MAX_WIRE_BYTES + 1 }),
    code: 1009,
  },
  { name: 'invalid UTF-8 in a text frame', bytes: () => frame(TEXT, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), code: 1007 },
  { name: 'an unmasked client frame', bytes: () => frame(TEXT, Buffer.from('{}'), { masked: false }), code: 1002 },
  { name: 'a reserved opcode', bytes: () => frame(0x83, Buffer.from('{}')), code: 1002 },
  { name: 'RSV1 set without an extension', bytes: () => frame(0xc1, Buffer.from('{}')), code: 1002 },
  { name: 'RSV2 and RSV3 set', bytes: () => frame(0xb1, Buffer.from('{}')), code: 1002 },
  { name: 'a fragmented ping', bytes: () => frame(0x09, Buffer.from('hi')), code: 1002 },
]

function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host: `127.0.0.1:${port}` } }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.end()
  })
}

async function stillServing(): Promise<void> {
  expect(web.child.exitCode, web.stderr()).toBeNull()
  const client = await web.client()
  try {
    const doctor = await client.call('app.diagnose', {})
    expect(doctor.store).toBe(web.store)
  } finally {
    client.close()
  }
  expect(await httpStatus(web.port, `/?token=${web.token}`)).not.toBe(0)
}

describe('a bad WebSocket frame closes only its own socket', () => {
  for (const c of cases) {
    it(`${c.name}: close code ${c.code}, and the server keeps serving`, async () => {
      // A healthy socket opened before, to show the bad one does not take it down.
      const bystander = await web.client()
      const raw = await upgrade(web.port, web.token)
      raw.socket.write(c.bytes())
      await raw.ended
      const close = firstFrame(raw.received())
      expect(close.opcode).toBe(8)
      expect(close.code).toBe(c.code)
      expect((await bystander.call('app.diagnose', {})).store).toBe(web.store)
      bystander.close()
      await stillServing()
    })
  }

  it('a 1.2 MB request (a huge pasted prompt) gets the API\'s clear error, not a dead server', async () => {
    const raw = await upgrade(web.port, web.token)
    const prompt = 'a'.repeat(1_200_000)
    raw.socket.write(frame(TEXT, Buffer.from(JSON.stringify({ id: 7, method: 'playground.generate', input: { modelId: 1, prompt } }))))
    // Poll for the reply frame (no fixed sleep): the server answers, then the socket stays open.
    const deadline = Date.now() + 20_000
    let reply: ReturnType<typeof firstFrame> | undefined
    while (!reply) {
      const buf = raw.received()
      if (buf.length >= 2) {
        const f = firstFrame(buf)
        if (f.payload.length > 0 && f.opcode === 1) reply = f
      }
      if (!reply) {
        if (Date.now() > deadline) throw new Error(`no reply; got ${raw.received().length} bytes`)
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    const msg = JSON.parse(reply.payload.toString()) as { id: number; reply: { ok: boolean; error: { code: string; message: string } } }
    expect(msg.id).toBe(7)
    expect(msg.reply.ok).toBe(false)
    expect(msg.reply.error.code).toBe('bad_request')
    expect(msg.reply.error.message).toMatch(/prompt.*100[,  ]?000 characters/)
    raw.socket.destroy()
    await stillServing()
  })

  it('a client that resets during the handshake, or sends garbage HTTP, does not end the server', async () => {
    const s = connect(web.port, '127.0.0.1')
    s.on('error', () => {})
    await new Promise<void>((resolve) => s.once('connect', () => resolve()))
    s.write(`GET /api?token=wrong HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`)
    s.resetAndDestroy()
    const g = connect(web.port, '127.0.0.1')
    g.on('error', () => {})
    g.resume() // read the 400 so that the server's end of the connection is seen
    const closed = new Promise<void>((resolve) => g.once('close', () => resolve()))
    g.write('\x00\x01 NOT HTTP \r\n\r\n')
    await closed
    await stillServing()
  }, 15_000)
})
