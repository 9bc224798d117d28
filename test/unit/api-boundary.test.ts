// Bad input at the API boundary is refused with a clear message and changes nothing.
import { mkdtempSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { z } from 'zod'
import { Backend } from '../../src/backend/backend.js'
import { startWebServer, type WebServer } from '../../src/server/web-server.js'
import { resolveInside } from '../../src/server/static.js'
import { ApiError, contract } from '../../src/shared/api.js'
import { MAX_PROMPT_CHARS } from '../../src/shared/limits.js'
import { methodNames } from '../../src/shared/methods.js'
import { connectWs } from '../../src/shared/ws-client.js'
import { MAX_WIRE_BYTES } from '../../src/shared/wire.js'

let backend: Backend
let server: WebServer
const rendererDir = mkdtempSync(join(tmpdir(), 'mxd-renderer-'))

beforeAll(async () => {
  const { writeFileSync } = await import('node:fs')
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>MxD</title>')
  backend = await Backend.create({ storeDir: mkdtempSync(join(tmpdir(), 'mxd-api-')) })
  server = await startWebServer({ backend, rendererDir })
})
afterAll(async () => {
  await server.close()
  await backend.close()
})

const runCount = (): number => backend.ctx.store.listRuns({ limit: 10_000 }).length

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, path, headers: { host: `127.0.0.1:${server.port}`, ...headers } },
      (res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

function wsRejected(url: string, headers: Record<string, string> = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers })
    ws.on('open', () => {
      ws.close()
      resolve(false)
    })
    ws.on('error', () => resolve(true))
    ws.on('unexpected-response', () => resolve(true))
  })
}

describe('the contract', () => {
  it('lists the same methods for the preload as the schemas define', () => {
    expect([...methodNames].sort()).toEqual(Object.keys(contract).sort())
  })

  it('names every method domain.verb, from one small set of verbs', () => {
    // A new method reads like the others: runs.list, convert.start, playground.listLayers. Add a
    // verb here only when none of these says what the method does.
    const verbs = [
      'list',
      'get',
      'add',
      'remove',
      'delete',
      'inspect',
      'start',
      'stop',
      'cancel',
      'resume',
      'preview',
      'sweep',
      'evaluate',
      'export',
      'import',
      'analyze',
      'generate',
      'diagnose',
      'summarize',
      'search',
      'ablate',
      'set',
      'save',
      'score',
      'predict',
      // test-time privacy: the paper's two algorithms, the attacks on their result, and checking a certificate
      'finetune',
      'certify',
      'attack',
      'verify',
    ]
    const pattern = new RegExp(`^[a-z]+\\.(${verbs.join('|')})([A-Z][A-Za-z]*)?$`)
    expect(methodNames.filter((m) => !pattern.test(m))).toEqual([])
    // The check itself rejects what the old names were (spelt in parts: a rename would rewrite them).
    const old = [
      ['jobs', 'pretrain'],
      ['experts', 'forModel'],
      ['convert', 'frontier'],
      ['runs', 'summaries'],
    ].map((p) => p.join('.'))
    expect(old.filter((m) => pattern.test(m))).toEqual([])
  })
})

describe('dispatch refuses bad input and changes nothing', () => {
  const cases: [string, string, unknown, RegExp][] = [
    ['unknown method', 'runs.explode', {}, /Unknown method "runs.explode"/],
    ['wrong type', 'runs.get', { id: 'seven' }, /id: .*expected number/i],
    ['unknown field', 'bench.start', { sizes: [64], repeats: 1, shell: 'rm -rf /' }, /Unrecognized key.*shell/i],
    ['out of range', 'bench.start', { sizes: [1_000_000] }, /sizes\.0/],
    ['negative id', 'jobs.cancel', { id: -1 }, /id/],
    ['image expert analysis of zero images', 'classify.analyzeExperts', { model: '/tmp/mixer', datasetId: 1, maxImages: 0 }, /maxImages/],
    ['not an object', 'runs.list', 'everything', /expected object/i],
    ['prototype pollution', 'runs.list', JSON.parse('{"__proto__": {"admin": true}}'), /Unrecognized key|__proto__/],
  ]
  for (const [name, method, input, message] of cases) {
    it(name, async () => {
      const before = runCount()
      const reply = await backend.dispatch(method, input)
      expect(reply.ok).toBe(false)
      if (!reply.ok) {
        expect(reply.error.code).toBe('bad_request')
        expect(reply.error.message).toMatch(message)
      }
      expect(runCount()).toBe(before)
    })
  }

  it('a missing run is not_found; a finished run cannot be cancelled', async () => {
    const missing = await backend.dispatch('runs.get', { id: 999_999 })
    expect(missing).toEqual({ ok: false, error: { code: 'not_found', message: 'There is no run 999999.' } })
    const run = backend.ctx.store.createRun('bench-backend', { sizes: [8], repeats: 1 }, 'succeeded')
    const reply = await backend.dispatch('jobs.cancel', { id: run.id })
    expect(reply.ok).toBe(false)
    if (!reply.ok) expect(reply.error.message).toMatch(/succeeded; only a queued or running run/)
    expect(backend.ctx.store.getRun(run.id)?.status).toBe('succeeded')
  })
})

describe('web mode', () => {
  it('listens on 127.0.0.1 only', () => {
    const addr = server.server.address()
    expect(typeof addr === 'object' && addr?.address).toBe('127.0.0.1')
  })

  it('serves the page only with the token, and sets a strict CSP', async () => {
    expect((await get('/')).status).toBe(401)
    expect((await get('/?token=wrong')).status).toBe(401)
    const ok = await get(`/?token=${server.token}`)
    expect(ok.status).toBe(200)
    expect(ok.body).toContain('<title>MxD</title>')
  })

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    expect((await get(`/?token=${server.token}`, { host: 'evil.example:80' })).status).toBe(421)
  })

  it('refuses paths outside the app', async () => {
    // Encoded slashes survive URL parsing and would climb out of the folder: refused.
    expect((await get(`/..%2f..%2f..%2fetc%2fpasswd?token=${server.token}`)).status).toBe(403)
    // Dot segments are folded by the URL parser first, so this stays inside: the app's page.
    const folded = await get(`/%2e%2e/%2e%2e/etc/passwd?token=${server.token}`)
    expect(folded.body).not.toMatch(/root:/)
    expect(resolveInside('/srv/app', '/../etc/passwd')).toBeNull()
    expect(resolveInside('/srv/app', '/..%2f..%2fetc/passwd')).toBeNull()
    expect(resolveInside('/srv/app', '/assets/a.js')).toBe('/srv/app/assets/a.js')
  })

  it('refuses a socket without the right token or from another origin', async () => {
    const base = `ws://127.0.0.1:${server.port}/api`
    expect(await wsRejected(base)).toBe(true)
    expect(await wsRejected(`${base}?token=nope`)).toBe(true)
    expect(await wsRejected(`${base}?token=${server.token}`, { origin: 'http://evil.example' })).toBe(true)
    expect(await wsRejected(`${base}?token=${server.token}`)).toBe(false)
  })

  it('carries the same validation over the socket', async () => {
    const client = await connectWs(`ws://127.0.0.1:${server.port}/api?token=${server.token}`, WebSocket as never)
    const before = runCount()
    await expect(client.call('runs.get', { id: 'x' } as never)).rejects.toThrow(/Invalid request to runs.get/)
    await expect(client.call('bench.start', { sizes: [64], bogus: 1 } as never)).rejects.toThrow(/bogus/)
    expect(runCount()).toBe(before)
    const doctor = await client.call('app.diagnose', {})
    expect(doctor.backend).toBe('wasm')
    client.close()
  })
})

describe('size limits at the boundary', () => {
  /** Every string and list a client may send, found by walking the contract's JSON Schema. */
  function unbounded(schema: unknown, where: string, out: string[]): void {
    if (schema === null || typeof schema !== 'object') return
    const s = schema as Record<string, unknown>
    if (s.type === 'string' && s.maxLength === undefined && s.enum === undefined && s.const === undefined && s.pattern === undefined)
      out.push(where)
    if (s.type === 'array' && s.maxItems === undefined) out.push(where)
    for (const [k, v] of Object.entries(s)) {
      if (k === 'properties' && v && typeof v === 'object') for (const [p, sub] of Object.entries(v)) unbounded(sub, `${where}.${p}`, out)
      else if (Array.isArray(v)) v.forEach((sub) => unbounded(sub, where, out))
      else if (k === 'items' || k === 'additionalProperties') unbounded(v, `${where}[]`, out)
    }
  }

  it('every string and list input in the contract has a maximum', () => {
    const found: string[] = []
    for (const [method, { input }] of Object.entries(contract))
      unbounded(z.toJSONSchema(input, { io: 'input', unrepresentable: 'any' }), method, found)
    expect(found).toEqual([])
  })

  const long = 'x'.repeat(5000)
  const cases: [string, string, unknown, RegExp][] = [
    [
      'a pasted text as a dataset path',
      'datasets.add',
      { path: long },
      /path: the dataset path is 5,000 characters long; a path can be at most 4,096/,
    ],
    [
      'a huge text field name',
      'datasets.add',
      { path: '/tmp/x.jsonl', textField: long },
      /textField: the text field is 5,000 characters long/,
    ],
    ['a huge export folder', 'convert.export', { runId: 1, dir: long }, /dir: the export folder is 5,000 characters/],
    [
      'a huge pre-training output folder',
      'pretrain.start',
      { data: '/d', out: long, layers: 1, dModel: 8, heads: 1, ctx: 4, tokens: 1 },
      /out: the output folder is 5,000/,
    ],
    ['an empty model path', 'models.add', { path: '' }, /path: the model folder is empty/],
  ]
  for (const [name, method, input, message] of cases) {
    it(name, async () => {
      const reply = await backend.dispatch(method, input)
      expect(reply.ok).toBe(false)
      if (!reply.ok) {
        expect(reply.error.code).toBe('bad_request')
        expect(reply.error.message).toMatch(message)
      }
    })
  }

  it('a 1.2 MB prompt pasted in the Playground gets the limit in characters, and the socket stays usable', async () => {
    const client = await connectWs(`ws://127.0.0.1:${server.port}/api?token=${server.token}`, WebSocket as never)
    const prompt = 'é'.repeat(600_000) // 1.2 MB of UTF-8
    await expect(client.call('playground.generate', { modelId: 1, prompt })).rejects.toThrow(
      /prompt: the prompt is 600,000 characters long; it can be at most 100,000 characters: shorten it/,
    )
    expect((await client.call('app.diagnose', {})).backend).toBe('wasm')
    client.close()
  })

  it('the largest prompt the contract allows, at its worst as JSON (6 bytes a character), fits in one socket message', async () => {
    const client = await connectWs(`ws://127.0.0.1:${server.port}/api?token=${server.token}`, WebSocket as never)
    const prompt = '\u0001'.repeat(MAX_PROMPT_CHARS)
    expect(JSON.stringify({ id: 1, method: 'playground.generate', input: { modelId: 1, prompt } }).length).toBeGreaterThan(
      6 * MAX_PROMPT_CHARS,
    )
    // Past validation: the answer is about the model, not the size, and the socket stays open.
    const err = await client.call('playground.generate', { modelId: 999, prompt }).then(
      () => null,
      (e: ApiError) => e,
    )
    expect(err?.code).toBe('not_found')
    expect((await client.call('app.diagnose', {})).backend).toBe('wasm')
    client.close()
  })

  it('a request larger than a socket carries is refused by the client with the reason, not by a closed socket', async () => {
    const client = await connectWs(`ws://127.0.0.1:${server.port}/api?token=${server.token}`, WebSocket as never)
    let closed = false
    client.onClose(() => (closed = true))
    await expect(client.call('playground.generate', { modelId: 1, prompt: 'a'.repeat(MAX_WIRE_BYTES + 1) })).rejects.toThrow(
      /playground\.generate request is 8\.0 MiB, more than the 8 MiB one request can carry/,
    )
    expect((await client.call('app.diagnose', {})).backend).toBe('wasm')
    expect(closed).toBe(false)
    client.close()
  })
})

describe('the web client reports why its socket was closed', () => {
  it('a back end that refuses a too-large message (close 1009) is reported with the reason and the fix', async () => {
    // A real ws server with a tiny limit stands in for a back end with a smaller maxPayload.
    const small = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 64 })
    small.on('connection', (ws) => ws.on('error', () => {}))
    await new Promise<void>((resolve) => small.once('listening', () => resolve()))
    const { port } = small.address() as { port: number }
    try {
      const client = await connectWs(`ws://127.0.0.1:${port}/api`, WebSocket as never)
      await expect(client.call('playground.generate', { modelId: 1, prompt: 'x'.repeat(200) })).rejects.toThrow(
        /connection to the MxD Studio back end was closed, because a request was larger than the back end accepts: shorten the text/,
      )
    } finally {
      await new Promise<void>((resolve) => small.close(() => resolve()))
    }
  })
})
