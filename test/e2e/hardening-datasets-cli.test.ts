// `mxd datasets add` on strange paths, as a user types it: each answer names the file and the
// fix (exit 1), and a file with non-UTF-8 lines is registered with those lines reported.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { mxd } from '../helpers/mxd-cli.js'
import { tempStore } from '../helpers/web-process.js'

describe('mxd datasets add', () => {
  it('refuses a FIFO and /proc with the reason, and reports lines that are not UTF-8', async () => {
    const store = tempStore()
    const dir = mkdtempSync(join(tmpdir(), 'mxd-cli-data-'))
    const fifo = join(dir, 'data.txt')
    execFileSync('mkfifo', [fifo])
    const f = await mxd(['datasets', 'add', fifo, '--store', store])
    expect(f.code).toBe(1)
    expect(f.stderr).toContain(`mxd datasets: ${fifo} is a named pipe (FIFO), neither a regular file nor a folder`)

    const p = await mxd(['datasets', 'add', '/proc', '--store', store])
    expect(p.code).toBe(1)
    expect(p.stderr).toMatch(/mxd datasets: The dataset \/proc is inside \/proc.*choose a folder of your own/)

    const text = join(dir, 'latin1.txt')
    writeFileSync(text, Buffer.concat([Buffer.from('good block\n\n'), Buffer.from('caf\xe9\n', 'latin1'), Buffer.from('\nanother\n')]))
    const ok = await mxd(['datasets', 'add', text, '--store', store])
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toMatch(/1 unusable line skipped:\n\s+.*latin1\.txt line 3: not valid UTF-8 text/)
  })
})
