// Starts `mxd web` as a real child process on a temp (or given) store, the way a user runs it,
// and hands back its URL, token and a connected API client.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import WebSocket from 'ws'
import { connectWs, type WsClient } from '../../src/shared/ws-client.js'

export const repoRoot = resolve(import.meta.dirname, '../..')
export const mxdBin = join(repoRoot, 'bin/mxd.mjs')

export function tempStore(prefix = 'mxd-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export interface WebProcess {
  url: string
  port: number
  token: string
  store: string
  child: ChildProcess
  /** A WebSocket URL with the token. */
  wsUrl: string
  client(): Promise<WsClient>
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>
  stderr(): string
}

export async function startWebProcess(opts: { store?: string; env?: NodeJS.ProcessEnv } = {}): Promise<WebProcess> {
  const store = opts.store ?? tempStore()
  const child = spawn(process.execPath, [mxdBin, 'web', '--json', '--store', store], {
    cwd: repoRoot,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const first = await new Promise<string>((res, rej) => {
    const rl = createInterface({ input: child.stdout! })
    rl.once('line', (line) => res(line))
    child.once('exit', (code) => rej(new Error(`mxd web exited (${code}) before printing its URL:\n${err}`)))
  })
  const { url, port } = JSON.parse(first) as { url: string; port: number }
  const token = new URL(url).searchParams.get('token')!
  const wsUrl = `ws://127.0.0.1:${port}/api?token=${encodeURIComponent(token)}`
  return {
    url,
    port,
    token,
    store,
    child,
    wsUrl,
    client: () => connectWs(wsUrl, WebSocket as never),
    stop: async () => {
      child.kill('SIGTERM')
      await exited
    },
    kill: async () => {
      child.kill('SIGKILL')
      await exited
    },
    stderr: () => err,
  }
}
