// Datasets a user points at can be damaged or strange: a truncated or corrupted parquet file,
// text that is not UTF-8, a FIFO named data.txt, a link loop, the whole disk ("/"). Each gets a
// message naming the file and the fix (or, for a bad line, a counted MalformedLine), never a
// hang, a partial read without complaint, or "internal: EACCES …".
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../src/backend/backend.js'
import { MalformedLines } from '../../src/data/malformed.js'
import { fixture, readAll, tempDir, texts } from './data/helpers.js'

let backend: Backend
beforeAll(async () => {
  backend = await Backend.create({ storeDir: tempDir() })
})
afterAll(async () => backend.close())

async function addRefused(path: string): Promise<string> {
  const t0 = Date.now()
  const reply = await backend.dispatch('datasets.add', { path })
  expect(Date.now() - t0).toBeLessThan(10_000)
  expect(reply.ok).toBe(false)
  if (reply.ok) return ''
  expect(reply.error.code).toBe('bad_request')
  expect(reply.error.message).not.toMatch(/Cannot read properties|^E[A-Z]+:/)
  return reply.error.message
}

describe('damaged parquet files are refused with the file named', () => {
  const good = readFileSync(fixture('docs.parquet'))
  const variant = (name: string, bytes: Buffer): string => {
    const file = join(tempDir(), name)
    writeFileSync(file, bytes)
    return file
  }

  it('truncated', async () => {
    const file = variant('truncated.parquet', good.subarray(0, Math.floor(good.length * 0.6)))
    await expect(readAll(file)).rejects.toThrow(new RegExp(`${file} is not a readable parquet file: .*truncated.*Download or export it again`))
  })

  it('wrong magic at the start', async () => {
    const bytes = Buffer.from(good)
    bytes.write('XXXX', 0, 'latin1')
    const file = variant('magic.parquet', bytes)
    await expect(readAll(file)).rejects.toThrow(new RegExp(`${file} is not a readable parquet file: .*"PAR1"`))
    expect(await addRefused(file)).toContain(file)
  })

  it('a corrupted footer', async () => {
    const footerLength = good.readUInt32LE(good.length - 8)
    const footerStart = good.length - 8 - footerLength
    // Every way of scribbling over the footer ends in a clear refusal, never a partial read.
    for (const [offset, fill] of [
      [0, 0xff],
      [Math.floor(footerLength / 3), 0x00],
      [Math.floor(footerLength / 2), 0x7f],
    ] as const) {
      const bytes = Buffer.from(good)
      bytes.fill(fill, footerStart + offset, footerStart + offset + Math.min(16, footerLength - offset))
      const file = variant(`footer-${offset}.parquet`, bytes)
      const err = await readAll(file).then(
        (docs) => new Error(`read ${docs.length} documents from a corrupted footer`),
        (e: Error) => e,
      )
      expect(err.message).toMatch(new RegExp(`${file} is not a readable parquet file`))
    }
  })

  it('a footer length pointing outside the file', async () => {
    const bytes = Buffer.from(good)
    bytes.writeUInt32LE(good.length * 4, good.length - 8)
    const file = variant('footer-length.parquet', bytes)
    await expect(readAll(file)).rejects.toThrow(new RegExp(`${file} is not a readable parquet file`))
  })
})

describe('text that is not UTF-8 is counted like a malformed line', () => {
  const latin1 = Buffer.from('caf\xe9 au lait', 'latin1') // é as one Latin-1 byte: invalid UTF-8

  it('.txt: the bad line is reported with its number and left out; the rest is read', async () => {
    const file = join(tempDir(), 'mixed.txt')
    writeFileSync(file, Buffer.concat([Buffer.from('first block\n\n'), latin1, Buffer.from('\nsame block\n\nlast block\n')]))
    const malformed = new MalformedLines()
    const docs = await readAll(file, { malformed })
    expect(texts(docs)).toEqual(['first block', 'same block', 'last block'])
    expect(malformed.summary()).toEqual({
      count: 1,
      examples: [{ file, line: 3, unit: 'line', reason: expect.stringMatching(/not valid UTF-8 text.*re-save the file as UTF-8/) }],
    })
    const whole = new MalformedLines()
    expect(texts(await readAll(file, { malformed: whole, txtDocuments: 'file' }))).toEqual(['first block\n\nsame block\n\nlast block'])
    expect(whole.count).toBe(1)
  })

  it('.jsonl: the bad line is reported, and datasets.add shows it', async () => {
    const file = join(tempDir(), 'mixed.jsonl')
    writeFileSync(file, Buffer.concat([Buffer.from('{"text": "good one"}\n{"text": "'), latin1, Buffer.from('"}\n{"text": "good two"}\n')]))
    const d = await backend.call('datasets.add', { path: file })
    expect(d.documents).toBe(2)
    expect(d.malformed.count).toBe(1)
    expect(d.malformed.examples[0]).toMatchObject({ line: 2, unit: 'line', reason: expect.stringMatching(/not valid UTF-8/) })
  })
})

describe('paths that are not plain files or folders', () => {
  it('a FIFO named data.txt is refused at once, not waited on', async () => {
    const fifo = join(tempDir(), 'data.txt')
    execFileSync('mkfifo', [fifo])
    expect(await addRefused(fifo)).toMatch(new RegExp(`${fifo} is a named pipe \\(FIFO\\), neither a regular file nor a folder`))
  })

  it('a FIFO inside a dataset folder is refused with its name', async () => {
    const dir = tempDir()
    copyFileSync(fixture('blocks.txt'), join(dir, 'a.txt'))
    execFileSync('mkfifo', [join(dir, 'b.txt')])
    expect(await addRefused(dir)).toMatch(new RegExp(`${join(dir, 'b.txt')} is a named pipe \\(FIFO\\), not a regular file.*remove it from ${dir}`))
  })

  it('a loop of symbolic links is named as one', async () => {
    const dir = tempDir()
    symlinkSync(join(dir, 'loop.txt'), join(dir, 'loop.txt'))
    expect(await addRefused(join(dir, 'loop.txt'))).toMatch(/loop\.txt.* is a loop of symbolic links: point to the real file or folder/)
  })

  it('/proc and the whole disk are refused with a reason, not scanned to the end or "internal: EACCES"', async () => {
    expect(await addRefused('/proc/self/status.txt')).toMatch(/inside \/proc.*choose a folder of your own/)
    expect(await addRefused('/proc')).toMatch(/inside \/proc/)
    const root = await addRefused('/')
    expect(root).toMatch(/The folder \/ (contains \/(proc|sys|dev)|holds more than 100,000)|inside the dataset folder \//)
  })

  it('a link to /proc inside a dataset folder is skipped like every link, not scanned', async () => {
    const dir = tempDir()
    mkdirSync(join(dir, 'data'))
    copyFileSync(fixture('blocks.txt'), join(dir, 'data', 'a.txt'))
    // A link to /proc is skipped like every link, so the dataset is just data/a.txt.
    symlinkSync('/proc', join(dir, 'proc'))
    const d = await backend.call('datasets.add', { path: dir })
    expect(d.files).toBe(1)
  })
})
