/// <reference lib="dom" />
// Resuming a conversion at a new learning rate from its run page, end to end on a real `mxd web`
// and Chromium: a run made to diverge through the `mxd` command line (lr 1, as train-cli.test.ts
// does) shows in `mxd runs` with its error; the Runs list's Resume… opens its page, which offers
// a learning-rate field next to Resume, prefilled with a tenth of the run's lr and refusing what
// the API would refuse. Resuming at 0.003 goes view → store → jobs.resume: the run's stored
// config and its log say the new lr.
import Database from 'better-sqlite3'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Rng } from '../../src/data/shuffle.js'
import { openApp } from '../helpers/app-page.js'
import { tinyModelWithByteTokenizer } from '../helpers/byte-tokenizer.js'
import { mxd } from '../helpers/mxd-cli.js'
import { waitFor } from '../helpers/wait.js'
import { tempStore } from '../helpers/web-process.js'

function corpus(dir: string): string {
  const words = 'the of and to in is was that for on with as by at from his her they this which be or are an'.split(' ')
  const rng = new Rng(5)
  const paragraphs = Array.from({ length: 600 }, () => Array.from({ length: 20 + rng.below(20) }, () => words[rng.below(words.length)]).join(' ') + '.')
  const path = join(dir, 'corpus.txt')
  writeFileSync(path, paragraphs.join('\n\n'))
  return path
}

interface StoredRun {
  status: string
  lr: number
  log: string[]
}
function storedRun(store: string, id: number): StoredRun {
  const db = new Database(join(store, 'mxd.sqlite'), { readonly: true, fileMustExist: true })
  try {
    const run = db.prepare('SELECT status, config FROM runs WHERE id = ?').get(id) as { status: string; config: string }
    const log = (db.prepare('SELECT message FROM run_log WHERE run_id = ? ORDER BY id').all(id) as { message: string }[]).map((r) => r.message)
    return { status: run.status, lr: (JSON.parse(run.config) as { lr: number }).lr, log }
  } finally {
    db.close()
  }
}

describe('resume a conversion at a new learning rate', () => {
  it('a diverged run resumes from its page at the lr typed there', async () => {
    const store = tempStore('mxd-ui-resume-lr-')
    const model = tinyModelWithByteTokenizer()
    const data = corpus(store)
    const r = await mxd(['train', '--store', store, '--model', model, '--layer', '1', '--data', data, '--kind', 'mxd', '--experts', '64', '--k', '4',
      '--ctx', '32', '--batch', '64', '--tokens', String(64 * 40), '--lr', '1', '--seed', '0', '--buffer-rows', '2048', '--no-eval'])
    expect(r.code, r.stdout + r.stderr).toBe(1)

    // The plain list names why it failed, on the run's own line.
    const list = await mxd(['runs', '--store', store])
    expect(list.stdout).toMatch(/^\s+1 {2}convert\s+failed\s+\S+ {2}Training diverged: /m)

    const app = await openApp({ store, cleanup: [store] })
    try {
      const { page, web } = app
      // In the Runs list a failed conversion's Resume… leads to its page, where the lr is chosen.
      await page.goto(`${web.url}#/runs`)
      await page.locator('tr[data-run-id="1"]').getByRole('button', { name: 'Resume…' }).click()
      await page.waitForURL(/#\/runs\/1$/)
      const field = page.getByTestId('resume-lr-input')
      // Prefilled with a tenth of the run's lr 1 (what the divergence message suggests).
      await waitFor('the prefilled lr', async () => ((await field.inputValue()) === '0.1' ? true : undefined), { timeoutMs: 60_000 })
      await page.getByText('A diverged run: try a tenth of it.').waitFor()

      // Out of the API's bounds: said, and Resume is off.
      const resume = page.getByRole('button', { name: 'Resume run' })
      await field.fill('2')
      await page.getByText('is not a learning rate').waitFor()
      await waitFor('Resume disabled', async () => ((await resume.isDisabled()) ? true : undefined))

      await field.fill('0.003')
      await waitFor('Resume enabled', async () => ((await resume.isEnabled()) ? true : undefined))
      mkdirSync('/tmp/shots', { recursive: true })
      await page.screenshot({ path: '/tmp/shots/resume-lr.png', fullPage: false })
      await resume.click()

      const resumed = await waitFor('the stored lr 0.003 and its log line', () => {
        const s = storedRun(store, 1)
        return s.lr === 0.003 && s.log.some((m) => m.includes('with lr 0.003 (was 1)')) ? s : undefined
      })
      expect(resumed.lr).toBe(0.003)
      // Let the resumed job end before the back end stops (how it ends is not this test's concern).
      await waitFor('the resumed run to end', () => (['succeeded', 'failed'].includes(storedRun(store, 1).status) ? true : undefined), { timeoutMs: 240_000 })
      expect(app.pageErrors).toEqual([])
    } finally {
      await app.close()
    }
  }, 400_000)
})
