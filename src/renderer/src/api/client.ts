// The renderer's one way to reach the back end: the Electron preload bridge when it exists
// (window.mxd), otherwise the web-mode WebSocket with the per-launch token from the URL.
import type { ApiEvent, Input, Method, MxdClient, Output, Reply } from '../../../shared/api'
import { ApiError } from '../../../shared/errors'
import { TOKEN_PARAM, WS_PATH } from '../../../shared/wire'
import { connectWs } from '../../../shared/ws-client'

interface PreloadBridge {
  onEvent(listener: (event: unknown) => void): () => void
  [method: string]: unknown
}

declare global {
  interface Window {
    mxd?: PreloadBridge
  }
}

function bridgeClient(bridge: PreloadBridge): MxdClient {
  return {
    async call<M extends Method>(method: M, input: Input<M>): Promise<Output<M>> {
      const fn = bridge[method] as (input: unknown) => Promise<Reply<unknown>>
      const reply = await fn(input)
      if (!reply.ok) throw new ApiError(reply.error.code, reply.error.message)
      return reply.value as Output<M>
    },
    subscribe: (listener) => bridge.onEvent((e) => listener(e as ApiEvent)),
  }
}

/** The token arrives once in the page URL; keep it for reloads and drop it from the address bar. */
function webSocketUrl(): string {
  const params = new URLSearchParams(location.search)
  let token = params.get(TOKEN_PARAM)
  if (token) sessionStorage.setItem('mxd-token', token)
  else token = sessionStorage.getItem('mxd-token')
  // No token here (a new tab): the session cookie set by the first page load may still let us in.
  if (!token) return `ws://${location.host}${WS_PATH}`
  if (params.has(TOKEN_PARAM)) {
    params.delete(TOKEN_PARAM)
    const rest = params.toString()
    history.replaceState(history.state, '', location.pathname + (rest ? `?${rest}` : '') + location.hash)
  }
  return `ws://${location.host}${WS_PATH}?${TOKEN_PARAM}=${encodeURIComponent(token)}`
}

export type Transport = 'electron' | 'web'

export async function connect(): Promise<{ client: MxdClient; transport: Transport; onClose(l: () => void): void }> {
  if (window.mxd) return { client: bridgeClient(window.mxd), transport: 'electron', onClose: () => undefined }
  const ws = await connectWs(webSocketUrl()).catch(() => {
    throw new Error('Could not reach the MxD Studio back end. This page needs the per-launch token: open the URL that `mxd web` printed.')
  })
  return { client: ws, transport: 'web', onClose: (l) => ws.onClose(l) }
}
