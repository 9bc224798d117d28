// The web-mode wire format over one WebSocket: requests carry an id, replies echo it, and
// events arrive unasked. The Electron bridge carries the same Reply and ApiEvent objects.
import type { ApiEvent, Reply } from './api.js'

export interface WireRequest {
  id: number
  method: string
  input: unknown
}

export type WireMessage = { type: 'reply'; id: number; reply: Reply<unknown> } | { type: 'event'; event: ApiEvent }

/** The path of the WebSocket endpoint; the per-launch token rides in its query string. */
export const WS_PATH = '/api'
export const TOKEN_PARAM = 'token'

/**
 * The largest message either side accepts. Far above every input the contract allows (the
 * longest is a 100,000-character prompt, at most ~600 kB as JSON), so that a request which is
 * merely too long, such as a whole book pasted as a prompt, reaches the contract's validation and
 * gets its clear error instead of a closed socket. Only a larger one is refused by the socket.
 */
export const MAX_WIRE_BYTES = 8 << 20
