import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openRegularFile, openRegularFileSync, readRegularFile, refuseSystemPath, refuseSystemPathSync } from '../../../src/fs/user-files.js'

const dir = mkdtempSync(join(tmpdir(), 'mxd-user-files-'))

describe('user-chosen paths', () => {
  it('refuses a FIFO at once instead of blocking in open()', async () => {
    const fifo = join(dir, 'model.safetensors')
    execFileSync('mkfifo', [fifo])
    // Without O_NONBLOCK the open below would wait forever for a writer and the test would time out.
    await expect(openRegularFile(fifo, 'the weights file')).rejects.toThrow(/the weights file .*model\.safetensors.* is a named pipe \(FIFO\), not a regular file/)
    expect(() => openRegularFileSync(fifo)).toThrow(/named pipe/)
  })

  it('refuses /proc, /sys and /dev, also through a link and for a path that does not exist yet', async () => {
    await expect(refuseSystemPath('/proc/self/status')).rejects.toThrow(/inside \/proc/)
    await expect(refuseSystemPath('/sys/kernel/new-export-folder')).rejects.toThrow(/inside \/sys/)
    expect(() => refuseSystemPathSync('/dev/zero')).toThrow(/inside \/dev/)
    const link = join(dir, 'looks-harmless')
    symlinkSync('/proc/self', link)
    await expect(refuseSystemPath(join(link, 'export'))).rejects.toThrow(/which is \/proc\/\d+\/export/)
    await expect(readRegularFile('/dev/zero')).rejects.toThrow(/inside \/dev/)
  })

  it('names the file and the fix for common errno codes', async () => {
    const sub = join(dir, 'a-folder')
    mkdirSync(sub)
    await expect(openRegularFile(join(dir, 'missing.json'), 'config.json')).rejects.toThrow(/config\.json \(.*missing\.json\) does not exist/)
    await expect(openRegularFile(sub)).rejects.toThrow(/a-folder is a folder, not a regular file/)
    const loop = join(dir, 'loop')
    symlinkSync(loop, loop)
    await expect(openRegularFile(loop)).rejects.toThrow(/loop of symbolic links/)
  })

  it('reads a regular file and refuses one over the stated size', async () => {
    const f = join(dir, 'config.json')
    writeFileSync(f, '{"n_layer": 2}')
    expect((await readRegularFile(f)).toString()).toBe('{"n_layer": 2}')
    await expect(readRegularFile(f, { maxBytes: 4, what: 'config.json' })).rejects.toThrow(/is 14 bytes, more than the 4/)
  })
})
