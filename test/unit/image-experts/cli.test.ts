// `mxd classify experts` in-process (runCommand, a real back end on its own store): the folder
// given as --data is registered, the job runs, and the text report and --json output say what the
// planted mixer does; a missing --data, or neither/both of --run and --dir, is a usage error.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { beforeAll, describe, expect, it } from 'vitest'
import { saveMixerFolder } from '../../../src/analysis/image-experts/folder.js'
import { runCommand, UsageError } from '../../../src/cli/command.js'
import { classify } from '../../../src/cli/commands/classify.js'
import { initBackend } from '../../../src/engine/backend.js'
import { disposeParams } from '../../../src/engine/classifiers/classifier.js'
import type { ImageExpertsResult } from '../../../src/shared/image-experts.js'
import { idxImages, idxLabels, writeIdxFolder } from '../images/helpers.js'
import { CONFIG, plantedImages, plantedMixer, SHAPE } from './planted.js'

let dir: string
let modelDir: string
let dataDir: string

async function run(args: string[]): Promise<{ code: number; out: string }> {
  const out = new PassThrough()
  const err = new PassThrough()
  let text = ''
  out.on('data', (d: Buffer) => (text += d.toString()))
  err.resume()
  const code = await runCommand(classify, ['experts', ...args, '--store', join(dir, 'store')], { out, err })
  return { code, out: text }
}

beforeAll(async () => {
  await initBackend()
  dir = mkdtempSync(join(tmpdir(), 'mxd-classify-experts-'))
  const data = plantedImages()
  dataDir = writeIdxFolder(
    {
      trainImages: idxImages(4, 4, 4, Array.from(data.images.subarray(0, 64))),
      trainLabels: idxLabels(Array.from(data.labels.subarray(0, 4))),
      testImages: idxImages(data.labels.length, 4, 4, Array.from(data.images)),
      testLabels: idxLabels(Array.from(data.labels)),
    },
    { dir: join(dir, 'idx') },
  )
  const mixer = plantedMixer()
  modelDir = join(dir, 'mixer')
  await saveMixerFolder(modelDir, { config: CONFIG, shape: SHAPE, params: mixer.params })
  disposeParams(mixer.params)
})

describe('mxd classify experts', () => {
  it('reports every expert dominated by its class, as text and as JSON', async () => {
    const text = await run(['--dir', modelDir, '--data', dataDir])
    expect(text.code).toBe(0)
    expect(text.out).toMatch(/all blocks: 8\/8 experts active; dominated by one class 100%/)
    expect(text.out).toMatch(/e2 +mass +\d+% +2 \d+% +#\d+:2 #\d+:2/)
    const json = await run(['--dir', modelDir, '--data', dataDir, '--max-images', '40', '--json'])
    expect(json.code).toBe(0)
    const result = JSON.parse(json.out.trim().split('\n').pop()!) as ImageExpertsResult
    expect(result.analysis!.data.images).toBe(40)
    expect(result.analysis!.blocks).toHaveLength(CONFIG.depth)
  }, 300_000)

  it('needs --data, and one of --run or --dir', async () => {
    await expect(run(['--dir', modelDir])).rejects.toThrow(UsageError)
    await expect(run(['--data', dataDir])).rejects.toThrow(/--run ID .* or --dir DIR/)
    await expect(run(['--run', '1', '--dir', modelDir, '--data', dataDir])).rejects.toThrow(/--run ID .* or --dir DIR/)
  })
})
