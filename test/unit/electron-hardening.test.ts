// The Electron window's security settings, the one Content-Security-Policy that both the window
// and web mode send with the page, and the preload's surface.
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Backend } from '../../src/backend/backend.js'
import { cspHeaders, windowOptions } from '../../src/main/window-options.js'
import { startWebServer } from '../../src/server/web-server.js'
import { buildBridge, type IpcLike } from '../../src/preload/bridge.js'
import { CSP, CSP_META, cspMetaTag } from '../../src/shared/csp.js'
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

/** Every file under dir (recursively) whose name ends in one of exts. */
function filesUnder(dir: string, exts: string[]): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return filesUnder(path, exts)
    return exts.some((e) => name.endsWith(e)) ? [path] : []
  })
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

  // One policy, src/shared/csp.ts, sent as a header by both hosts: the Electron main process adds
  // it to its own page's responses (file:// included), the web server to everything it serves.
  it('the one Content-Security-Policy is strict and forbids framing', () => {
    const p = expectStrict(parse(CSP), 'src/shared/csp.ts')
    // frame-ancestors only works in a header, which is why the full policy is never a <meta>.
    expect(p['frame-ancestors']).toEqual(["'none'"])
  })

  it('no other copy of a policy exists: no <meta> CSP, no second string', () => {
    const files = [join(root, 'src/renderer/index.html'), ...filesUnder(join(root, 'src'), ['.ts', '.vue', '.html'])]
    const holders = files.filter((f) => /default-src|Content-Security-Policy"/.test(readFileSync(f, 'utf8')))
    expect(holders.map((f) => f.slice(root.length + 1))).toEqual(['src/shared/csp.ts'])
    expect(readFileSync(join(root, 'src/renderer/index.html'), 'utf8')).not.toMatch(/http-equiv/i)
  })

  it('the built page also carries the policy, less frame-ancestors, as a <meta> (for file:// in Electron)', () => {
    const meta = parse(CSP_META)
    const { ['frame-ancestors']: framing, ...rest } = parse(CSP)
    expect(framing).toEqual(["'none'"])
    expect(meta).toEqual(rest)
    expect(cspMetaTag()).toBe(`<meta http-equiv="Content-Security-Policy" content="${CSP_META}" />`)
    // The renderer build puts it in; the e2e tests load that built page and fail on console errors.
    const config = readFileSync(join(root, 'electron.vite.config.ts'), 'utf8')
    expect(config).toMatch(/transformIndexHtml[^\n]*cspMetaTag\(\)/)
  })

  it('the Electron window’s page gets that policy as a header, replacing any other', () => {
    expect(cspHeaders(undefined)).toEqual({ 'Content-Security-Policy': [CSP] })
    expect(cspHeaders({ 'content-security-policy': ['default-src *'], 'Content-Type': ['text/html'] })).toEqual({
      'Content-Type': ['text/html'],
      'Content-Security-Policy': [CSP],
    })
    const main = readFileSync(join(root, 'src/main/index.ts'), 'utf8')
    expect(main).toMatch(/webRequest\.onHeadersReceived\([^]*?cspHeaders\(details\.responseHeaders\)/)
    // Installed before the window is created, so the first load already carries it.
    expect(main.indexOf('onHeadersReceived')).toBeLessThan(main.indexOf('new BrowserWindow('))
  })

  it('web mode serves the page with exactly that policy as its header', async () => {
    const rendererDir = mkdtempSync(join(tmpdir(), 'mxd-csp-'))
    copyFileSync(join(root, 'src/renderer/index.html'), join(rendererDir, 'index.html'))
    const backend = await Backend.create({ storeDir: mkdtempSync(join(tmpdir(), 'mxd-csp-store-')) })
    const server = await startWebServer({ backend, rendererDir })
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/?token=${encodeURIComponent(server.token)}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-security-policy')).toBe(CSP)
      expect(await res.text()).not.toMatch(/http-equiv/i)
      // A client-side route and an asset get the same header.
      const route = await fetch(`http://127.0.0.1:${server.port}/runs/3?token=${encodeURIComponent(server.token)}`)
      expect(route.headers.get('content-security-policy')).toBe(CSP)
      await route.body?.cancel()
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
