// The Electron window's security settings, the Content-Security-Policy of the page it loads and
// of the page web mode serves, and the preload's surface.
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Backend } from '../../src/backend/backend.js'
import { windowOptions } from '../../src/main/window-options.js'
import { startWebServer } from '../../src/server/web-server.js'
import { buildBridge, type IpcLike } from '../../src/preload/bridge.js'
import { IPC_CALL_PREFIX, methodNames } from '../../src/shared/methods.js'

const root = join(import.meta.dirname, '../..')

type Policy = Record<string, string[]>

function parse(csp: string): Policy {
  return Object.fromEntries(
    csp
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => d.split(/\s+/))
      .map(([k, ...v]) => [k!, v]),
  )
}

function metaPolicy(html: string): Policy {
  const csp = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1]
  expect(csp, 'a Content-Security-Policy <meta>').toBeDefined()
  return parse(csp!)
}

/** No inline or eval scripts, no plugins, no remote sources; sockets only to the local back end. */
function expectStrict(p: Policy, where: string): Policy {
  expect(p['default-src'], where).toEqual(["'self'"])
  expect(p['script-src'], where).toEqual(["'self'"])
  expect(p['object-src'], where).toEqual(["'none'"])
  expect(p['base-uri'], where).toEqual(["'none'"])
  expect(p['connect-src'], where).toEqual(["'self'", 'ws://127.0.0.1:*'])
  expect(p['img-src'], where).toEqual(["'self'", 'data:'])
  for (const [name, sources] of Object.entries(p)) {
    for (const src of sources) expect(src, `${where}: ${name}`).not.toMatch(/unsafe-eval|^https?:|^\*$/)
    if (name !== 'img-src') expect(sources, `${where}: ${name}`).not.toContain('data:')
  }
  return p
}

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

  // The policies the app really runs under: the Electron window loads index.html from disk (no
  // HTTP headers), so its only policy is the page's <meta>; web mode serves that page with a
  // Content-Security-Policy header as well, and the browser enforces both.
  it('the Electron window’s page carries a strict Content-Security-Policy', () => {
    expectStrict(metaPolicy(readFileSync(join(root, 'src/renderer/index.html'), 'utf8')), 'index.html <meta>')
  })

  it('web mode serves the page with a strict Content-Security-Policy header that forbids framing', async () => {
    const rendererDir = mkdtempSync(join(tmpdir(), 'mxd-csp-'))
    copyFileSync(join(root, 'src/renderer/index.html'), join(rendererDir, 'index.html'))
    const backend = await Backend.create({ storeDir: mkdtempSync(join(tmpdir(), 'mxd-csp-store-')) })
    const server = await startWebServer({ backend, rendererDir })
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/?token=${encodeURIComponent(server.token)}`)
      expect(res.status).toBe(200)
      const header = res.headers.get('content-security-policy')
      expect(header, 'the CSP header').not.toBeNull()
      const served = expectStrict(parse(header!), 'the CSP header')
      // frame-ancestors is ignored in a <meta>, so only the header can stop clickjacking.
      expect(served['frame-ancestors']).toEqual(["'none'"])
      expectStrict(metaPolicy(await res.text()), 'the served page’s <meta>')
    } finally {
      await server.close()
      await backend.close()
      rmSync(rendererDir, { recursive: true, force: true })
    }
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
