// The Electron window's security settings and the preload's surface, checked on the config.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { windowOptions } from '../../src/main/window-options.js'
import { buildBridge, type IpcLike } from '../../src/preload/bridge.js'
import { IPC_CALL_PREFIX, methodNames } from '../../src/shared/methods.js'

const root = join(import.meta.dirname, '../..')

describe('Electron hardening', () => {
  it('opens windows with context isolation, sandbox and no Node integration', () => {
    const prefs = windowOptions('/app/preload.cjs').webPreferences!
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      preload: '/app/preload.cjs',
    })
  })

  it('main uses those options and only answers its own page', () => {
    const main = readFileSync(join(root, 'src/main/index.ts'), 'utf8')
    expect(main).toMatch(/new BrowserWindow\(windowOptions\(/)
    expect(main).toMatch(/trusted\(e\.senderFrame/)
    expect(main).not.toMatch(/nodeIntegration:\s*true|contextIsolation:\s*false|sandbox:\s*false/)
  })

  it('ships a strict Content-Security-Policy: no inline or eval scripts, no remote sources', () => {
    const html = readFileSync(join(root, 'src/renderer/index.html'), 'utf8')
    const csp = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1]
    expect(csp).toBeDefined()
    const directives = Object.fromEntries(csp!.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]))
    expect(directives['default-src']).toEqual(["'self'"])
    expect(directives['script-src']).toEqual(["'self'"])
    expect(directives['object-src']).toEqual(["'none'"])
    expect(csp).not.toMatch(/unsafe-eval|https?:\/\//)
    expect(directives['connect-src']).toEqual(["'self'", 'ws://127.0.0.1:*'])
  })

  it('the preload exposes exactly one function per API method plus onEvent, never ipcRenderer', async () => {
    const calls: [string, unknown][] = []
    const fake: IpcLike = {
      invoke: async (channel, input) => {
        calls.push([channel, input])
        return { ok: true, value: null }
      },
      on: () => undefined,
      removeListener: () => undefined,
    }
    const bridge = buildBridge(fake)
    expect(Object.keys(bridge).sort()).toEqual([...methodNames, 'onEvent'].sort())
    expect(Object.isFrozen(bridge)).toBe(true)
    for (const value of Object.values(bridge)) expect(typeof value).toBe('function')
    await (bridge['runs.get'] as (i: unknown) => Promise<unknown>)({ id: 1 })
    expect(calls).toEqual([[`${IPC_CALL_PREFIX}runs.get`, { id: 1 }]])
    const preload = readFileSync(join(root, 'src/preload/index.ts'), 'utf8')
    expect(preload.match(/exposeInMainWorld/g)).toHaveLength(1)
    expect(preload).toMatch(/exposeInMainWorld\('mxd', buildBridge\(ipcRenderer\)\)/)
  })
})
