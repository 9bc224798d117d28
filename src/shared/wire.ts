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
