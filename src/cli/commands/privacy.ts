// `mxd privacy SUBCOMMAND`: test-time privacy (docs/privacy.md).
//   finetune — Pareto fine-tuning of a trained classifier (job privacy-finetune), followed to the end.
//   certify  — the certified Newton step plus calibrated noise (job privacy-certify); --out DIR
//              also writes the certificate folder there.
//   attack   — Gaussian / FGSM / PGD attacks on the protected set (job privacy-attack).
//   verify   — recomputes a certificate from its folder (job privacy-verify); exit 0 only when
//              every check passes, 1 when one fails.
// The protected set is one flag, --protect, in the forms parseProtect reads.
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { z } from 'zod'
import type { Backend } from '../../backend/backend.js'
import {
  MAX_PROTECTED_INDICES,
  PrivacyAttackConfig,
  PrivacyCertifyConfig,
  PrivacyFinetuneConfig,
  PrivacyVerifyConfig,
  type ModelReport,
  type PrivacyRunState,
  type ProtectSpec,
} from '../../shared/privacy.js'
import type { Command, CommandContext } from '../command.js'
import { UsageError } from '../command.js'
import { followRun } from '../follow.js'
import { number, str } from './classify.js'

const PROTECT_FORMS = 'class:C[:COUNT[:SEED]], random:K[:SEED] or indices:FILE'
const ATTACK_USAGE = '[--gaussian R[:SEED]] [--fgsm R] [--pgd R:STEPS:STEP] [--confident-above P]'
const SWEEP_USAGE = '[--sweep 0.25,0.5,...]'

const whole = (flag: string, text: string): number => {
  const n = number(flag, text)
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${flag}: "${text}" is not a whole number`)
  return n
}

/** The integers of an indices file: whitespace- or comma-separated, one error naming the file and line. */
export async function readIndexFile(path: string): Promise<number[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new UsageError(
      `--protect indices:${path}: the file cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a file of training-split indices`,
    )
  }
  const out: number[] = []
  // The line each index was first seen on, so a repeat is reported where both can be found.
  const firstLine = new Map<number, number>()
  text.split('\n').forEach((line, i) => {
    for (const token of line.split(/[\s,]+/)) {
      if (token === '') continue
      if (!/^\d+$/.test(token))
        throw new UsageError(
          `${path}, line ${i + 1}: "${token.slice(0, 40)}" is not an index (whole numbers ≥ 0, separated by spaces, commas or newlines)`,
        )
      const index = Number(token)
      const seen = firstLine.get(index)
      if (seen !== undefined)
        throw new UsageError(`${path}, line ${i + 1}: index ${index} is already listed on line ${seen}; list each protected image once`)
      firstLine.set(index, i + 1)
      out.push(index)
    }
  })
  if (out.length === 0) throw new UsageError(`${path} holds no indices: list the training-split indices to protect`)
  if (out.length > MAX_PROTECTED_INDICES)
    throw new UsageError(`${path} holds ${out.length} indices, over the ${MAX_PROTECTED_INDICES} a protected set may list`)
  return out
}

/** --protect TEXT → a ProtectSpec (checked against the data by the server). */
export async function parseProtect(text: string | undefined): Promise<ProtectSpec> {
  if (text === undefined) throw new UsageError(`--protect ${PROTECT_FORMS} is required`)
  const [by, ...rest] = text.split(':')
  if (by === 'indices') {
    if (rest.length === 0 || rest.join(':') === '') throw new UsageError('--protect indices:FILE needs a file name')
    return { by: 'indices', indices: await readIndexFile(resolve(rest.join(':'))) }
  }
  const nums = rest.map((t) => whole('protect', t))
  if (by === 'class' && nums.length >= 1 && nums.length <= 3) {
    return {
      by: 'class',
      class: nums[0]!,
      ...(nums[1] !== undefined ? { count: nums[1] } : {}),
      ...(nums[2] !== undefined ? { seed: nums[2] } : {}),
    }
  }
  if (by === 'random' && nums.length >= 1 && nums.length <= 2)
    return { by: 'random', count: nums[0]!, ...(nums[1] !== undefined ? { seed: nums[1] } : {}) }
  throw new UsageError(`--protect is ${PROTECT_FORMS}, not "${text}"`)
}

function attacksFrom(ctx: CommandContext): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const g = str(ctx, 'gaussian')
  if (g !== undefined) {
    const [r, seed] = g.split(':')
    out.gaussian = { radius: number('gaussian', r!), ...(seed !== undefined ? { seed: whole('gaussian', seed) } : {}) }
  }
  const f = str(ctx, 'fgsm')
  if (f !== undefined) out.fgsm = { radius: number('fgsm', f) }
  const p = str(ctx, 'pgd')
  if (p !== undefined) {
    const parts = p.split(':')
    if (parts.length !== 3) throw new UsageError(`--pgd is RADIUS:STEPS:STEP_SIZE (e.g. 0.1:50:0.001), not "${p}"`)
    out.pgd = { radius: number('pgd', parts[0]!), steps: whole('pgd', parts[1]!), stepSize: number('pgd', parts[2]!) }
  }
  const c = str(ctx, 'confident-above')
  if (c !== undefined) out.confidentAbove = number('confident-above', c)
  return out
}

const sweepFrom = (ctx: CommandContext): number[] | undefined =>
  str(ctx, 'sweep')
    ?.split(',')
    .map((t) => number('sweep', t.trim()))

function idFlag(ctx: CommandContext, flag: 'run' | 'certificate' = 'run'): number | undefined {
  const v = str(ctx, flag)
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v) || Number(v) === 0) throw new UsageError(`--${flag} takes a ${flag} id (a whole number), not "${v}"`)
  return Number(v)
}

/** The objective flags (--theta, --lambda, --loss, --temperature). */
function objectiveFrom(ctx: CommandContext): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  for (const [flag, key] of [
    ['theta', 'theta'],
    ['lambda', 'lambda'],
    ['temperature', 'temperature'],
  ] as const) {
    const v = str(ctx, flag)
    if (v !== undefined) o[key] = number(flag, v)
  }
  if (str(ctx, 'loss') !== undefined) o.lossK = str(ctx, 'loss')
  return o
}

/** A request checked by its schema here, so a bad flag is a usage error (exit 2) naming the field. */
function checked<S extends z.ZodType>(schema: S, raw: Record<string, unknown>): z.input<S> {
  const parsed = schema.safeParse(raw)
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; '))
  return raw as z.input<S>
}

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`
const modelLine = (name: string, m: ModelReport): string =>
  `  ${name.padEnd(10)} distance on D_f ${m.forget.distance.toFixed(4)}, D_f accuracy ${pct(m.forget.accuracy)}, retain ${pct(m.retainAccuracy)}, test ${pct(m.testAccuracy)}`

function stateText(s: PrivacyRunState): string[] {
  const lines: string[] = []
  const attacks = s.finetune?.attacks ?? s.certify?.attacks ?? s.attack?.attacks ?? []
  if (s.finetune) {
    const r = s.finetune
    lines.push(
      `  protected ${r.protected.forget} images, retained ${r.protected.retain}; kept epoch ${r.kept.epoch} (${r.kept.reason})`,
      modelLine('before', r.before),
      modelLine('after', r.after),
      `  model folder ${r.modelDir}`,
    )
  }
  if (s.certify) {
    const r = s.certify
    const outDir = s.config.outDir
    const e = r.usefulness.epsilonForUseful
    lines.push(
      `  certificate #${r.certificateId} in ${r.dir}${typeof outDir === 'string' ? `, copied to ${outDir}` : ''}`,
      `  ε ${r.epsilon}, δ ${r.delta}, Δ ${r.sensitivity.toExponential(4)}, σ ${r.sigma.toExponential(4)}`,
      modelLine('w*', r.before),
      modelLine('w⁻', r.newtonModel),
      modelLine('released', r.released),
      // The verdict first, in one line a user cannot miss; the job's note (with the numbers) after it.
      r.useful
        ? `  useful at σ ${r.sigma.toExponential(4)} (ε ${r.epsilon})`
        : `  NOT useful: at σ ${r.sigma.toExponential(4)} (ε ${r.epsilon}) the released model has lost its accuracy; ` +
          (e === null ? 'no ε ≤ 1000 would make it useful' : `it would take ε ≈ ${e.toPrecision(3)}`),
      `  ${r.usefulness.note}`,
    )
  }
  for (const p of s.finetune?.sweep ?? s.certify?.sweep ?? []) {
    lines.push(
      `  θ ${p.theta}: distance ${p.forgetDistance.toFixed(4)}, test ${pct(p.testAccuracy)}, retain-loss change ${p.retainLossChange.toExponential(3)}, bound ${p.bound === null ? '—' : p.bound.toExponential(3)}`,
    )
  }
  for (const a of attacks) {
    lines.push(
      `  ${a.kind} r=${a.radius}${a.steps > 1 ? ` ${a.steps} steps` : ''}: distance ${a.distanceBefore.toFixed(4)} → ${a.distanceAfter.toFixed(4)}, confident ${pct(a.confidentFraction)} (p > ${a.confidentAbove})`,
    )
  }
  if (s.verify) {
    for (const c of s.verify.checks)
      lines.push(`  ${c.pass ? 'pass' : 'FAIL'}  ${c.name}: stored ${c.stored}, recomputed ${c.recomputed} (${c.tolerance})`)
    lines.push(`  ${s.verify.pass ? 'every check passed' : 'verification FAILED'} for ${s.verify.dir}`)
  }
  return lines
}

/** Follows the run to its end and prints it; exit 0 only when it succeeded (and, for verify, passed). */
async function finish(ctx: CommandContext, backend: Backend, id: number): Promise<number> {
  const detail = await followRun(ctx, backend, id)
  const state = await backend.call('privacy.get', { runId: id })
  if (ctx.json) ctx.printJson(state)
  else {
    ctx.print(`run ${id} ${detail.run.status}${detail.run.error ? `: ${detail.run.error}` : ''}`)
    for (const line of stateText(state)) ctx.print(line)
  }
  if (state.kind === 'privacy-verify') return state.verify?.pass === true && detail.run.status === 'succeeded' ? 0 : 1
  return detail.run.status === 'succeeded' ? 0 : 1
}

interface Subcommand {
  usage: string
  run(ctx: CommandContext, args: string[]): Promise<number>
}

const noArgs = (args: string[]): void => {
  if (args.length > 0) throw new UsageError(`unexpected argument "${args[0]}"`)
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  finetune: {
    usage:
      `mxd privacy finetune --run ID --protect ${PROTECT_FORMS} [--theta T] [--lambda L] [--loss forward-kl|reverse-kl|squared] [--temperature T] ` +
      `[--epochs N] [--lr LR] [--optimizer adam|sgd] [--batch B] [--surgery] [--project-norm C] [--retain-floor A] ${SWEEP_USAGE} ${ATTACK_USAGE} [--seed S] [--json]`,
    async run(ctx, args) {
      noArgs(args)
      const trainRunId = idFlag(ctx)
      if (trainRunId === undefined) throw new UsageError('--run ID is required (a finished "mxd classify train" run)')
      const raw: Record<string, unknown> = {
        trainRunId,
        protect: await parseProtect(str(ctx, 'protect')),
        objective: objectiveFrom(ctx),
        attacks: attacksFrom(ctx),
      }
      for (const [flag, key] of [
        ['epochs', 'epochs'],
        ['lr', 'lr'],
        ['batch', 'batch'],
        ['project-norm', 'projectNorm'],
        ['retain-floor', 'retainFloor'],
        ['seed', 'seed'],
      ] as const) {
        const v = str(ctx, flag)
        if (v !== undefined) raw[key] = number(flag, v)
      }
      if (str(ctx, 'optimizer') !== undefined) raw.optimizer = str(ctx, 'optimizer')
      if (ctx.values.surgery === true) raw.surgery = true
      const sweep = sweepFrom(ctx)
      if (sweep) raw.sweep = sweep
      const request = checked(PrivacyFinetuneConfig, raw)
      const backend = await ctx.backend()
      const { runId: id } = await backend.call('privacy.finetune', request)
      if (!ctx.json) ctx.print(`run ${id}: Pareto fine-tuning classifier run ${trainRunId}`)
      return finish(ctx, backend, id)
    },
  },
  certify: {
    usage:
      `mxd privacy certify --run ID --protect ${PROTECT_FORMS} --theta T --lambda L --norm-bound C --epsilon E --delta D [--loss ...] [--temperature T] ` +
      `[--seed S] [--solver auto|cholesky|cg] ${SWEEP_USAGE} ${ATTACK_USAGE} --out DIR [--json]`,
    async run(ctx, args) {
      noArgs(args)
      const trainRunId = idFlag(ctx)
      if (trainRunId === undefined) throw new UsageError('--run ID is required (a finished "mxd classify train" run of a logreg or mlp)')
      for (const flag of ['theta', 'lambda', 'norm-bound', 'epsilon', 'delta', 'out']) {
        if (str(ctx, flag) === undefined) throw new UsageError(`--${flag} is required: a certificate states every one of its parameters`)
      }
      const raw: Record<string, unknown> = {
        trainRunId,
        protect: await parseProtect(str(ctx, 'protect')),
        objective: objectiveFrom(ctx),
        normBound: number('norm-bound', str(ctx, 'norm-bound')!),
        epsilon: number('epsilon', str(ctx, 'epsilon')!),
        delta: number('delta', str(ctx, 'delta')!),
        attacks: attacksFrom(ctx),
        outDir: resolve(str(ctx, 'out')!),
      }
      if (str(ctx, 'seed') !== undefined) raw.seed = number('seed', str(ctx, 'seed')!)
      if (str(ctx, 'solver') !== undefined) raw.solver = { method: str(ctx, 'solver') }
      const sweep = sweepFrom(ctx)
      if (sweep) raw.sweep = sweep
      const request = checked(PrivacyCertifyConfig, raw)
      const backend = await ctx.backend()
      const { runId: id } = await backend.call('privacy.certify', request)
      if (!ctx.json) ctx.print(`run ${id}: certifying classifier run ${trainRunId} (certificate folder ${raw.outDir as string})`)
      return finish(ctx, backend, id)
    },
  },
  attack: {
    usage: `mxd privacy attack (--run ID --protect ${PROTECT_FORMS} | --certificate ID) ${ATTACK_USAGE} [--json]`,
    async run(ctx, args) {
      noArgs(args)
      const trainRunId = idFlag(ctx)
      const cert = idFlag(ctx, 'certificate')
      if ((trainRunId === undefined) === (cert === undefined))
        throw new UsageError("give either --run ID --protect ... (a classifier run) or --certificate ID (a certificate's released model)")
      if (cert !== undefined && str(ctx, 'protect') !== undefined)
        throw new UsageError('--protect goes with --run: a certificate brings its own protected set')
      const raw: Record<string, unknown> =
        trainRunId !== undefined
          ? { target: { runId: trainRunId }, protect: await parseProtect(str(ctx, 'protect')), attacks: attacksFrom(ctx) }
          : { target: { certificateId: cert }, attacks: attacksFrom(ctx) }
      const attacks = raw.attacks as Record<string, unknown>
      if (!attacks.gaussian && !attacks.fgsm && !attacks.pgd)
        throw new UsageError('name at least one attack: --gaussian R, --fgsm R or --pgd R:STEPS:STEP')
      const request = checked(PrivacyAttackConfig, raw)
      const backend = await ctx.backend()
      const { runId: id } = await backend.call('privacy.attack', request)
      if (!ctx.json) ctx.print(`run ${id}: attacking ${trainRunId !== undefined ? `classifier run ${trainRunId}` : `certificate #${cert}`}`)
      return finish(ctx, backend, id)
    },
  },
  verify: {
    usage: 'mxd privacy verify DIR|--certificate ID [--json]   (exit 0: every check passed; 1: a check failed)',
    async run(ctx, args) {
      const cert = idFlag(ctx, 'certificate')
      if (args.length > 1) throw new UsageError(`unexpected argument "${args[1]}"`)
      if ((args.length === 1) === (cert !== undefined)) throw new UsageError('give either a certificate folder (DIR) or --certificate ID')
      const request = checked(PrivacyVerifyConfig, { certificate: cert !== undefined ? { id: cert } : { dir: resolve(args[0]!) } })
      const backend = await ctx.backend()
      const { runId: id } = await backend.call('privacy.verify', request)
      if (!ctx.json) ctx.print(`run ${id}: verifying ${cert !== undefined ? `certificate #${cert}` : resolve(args[0]!)}`)
      return finish(ctx, backend, id)
    },
  },
}

const STRING_OPTIONS = [
  'run',
  'protect',
  'theta',
  'lambda',
  'loss',
  'temperature',
  'epochs',
  'lr',
  'optimizer',
  'batch',
  'project-norm',
  'retain-floor',
  'sweep',
  'gaussian',
  'fgsm',
  'pgd',
  'confident-above',
  'seed',
  'norm-bound',
  'epsilon',
  'delta',
  'solver',
  'out',
  'certificate',
]

export const privacy: Command = {
  name: 'privacy',
  summary:
    'Test-time privacy: "finetune" makes a classifier maximally uncertain on a protected set (Pareto fine-tuning); "certify" issues an (ε, δ) certificate for logreg/MLP; "attack" tries to recover confidence; "verify" re-checks a certificate.',
  usage:
    Object.values(SUBCOMMANDS)
      .map((s) => s.usage)
      .join('\n       ') +
    `\n\n  --protect    class:C (every training image of class C), class:C:COUNT[:SEED] (COUNT of them drawn with SEED),` +
    `\n               random:K[:SEED] (K training images drawn with SEED), indices:FILE (training-split indices, separated by spaces, commas or newlines)` +
    `\n  --theta      weight of the uncertainty loss on the protected set, in (0, 1); --lambda the L2 weight` +
    `\n  --sweep      further θ values for the trade-off curve; --gaussian/--fgsm/--pgd radii in pixel units of [0, 1]`,
  options: {
    ...Object.fromEntries(STRING_OPTIONS.map((o) => [o, { type: 'string' as const }])),
    surgery: { type: 'boolean', default: false },
  },
  async run(ctx) {
    const [sub, ...args] = ctx.positionals
    const entry = sub === undefined ? undefined : SUBCOMMANDS[sub]
    if (!entry)
      throw new UsageError(
        `${sub === undefined ? 'a subcommand is needed' : `unknown subcommand "${sub}"`}: ${Object.keys(SUBCOMMANDS).join(', ')}`,
      )
    return entry.run(ctx, args)
  },
}
