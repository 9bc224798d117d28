// The web-mode client: the renderer uses it with the browser's WebSocket, tests and tools with
// the `ws` package. It is the same MxdClient the Electron preload bridge gives.
import type { ApiEvent, Input, Method, MxdClient, Output } from './api.js'
import { ApiError } from './errors.js'
import { MAX_WIRE_BYTES, type WireMessage, type WireRequest } from './wire.js'

/** The part of the WebSocket API both the browser's and the `ws` package's sockets have. */
interface SocketLike {
  readyState: number
  send(data: string): void
  close(): void
  addEventListener(type: 'open' | 'error', listener: () => void): void
  addEventListener(type: 'close', listener: (e: { code?: number; reason?: string }) => void): void
  addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void
}
type SocketCtor = new (url: string) => SocketLike

export interface WsClient extends MxdClient {
  close(): void
  /** Called when the connection drops (the back end stopped). */
  onClose(listener: () => void): void
}

export function connectWs(url: string, Socket: SocketCtor = globalThis.WebSocket as unknown as SocketCtor): Promise<WsClient> {
  const ws = new Socket(url)
  let nextId = 1
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  const listeners = new Set<(e: ApiEvent) => void>()
  const closeListeners: (() => void)[] = []

  ws.addEventListener('message', (e) => {
    const msg = JSON.parse(String(e.data)) as WireMessage
    if (msg.type === 'event') {
      for (const l of listeners) l(msg.event)
      return
    }
    const p = pending.get(msg.id)
    if (!p) return
    pending.delete(msg.id)
    if (msg.reply.ok) p.resolve(msg.reply.value)
    else p.reject(new ApiError(msg.reply.error.code, msg.reply.error.message))
  })
  ws.addEventListener('close', (e) => {
    const why = closeReason(e?.code, e?.reason)
    for (const p of pending.values()) p.reject(new ApiError('internal', `The connection to the MxD Studio back end was closed${why}.`))
    pending.clear()
    for (const l of closeListeners) l()
  })

  const client: WsClient = {
    call<M extends Method>(method: M, input: Input<M>): Promise<Output<M>> {
      const id = nextId++
      const req: WireRequest = { id, method, input }
      const text = JSON.stringify(req)
      // The server closes a socket that sends more than MAX_WIRE_BYTES (failing every pending
      // call on it): refuse such a request here instead, with the reason, and keep the socket.
      const bytes = new TextEncoder().encode(text).length
      if (bytes > MAX_WIRE_BYTES) {
        return Promise.reject(
          new ApiError(
            'bad_request',
            `This ${method} request is ${(bytes / 2 ** 20).toFixed(1)} MiB, more than the ${MAX_WIRE_BYTES / 2 ** 20} MiB one request can carry: shorten the text or give a file path instead.`,
          ),
        )
      }
      return new Promise<Output<M>>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
        ws.send(text)
      })
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    close: () => ws.close(),
    onClose: (l) => closeListeners.push(l),
  }
  return new Promise((resolve, reject) => {
    ws.addEventListener('open', () => resolve(client))
    ws.addEventListener('error', () => reject(new Error(`Could not connect to ${url.replace(/token=[^&]+/, 'token=…')}`)))
  })
}

/** ", because …" for a close code the server sends on a bad message (RFC 6455 §7.4.1). */
function closeReason(code: number | undefined, reason: string | undefined): string {
  switch (code) {
    case 1009:
      return ', because a request was larger than the back end accepts: shorten the text or give a file path instead, then reload the page'
    case 1007:
      return ', because a request was not valid UTF-8 text: reload the page'
    case 1002:
      return ', because a request broke the WebSocket protocol: reload the page'
    default:
      return reason ? ` (${reason})` : ''
  }
}
