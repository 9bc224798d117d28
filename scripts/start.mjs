#!/usr/bin/env node
// `npm start`: builds the app and opens it in Electron. Where Electron cannot run (its binary
// is downloaded on first run and the download fails without a route to its host, or the
// Electron build of better-sqlite3 cannot be made), says so in one line and serves the same
// app in web mode instead.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const passThrough = process.argv.slice(2)
const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts })

if (run(process.execPath, [join(root, 'node_modules/electron-vite/bin/electron-vite.js'), 'build']).status !== 0) {
  console.error('npm start: the build failed (see above).')
  process.exit(1)
}

function electronBinary() {
  // Requiring 'electron' downloads the binary on first use; bounded so a hanging network
  // cannot stall start-up.
  const probe = spawnSync(process.execPath, ['-e', "process.stdout.write(require('electron'))"], {
    cwd: root,
    encoding: 'utf8',
    timeout: 180_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const path = probe.stdout?.trim()
  if (probe.status === 0 && path && existsSync(path)) return { path }
  // The first error line names the cause (e.g. "TypeError: fetch failed" when offline).
  const lines = (probe.stderr || probe.error?.message || 'unknown error').split('\n').map((l) => l.trim())
  const why = lines.find((l) => /Error|ENOTFOUND|EAI_AGAIN|ETIMEDOUT/.test(l)) ?? lines.find(Boolean)
  return { why: probe.error?.code === 'ETIMEDOUT' ? 'its download timed out' : `its download failed: ${why}` }
}

function electronSqlite() {
  if (existsSync(join(root, 'build/electron/better_sqlite3.node'))) return true
  return run('bash', [join(root, 'scripts/build-electron-native.sh')]).status === 0
}

const bin = electronBinary()
if (bin.path && electronSqlite()) {
  const child = spawn(bin.path, [root, ...passThrough], { cwd: root, stdio: 'inherit' })
  child.on('exit', (code) => process.exit(code ?? 0))
} else {
  const reason = bin.path ? 'better-sqlite3 could not be built for Electron' : `Electron's binary is not available (${bin.why})`
  console.error(`MxD Studio: ${reason}; starting web mode instead — open the URL below in a browser.`)
  const child = spawn(process.execPath, [join(root, 'bin/mxd.mjs'), 'web', '--open', ...passThrough], { cwd: root, stdio: 'inherit' })
  process.on('SIGINT', () => child.kill('SIGINT'))
  child.on('exit', (code) => process.exit(code ?? 0))
}
