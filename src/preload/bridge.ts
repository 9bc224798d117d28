// Builds the one object the preload exposes to the page: a function per API method (named as
// in the contract) and an event subscription. The page never sees ipcRenderer itself.
import { IPC_CALL_PREFIX, IPC_EVENT_CHANNEL, methodNames } from '../shared/methods.js'

export type MethodName = (typeof methodNames)[number]

export interface IpcLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): void
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): void
}

export type Bridge = { [M in MethodName]: (input: unknown) => Promise<unknown> } & {
  onEvent(listener: (event: unknown) => void): () => void
}

export function buildBridge(ipc: IpcLike): Bridge {
  const bridge: Record<string, unknown> = {}
  for (const m of methodNames) bridge[m] = (input: unknown) => ipc.invoke(IPC_CALL_PREFIX + m, input)
  bridge.onEvent = (listener: (event: unknown) => void) => {
    const wrapped = (_e: unknown, payload: unknown): void => listener(payload)
    ipc.on(IPC_EVENT_CHANNEL, wrapped)
    return () => ipc.removeListener(IPC_EVENT_CHANNEL, wrapped)
  }
  return Object.freeze(bridge) as Bridge
}
