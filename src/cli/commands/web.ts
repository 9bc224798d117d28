import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { rendererDir } from '../../backend/paths.js'
import { startWebServer } from '../../server/web-server.js'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']

export const web: Command = {
  name: 'web',
  summary:
    'Serves the app to a browser on 127.0.0.1 (web mode): the same back end as the desktop app, behind a per-launch token. Stop with Ctrl-C.',
  usage: 'mxd web [--port N] [--open]',
  options: { port: { type: 'string' }, open: { type: 'boolean', default: false } },
  async run(ctx) {
    const port = typeof ctx.values.port === 'string' ? Number(ctx.values.port) : 0
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0–65535, not "${ctx.values.port}"`)
    if (!existsSync(rendererDir)) ctx.err.write(`warning: ${rendererDir} is missing; run "npm run build" so there is a page to serve\n`)
    const backend = await ctx.backend({ restoreQueue: true })
    const server = await startWebServer({ backend, rendererDir, port })
    if (ctx.json) ctx.printJson({ url: server.url, port: server.port, store: ctx.storeDir, backend: backend.ctx.compute.backend })
    else ctx.print(`MxD Studio (web mode) on ${server.url}\nstore: ${ctx.storeDir} · compute: ${backend.ctx.compute.backend}`)
    if (ctx.values.open) {
      const browser = CHROMIUM.find((p) => existsSync(p))
      if (browser) spawn(browser, [`--app=${server.url}`], { stdio: 'ignore', detached: true }).unref()
      else ctx.err.write('No Chromium found to open the app window; open the URL above in a browser.\n')
    }
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    await server.close()
    return 0
  },
}
