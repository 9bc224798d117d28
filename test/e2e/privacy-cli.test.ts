// `mxd privacy` as a user runs it, in real processes on a real store: the usage errors (exit 2,
// the reason and the usage), the server's refusals (exit 1, the reason), --help, and real runs on
// one logistic regression trained by `mxd classify train` on the planted 8×8 set: certify --out
// (the folder's files, σ against the formula), verify of that folder, of a copy with an altered
// number (exit 1, the failing check named) and of a copy with altered weight bytes (the file
// named), verify --certificate, finetune (distance down ≥ 3×), attack on the certificate, and
// --protect indices:FILE.
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import type { PrivacyRunState } from '../../src/shared/privacy.js'
import { mxd } from '../helpers/mxd-cli.js'
import { tempStore } from '../helpers/web-process.js'
import { writePlantedIdx } from '../unit/classify/planted.js'

/** The last line of a --json run: the run's final state (progress lines come before it). */
const lastJson = <T = PrivacyRunState>(stdout: string): T => JSON.parse(stdout.trim().split('\n').at(-1)!) as T

describe('mxd privacy', () => {
  it('answers usage errors with exit 2, the reason and the usage', async () => {
    const store = tempStore()
    const run = (...args: string[]) => mxd(['privacy', ...args, '--store', store])
    const indices = join(store, 'protect.txt')
    writeFileSync(indices, '1, 2 3\n4,x5\n')
    const missing = join(store, 'nope.txt')
    // A complete certify command line, less the flags in `omit`, with those in `set` replaced or added.
    const certify = (omit: string[], set: Record<string, string> = {}): string[] => {
      const flags = { '--run': '1', '--protect': 'class:0', '--theta': '0.5', '--lambda': '0.01', '--norm-bound': '10', '--epsilon': '1', '--delta': '1e-5', '--out': 'x', ...set }
      return ['certify', ...Object.entries(flags).filter(([flag]) => !omit.includes(flag)).flat()]
    }
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
      [certify(['--theta']), /--theta is required: a certificate states every one of its parameters/],
      [certify(['--out']), /--out is required/],
      [certify([], { '--delta': '2' }), /delta: /],
      [certify([], { '--solver': 'qr' }), /solver\.method: /],
      [['attack', '--fgsm', '0.1'], /give either --run ID --protect \.\.\. \(a classifier run\) or --certificate ID/],
      [['attack', '--run', '1', '--certificate', '2', '--fgsm', '0.1'], /give either --run/],
      [['attack', '--certificate', '2', '--protect', 'class:0', '--fgsm', '0.1'], /--protect goes with --run/],
      [['attack', '--certificate', 'two', '--fgsm', '0.1'], /--certificate takes a certificate id \(a whole number\), not "two"/],
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

  describe('real runs on one trained classifier', () => {
    const store = tempStore()
    const out = join(store, 'cert-out')
    const run = (...args: string[]) => mxd(['privacy', ...args, '--store', store])
    // The certificate settings of test/unit/privacy/jobs.test.ts (reverse KL: strongly convex).
    const CERTIFY = ['--protect', 'class:1:6:2', '--loss', 'reverse-kl', '--theta', '0.75', '--lambda', '0.05', '--norm-bound', '60', '--epsilon', '1', '--delta', '1e-5', '--seed', '7']
    let trainRun: number
    let cert: NonNullable<PrivacyRunState['certify']>

    beforeAll(async () => {
      const data = writePlantedIdx(join(store, 'planted'), { train: 40, test: 10 })
      const train = await mxd(['classify', 'train', '--data', data, '--model', 'logreg', '--epochs', '4', '--batch', '16', '--optimizer', 'adamw', '--lr', '0.01', '--seed', '1', '--json', '--store', store])
      expect(train.code, train.stderr).toBe(0)
      trainRun = lastJson<{ runId: number }>(train.stdout).runId
      const certify = await run('certify', '--run', String(trainRun), ...CERTIFY, '--out', out, '--json')
      expect(certify.code, certify.stderr).toBe(0)
      const state = lastJson(certify.stdout)
      expect(state).toMatchObject({ kind: 'privacy-certify', status: 'succeeded' })
      cert = state.certify!
    }, 300_000)

    it('certify --out DIR --json: σ and Δ as the certificate states them, and the folder written', () => {
      for (const f of ['certificate.json', 'w-star.safetensors', 'w-minus.safetensors', 'released/config.json', 'released/model.safetensors', 'protected.json', 'report.html'])
        expect(existsSync(join(out, f)), f).toBe(true)
      const json = JSON.parse(readFileSync(join(out, 'certificate.json'), 'utf8'))
      expect(cert.certificateId).toBe(1)
      expect(json.sigma).toBe(cert.sigma)
      expect(json.sensitivity.value).toBe(cert.sensitivity)
      // The Gaussian mechanism, by hand: σ = (Δ/ε)·√(2 ln(1.25/δ)).
      expect(cert.sigma / ((cert.sensitivity / 1) * Math.sqrt(2 * Math.log(1.25 / 1e-5))) - 1).toBeLessThan(1e-12)
      expect(cert.sensitivity).toBeGreaterThan(0)
      expect(JSON.parse(readFileSync(join(out, 'protected.json'), 'utf8')).forget).toHaveLength(6)
      expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<html')
    })

    it('certify says plainly, in words, that the model is not useful, with σ and the ε there would be', async () => {
      const text = await run('certify', '--run', String(trainRun), ...CERTIFY, '--out', join(store, 'cert-text'))
      expect(text.code, text.stderr).toBe(0)
      expect(text.stdout).toContain(`copied to ${join(store, 'cert-text')}`)
      // Same settings and seed: the same σ, and (honest constants) the same verdict as the JSON run.
      expect(cert.useful).toBe(false)
      const sigma = cert.sigma.toExponential(4)
      const eps = cert.usefulness.epsilonForUseful
      expect(text.stdout).toContain(
        `  NOT useful: at σ ${sigma} (ε 1) the released model has lost its accuracy; ${eps === null ? 'no ε ≤ 1000 would make it useful' : `it would take ε ≈ ${eps.toPrecision(3)}`}`,
      )
      expect(text.stdout).toContain(cert.usefulness.note)
      expect(text.stdout).not.toMatch(/NOT useful: Not useful/)
    }, 120_000)

    it('verify DIR passes (exit 0) and lists every check; so does verify --certificate ID', async () => {
      const json = await run('verify', out, '--json')
      expect(json.code, json.stderr).toBe(0)
      const v = lastJson(json.stdout).verify!
      expect(v.pass).toBe(true)
      expect(v.checks.length).toBeGreaterThan(20)
      const text = await run('verify', out)
      expect(text.code).toBe(0)
      for (const c of v.checks) expect(text.stdout).toContain(`  pass  ${c.name}: `)
      expect(text.stdout).toContain(`every check passed for ${out}`)
      const byId = await run('verify', '--certificate', String(cert.certificateId), '--json')
      expect(byId.code, byId.stderr).toBe(0)
      expect(lastJson(byId.stdout).verify).toMatchObject({ pass: true, dir: cert.dir })
    }, 120_000)

    it('verify of a copy with σ altered exits 1 naming the failing check', async () => {
      const copy = join(store, 'tampered-sigma')
      cpSync(out, copy, { recursive: true })
      const path = join(copy, 'certificate.json')
      const json = JSON.parse(readFileSync(path, 'utf8'))
      json.sigma *= 1.001
      writeFileSync(path, JSON.stringify(json))
      const r = await run('verify', copy, '--json')
      expect(r.code).toBe(1)
      const v = lastJson(r.stdout).verify!
      expect(v.pass).toBe(false)
      const failing = v.checks.filter((c) => !c.pass).map((c) => c.name)
      expect(failing.join(' | ')).toMatch(/^σ = /)
      const text = await run('verify', copy)
      expect(text.code).toBe(1)
      expect(text.stdout).toContain(`  FAIL  ${failing[0]}: stored ${json.sigma}`)
      expect(text.stdout).toContain(`verification FAILED for ${copy}`)
    }, 120_000)

    it("verify of a copy with a weight file's bytes altered fails, naming the file", async () => {
      const copy = join(store, 'tampered-bytes')
      cpSync(out, copy, { recursive: true })
      const path = join(copy, 'w-minus.safetensors')
      const bytes = readFileSync(path)
      bytes[bytes.length - 3]! ^= 0xff
      writeFileSync(path, bytes)
      const r = await run('verify', copy)
      expect(r.code).toBe(1)
      expect(r.stdout).toMatch(/FAIL .*tampered-bytes\/w-minus\.safetensors does not match certificate\.json/)
      expect(r.stdout).toContain(`verification FAILED for ${copy}`)
      const json = await run('verify', copy, '--json')
      expect(json.code).toBe(1)
      const v = lastJson(json.stdout).verify!
      expect(v.pass).toBe(false)
      expect(v.checks.find((c) => !c.pass)!.recomputed).toContain(path)
    }, 120_000)

    it('finetune lowers the forget distance at least 3×', async () => {
      const r = await run('finetune', '--run', String(trainRun), '--protect', 'class:1:6', '--theta', '0.9', '--lr', '0.05', '--epochs', '30', '--json')
      expect(r.code, r.stderr).toBe(0)
      const f = lastJson(r.stdout).finetune!
      expect(f.protected.forget).toBe(6)
      expect(f.before.forget.distance).toBeGreaterThan(0.3) // the trained model is confident on D_f
      expect(f.after.forget.distance * 3).toBeLessThan(f.before.forget.distance)
      expect(f.epochs.find((e) => e.epoch === f.kept.epoch)!.forgetDistance).toBeCloseTo(f.after.forget.distance, 6)
    }, 120_000)

    it("attack --certificate ID runs FGSM on the certificate's released model", async () => {
      const r = await run('attack', '--certificate', String(cert.certificateId), '--fgsm', '0.1', '--json')
      expect(r.code, r.stderr).toBe(0)
      const a = lastJson(r.stdout).attack!
      expect(a.attacks).toHaveLength(1)
      expect(a.attacks[0]).toMatchObject({ kind: 'fgsm', radius: 0.1, steps: 1 })
      // Before the attack the released model is exactly as the certificate measured it.
      expect(a.attacks[0]!.distanceBefore).toBeCloseTo(cert.released.forget.distance, 5)
      const text = await run('attack', '--certificate', String(cert.certificateId), '--fgsm', '0.1')
      expect(text.stdout).toMatch(/ {2}fgsm r=0\.1: distance \d\.\d{4} → \d\.\d{4}, confident/)
    }, 120_000)

    it('--protect indices:FILE protects exactly those indices; a bad file exits 2 naming the file and line', async () => {
      const file = join(store, 'indices.txt')
      writeFileSync(file, '3 5\n7,9\n\n11\n')
      const r = await run('finetune', '--run', String(trainRun), '--protect', `indices:${file}`, '--epochs', '2', '--json')
      expect(r.code, r.stderr).toBe(0)
      const state = lastJson(r.stdout)
      expect(state.config.protect).toEqual({ by: 'indices', indices: [3, 5, 7, 9, 11] })
      expect(state.finetune!.protected.forget).toBe(5)

      const repeated = join(store, 'repeated.txt')
      writeFileSync(repeated, '3 5\n7\n5\n')
      const bad = await run('finetune', '--run', String(trainRun), '--protect', `indices:${repeated}`)
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain(`${repeated}, line 3: index 5 is already listed on line 1`)
      // An index the file may hold but the split lacks is the server's to refuse (exit 1).
      writeFileSync(repeated, '3\n9999\n')
      const past = await run('finetune', '--run', String(trainRun), '--protect', `indices:${repeated}`)
      expect(past.code).toBe(1)
      expect(past.stderr).toMatch(/Index 9999 is past the end of the training split/)
    }, 120_000)
  })
})
