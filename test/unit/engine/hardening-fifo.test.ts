// Issue 9: a FIFO (or socket, device) where a model file should be is refused at once with a
// sentence naming the file, never waited on; folders under /proc, /sys and /dev are refused.
// Before, openSync/readFileSync on a FIFO blocked forever: `mxd inspect` and `mxd forward` hung
// (so each CLI case below runs under a time bound: a hang fails the test).
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { inspectModelFolder, ModelLoadError, openModelFolder } from '../../../src/engine/model-folder.js'
import { TextTokenizer } from '../../../src/engine/tokenizer.js'
import { readRegularFileSync, UserPathError } from '../../../src/fs/user-files.js'
import { mxd } from '../../helpers/mxd-cli.js'

const MODELS = join(import.meta.dirname, '../../fixtures/models')
const tmp = mkdtempSync(join(tmpdir(), 'mxd-hardening-fifo-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

let copies = 0
/** A copy of gpt2-tiny-f32 (which has a tokenizer) with `file` replaced by a named pipe. */
function withFifo(file: string): string {
  const dir = join(tmp, `gpt2-${copies++}`)
  cpSync(join(MODELS, 'gpt2-tiny-f32'), dir, { recursive: true })
  rmSync(join(dir, file))
  execFileSync('mkfifo', [join(dir, file)])
  return dir
}

function refusal(fn: () => unknown): Error {
  try {
    fn()
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a refusal, but it was accepted')
}

describe('readRegularFileSync (the sync read the CLI and workers use)', () => {
  it('reads a regular file whole, and refuses a FIFO or an oversized file before reading', () => {
    const config = join(MODELS, 'gpt2-tiny-f32/config.json')
    expect(readRegularFileSync(config).equals(readFileSync(config))).toBe(true)
    const fifo = join(withFifo('config.json'), 'config.json')
    const err = refusal(() => readRegularFileSync(fifo, { what: "the model's config.json" }))
    expect(err).toBeInstanceOf(UserPathError)
    expect(err.message).toBe(`the model's config.json (${fifo}) is a named pipe (FIFO), not a regular file: point to the file itself.`)
    expect(refusal(() => readRegularFileSync(config, { maxBytes: 10 })).message).toMatch(/is \d+ bytes, more than the 10 such a file can be/)
  })
})

describe('special files in a model folder are refused, not waited on', () => {
  it.each(['config.json', 'model.safetensors', 'tokenizer.json'])('a FIFO named %s', (file) => {
    const dir = withFifo(file)
    const err = refusal(() => inspectModelFolder(dir))
    expect(err).toBeInstanceOf(ModelLoadError)
    expect(err.message).toContain(join(dir, file))
    expect(err.message).toMatch(/is a named pipe \(FIFO\), not a regular file/)
  })

  it('TextTokenizer.fromFolder refuses a FIFO tokenizer.json', () => {
    const dir = withFifo('tokenizer.json')
    expect(refusal(() => TextTokenizer.fromFolder(dir)).message).toMatch(/tokenizer\.json.* is a named pipe \(FIFO\)/)
  })

  it('a character device linked as config.json', () => {
    const dir = join(tmp, `gpt2-${copies++}`)
    cpSync(join(MODELS, 'gpt2-tiny-f32'), dir, { recursive: true })
    rmSync(join(dir, 'config.json'))
    execFileSync('ln', ['-s', '/dev/zero', join(dir, 'config.json')])
    expect(refusal(() => openModelFolder(dir)).message).toMatch(/\/dev/)
  })

  it.each(['/proc/self', '/sys/kernel', '/dev/shm'])('a model folder under a system root: %s', (dir) => {
    const err = refusal(() => openModelFolder(dir))
    expect(err).toBeInstanceOf(ModelLoadError)
    expect(err.message).toMatch(/holds the system's kernel and device files/)
  })

  it('mxd inspect and mxd forward exit 1 at once with the message', async () => {
    const config = withFifo('config.json')
    const weights = withFifo('model.safetensors')
    const tokenizer = withFifo('tokenizer.json')
    const results = await Promise.all([
      mxd(['inspect', '--model', config]),
      mxd(['forward', '--model', weights, '--ids', '1,2']),
      mxd(['forward', '--model', tokenizer, '--text', 'a']),
      mxd(['generate', '--model', tokenizer, '--prompt', 'a']),
    ])
    const expected = [join(config, 'config.json'), join(weights, 'model.safetensors'), join(tokenizer, 'tokenizer.json'), join(tokenizer, 'tokenizer.json')]
    results.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toContain(expected[i])
      expect(r.stderr).toMatch(/named pipe \(FIFO\)/)
    })
  }, 60_000)
})
