// Web mode: the same back end as Electron's main process, serving the built renderer and
// carrying the API over a WebSocket. Bound to 127.0.0.1 only, with a per-launch token that
// every page load and every socket must carry (the page gets it once, from the URL).
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Backend } from '../backend/backend.js'
import { CSP } from '../shared/csp.js'
import { MAX_WIRE_BYTES, TOKEN_PARAM, WS_PATH, type WireMessage, type WireRequest } from '../shared/wire.js'
import { serveStatic } from './static.js'

const COOKIE = 'mxd_token'

export interface WebServerOptions {
  backend: Backend
  rendererDir: string
  port?: number
  token?: string
}

export interface WebServer {
  url: string
  port: number
  token: string
  server: Server
  close(): Promise<void>
}

function sameToken(a: string | null | undefined, b: string): boolean {
  if (!a) return false
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function cookieToken(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, v] = part.trim().split('=')
    if (k === COOKIE) return v
  }
  return undefined
}

export async function startWebServer(opts: WebServerOptions): Promise<WebServer> {
  const token = opts.token ?? randomBytes(24).toString('base64url')
  let port = 0
  // Only our own origin may talk to us: this blocks DNS rebinding (a foreign Host header) and
  // other sites' pages opening a socket to 127.0.0.1 (a foreign Origin header).
  const allowedHost = (): string => `127.0.0.1:${port}`

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${allowedHost()}`)
    if (req.headers.host !== allowedHost()) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('Misdirected request.')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain' }).end('Method not allowed.')
      return
    }
    const given = url.searchParams.get(TOKEN_PARAM) ?? cookieToken(req)
    if (!sameToken(given, token)) {
      res
        .writeHead(401, { 'content-type': 'text/plain' })
        .end('MxD Studio: this address needs the per-launch token. Open the URL printed when the app started.')
      return
    }
    serveStatic(opts.rendererDir, url.pathname, res, {
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
      'set-cookie': `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`,
    })
  })

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WIRE_BYTES })
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', `http://${allowedHost()}`)
    const origin = req.headers.origin
    const ok =
      url.pathname === WS_PATH &&
      req.headers.host === allowedHost() &&
      (origin === undefined || origin === `http://${allowedHost()}`) &&
      sameToken(url.searchParams.get(TOKEN_PARAM) ?? cookieToken(req), token)
    // A socket that is reset during the handshake emits 'error'; Node's HTTP server no longer
    // listens on it once 'upgrade' fires, so without this one reset would end the process.
    socket.on('error', () => socket.destroy())
    if (!ok) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\n\r\nA valid per-launch token is required.\n')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => attach(ws, opts.backend))
  })

  // A malformed HTTP request gets Node's own 400 (the default when nobody listens is the same,
  // but spelled out here so that no path through the server relies on an unhandled 'error').
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`)
    else socket.destroy()
  })
  // The WebSocketServer re-emits errors of the underlying server; without a listener one would throw.
  wss.on('error', (err) => console.error(`mxd web: WebSocket server error: ${err.message}`))

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject)
      // After listening, an accept error (EMFILE…) is reported, not fatal to running jobs.
      server.on('error', (err) => console.error(`mxd web: server error: ${err.message}`))
      resolve()
    })
  })
  port = (server.address() as AddressInfo).port
  return {
    url: `http://${allowedHost()}/?${TOKEN_PARAM}=${token}`,
    port,
    token,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate()
        wss.close()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

function attach(ws: WebSocket, backend: Backend): void {
  const send = (msg: WireMessage): void => {
    if (ws.readyState !== ws.OPEN) return
    let text: string
    try {
      text = JSON.stringify(msg)
    } catch (err) {
      // A value JSON cannot carry (a BigInt, a cycle) must fail this one reply, not become an
      // unhandled rejection in the async 'message' listener, which would end the process.
      if (msg.type !== 'reply') return
      text = JSON.stringify({ type: 'reply', id: msg.id, reply: { ok: false, error: { code: 'internal', message: `The reply could not be encoded: ${(err as Error).message}` } } })
    }
    ws.send(text)
  }
  const unsubscribe = backend.subscribe((event) => send({ type: 'event', event }))
  ws.on('close', unsubscribe)
  // A bad frame (too large, invalid UTF-8, unmasked, reserved opcode or RSV bits, a fragmented
  // control frame) makes ws emit 'error' and then close this socket with the matching close code
  // (1009, 1007 or 1002) by itself, having sent the close frame already. Without a listener that
  // 'error' would be thrown and take the whole process, with every running job, down; with one,
  // only the offending socket goes. (Terminating here could drop the queued close frame.)
  ws.on('error', () => {})
  ws.on('message', async (raw) => {
    let req: WireRequest
    try {
      req = JSON.parse(raw.toString()) as WireRequest
    } catch {
      send({ type: 'reply', id: -1, reply: { ok: false, error: { code: 'bad_request', message: 'The message is not valid JSON.' } } })
      return
    }
    const id = typeof req?.id === 'number' ? req.id : -1
    if (typeof req?.method !== 'string') {
      send({ type: 'reply', id, reply: { ok: false, error: { code: 'bad_request', message: 'A request needs "id", "method" and "input".' } } })
      return
    }
    send({ type: 'reply', id, reply: await backend.dispatch(req.method, req.input) })
  })
}
