// Issue 9: models.add on a folder whose config.json is a FIFO used to open it synchronously on
// the web server's event loop, which blocked forever: the whole server stopped answering. Now the
// folder is read in the engine worker, the FIFO is refused at once, and the server keeps serving.
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { repoRoot, startWebProcess, type WebProcess } from '../helpers/web-process.js'

const tmp = mkdtempSync(join(tmpdir(), 'mxd-hardening-fifo-web-'))
let web: WebProcess | undefined
afterAll(async () => {
  // SIGKILL: on a server hung by the FIFO, SIGTERM's handler would never run.
  if (web && web.child.exitCode === null && web.child.signalCode === null) await web.kill()
  rmSync(tmp, { recursive: true, force: true })
})

describe('web server and special files', () => {
  it('models.add on a folder with a FIFO config.json fails promptly and the server still answers', async () => {
    const dir = join(tmp, 'gpt2')
    cpSync(join(repoRoot, 'test/fixtures/models/gpt2-tiny-f32'), dir, { recursive: true })
    rmSync(join(dir, 'config.json'))
    execFileSync('mkfifo', [join(dir, 'config.json')])
    const fifoWeights = join(tmp, 'gpt2-weights')
    cpSync(join(repoRoot, 'test/fixtures/models/gpt2-tiny-f32'), fifoWeights, { recursive: true })
    rmSync(join(fifoWeights, 'model.safetensors'))
    execFileSync('mkfifo', [join(fifoWeights, 'model.safetensors')])

    web = await startWebProcess({ env: { HF_HUB_CACHE: join(tmp, 'no-hf-cache') } })
    const client = await web.client()
    try {
      await expect(client.call('models.add', { path: dir })).rejects.toThrow(/config\.json.* is a named pipe \(FIFO\), not a regular file/)
      await expect(client.call('models.add', { path: fifoWeights })).rejects.toThrow(/model\.safetensors.* is a named pipe \(FIFO\)/)
      await expect(client.call('models.add', { path: '/proc/self' })).rejects.toThrow(/inside \/proc/)
      // Still serving, and nothing was registered.
      const listed = (await client.call('models.list', {})).map((m) => m.path)
      expect(listed).not.toContain(dir)
      expect(listed).not.toContain(fifoWeights)
      const good = await client.call('models.add', { path: join(repoRoot, 'test/fixtures/models/llama-tiny-f32') })
      expect(good.info?.architecture).toBe('llama')
    } finally {
      client.close()
    }
  }, 60_000)

  it('a registered model whose config.json became a FIFO: experts and conversion checks fail promptly, the server still answers', async () => {
    const dir = join(tmp, 'later-fifo')
    cpSync(join(repoRoot, 'test/fixtures/models/gpt2-tiny-f32'), dir, { recursive: true })
    web ??= await startWebProcess({ env: { HF_HUB_CACHE: join(tmp, 'no-hf-cache') } })
    const client = await web.client()
    try {
      const model = await client.call('models.add', { path: dir })
      rmSync(join(dir, 'config.json'))
      execFileSync('mkfifo', [join(dir, 'config.json')])
      // Both read the folder: on the event loop, a FIFO would have hung every client.
      await expect(client.call('experts.list', { modelId: model.id })).rejects.toThrow(/config\.json.*named pipe \(FIFO\)/)
      await expect(client.call('convert.preview', { model: dir, layer: 0, data: dir, kind: 'mxd', k: 4 })).rejects.toThrow(
        /config\.json.*named pipe \(FIFO\)/,
      )
      expect((await client.call('models.list', {})).length).toBeGreaterThan(0)
    } finally {
      client.close()
    }
  }, 60_000)
})
