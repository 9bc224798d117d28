// `mxd privacy` as a user runs it, in real processes on a real store: the usage errors (exit 2,
// the reason and the usage), the server's refusals (exit 1, the reason), and --help. The privacy
// jobs themselves are tested where they are written; nothing here needs them to run.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { mxd } from '../helpers/mxd-cli.js'
import { tempStore } from '../helpers/web-process.js'

describe('mxd privacy', () => {
  it('answers usage errors with exit 2, the reason and the usage', async () => {
    const store = tempStore()
    const run = (...args: string[]) => mxd(['privacy', ...args, '--store', store])
    const indices = join(store, 'protect.txt')
    writeFileSync(indices, '1, 2 3\n4,x5\n')
    const missing = join(store, 'nope.txt')
    const cases: [string[], RegExp][] = [
      [[], /a subcommand is needed: finetune, certify, attack, verify/],
      [['fly'], /unknown subcommand "fly": finetune, certify, attack, verify/],
      [['finetune', '--protect', 'class:0'], /--run ID is required/],
      [['finetune', '--run', 'x', '--protect', 'class:0'], /--run takes a run id \(a whole number\), not "x"/],
      [['finetune', '--run', '1'], /--protect class:C\[:COUNT\[:SEED\]\], random:K\[:SEED\] or indices:FILE is required/],
      [['finetune', '--run', '1', '--protect', 'colour:3'], /--protect is class:C.* not "colour:3"/],
      [['finetune', '--run', '1', '--protect', 'class:1:2:3:4'], /not "class:1:2:3:4"/],
      [['finetune', '--run', '1', '--protect', `indices:${indices}`], new RegExp(`protect\\.txt, line 2: "x5" is not an index`)],
      [['finetune', '--run', '1', '--protect', `indices:${missing}`], /indices:.*nope\.txt: the file cannot be read \(ENOENT\)/],
      [['finetune', '--run', '1', '--protect', 'class:0', '--theta', '1.5'], /objective\.theta: /],
      [['finetune', '--run', '1', '--protect', 'class:0', '--loss', 'hinge'], /objective\.lossK: /],
      [['finetune', '--run', '1', '--protect', 'class:0', '--pgd', '0.1:50'], /--pgd is RADIUS:STEPS:STEP_SIZE/],
      [['finetune', '--run', '1', '--protect', 'class:0', '--epochs', 'many'], /--epochs takes a number, not "many"/],
      [
        [
          'certify',
          '--run',
          '1',
          '--protect',
          'class:0',
          '--lambda',
          '0.01',
          '--norm-bound',
          '10',
          '--epsilon',
          '1',
          '--delta',
          '1e-5',
          '--out',
          'x',
        ],
        /--theta is required: a certificate states every one of its parameters/,
      ],
      [
        [
          'certify',
          '--run',
          '1',
          '--protect',
          'class:0',
          '--theta',
          '0.5',
          '--lambda',
          '0.01',
          '--norm-bound',
          '10',
          '--epsilon',
          '1',
          '--delta',
          '1e-5',
        ],
        /--out is required/,
      ],
      [
        [
          'certify',
          '--run',
          '1',
          '--protect',
          'class:0',
          '--theta',
          '0.5',
          '--lambda',
          '0.01',
          '--norm-bound',
          '10',
          '--epsilon',
          '1',
          '--delta',
          '2',
          '--out',
          'x',
        ],
        /delta: /,
      ],
      [
        [
          'certify',
          '--run',
          '1',
          '--protect',
          'class:0',
          '--theta',
          '0.5',
          '--lambda',
          '0.01',
          '--norm-bound',
          '10',
          '--epsilon',
          '1',
          '--delta',
          '1e-5',
          '--out',
          'x',
          '--solver',
          'qr',
        ],
        /solver\.method: /,
      ],
      [['attack', '--fgsm', '0.1'], /give either --run ID --protect \.\.\. \(a classifier run\) or --certificate ID/],
      [['attack', '--run', '1', '--certificate', '2', '--fgsm', '0.1'], /give either --run/],
      [['attack', '--certificate', '2', '--protect', 'class:0', '--fgsm', '0.1'], /--protect goes with --run/],
      [['attack', '--run', '1', '--protect', 'class:0'], /name at least one attack/],
      [['verify'], /give either a certificate folder \(DIR\) or --certificate ID/],
      [['verify', 'a', '--certificate', '1'], /give either a certificate folder/],
      [['verify', 'a', 'b'], /unexpected argument "b"/],
      [['finetune', '--frobnicate'], /Unknown option '--frobnicate'/],
    ]
    for (const [args, message] of cases) {
      const r = await run(...args)
      expect(r.code, `mxd privacy ${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr).toMatch(message)
      expect(r.stderr).toContain('usage: mxd privacy finetune --run ID')
      expect(r.stdout).toBe('')
    }
  }, 300_000)

  it('reports what the server refuses with exit 1, and prints its help with exit 0', async () => {
    const store = tempStore()
    const noRun = await mxd(['privacy', 'finetune', '--run', '5', '--protect', 'class:0', '--store', store])
    expect(noRun.code).toBe(1)
    expect(noRun.stderr).toContain('mxd privacy: There is no run 5: list the classifier runs with "mxd runs".')
    const noCert = await mxd(['privacy', 'attack', '--certificate', '3', '--gaussian', '0.1', '--store', store])
    expect(noCert.code).toBe(1)
    expect(noCert.stderr).toContain('There is no certificate #3')
    const noFolder = await mxd(['privacy', 'verify', join(store, 'elsewhere'), '--store', store])
    expect(noFolder.code).toBe(1)
    expect(noFolder.stderr).toMatch(/elsewhere has no certificate\.json: choose a certificate folder/)
    const verifyId = await mxd(['privacy', 'verify', '--certificate', '1', '--json', '--store', store])
    expect(verifyId.code).toBe(1)
    expect(verifyId.stderr).toContain('There is no certificate #1')

    const help = await mxd(['privacy', '--help'])
    expect(help.code).toBe(0)
    for (const sub of ['finetune', 'certify', 'attack', 'verify']) expect(help.stdout).toContain(`mxd privacy ${sub}`)
    expect(help.stdout).toContain('indices:FILE (training-split indices')
    expect((await mxd(['--help'])).stdout).toMatch(/privacy +Test-time privacy/)
  }, 120_000)
})
