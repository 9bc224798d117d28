import { resolve } from 'node:path'
import { FASHION_MNIST_DEBIAN_PATH } from '../../data/images/known.js'
import type { ImageDataset } from '../../shared/images.js'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'

const FASHION_MNIST = FASHION_MNIST_DEBIAN_PATH

export const images: Command = {
  name: 'images',
  summary: 'Image datasets: "add PATH" registers an MNIST-layout IDX folder or a folder of images by class; "list" lists them; "locations" shows known installs.',
  usage:
    'mxd images add PATH|--fashion-mnist [--validation FRACTION] [--test FRACTION] [--seed N] [--classes A,B,…] [--channels 1|3] [--json]\n' +
    '       mxd images list [--json]\n' +
    '       mxd images locations [--json]',
  options: {
    'fashion-mnist': { type: 'boolean', default: false },
    validation: { type: 'string' },
    test: { type: 'string' },
    seed: { type: 'string' },
    classes: { type: 'string' },
    channels: { type: 'string' },
  },
  async run(ctx) {
    const [sub, ...rest] = ctx.positionals
    const backend = await ctx.backend()
    if (sub === 'list' || sub === undefined) {
      const list = await backend.call('images.list', {})
      if (ctx.json) ctx.printJson(list)
      else if (list.length === 0) ctx.print('No image datasets yet. Try: mxd images add --fashion-mnist, or mxd images add PATH')
      else for (const d of list) ctx.print(summaryLine(d))
      return 0
    }
    if (sub === 'locations') {
      const locations = await backend.call('images.listLocations', {})
      if (ctx.json) ctx.printJson(locations)
      else for (const l of locations) ctx.print(`${l.name}: ${l.path} · ${l.present ? 'installed' : `not installed: ${l.install}`}`)
      return 0
    }
    if (sub !== 'add') throw new UsageError(`unknown subcommand "${sub}"`)
    const fashion = ctx.values['fashion-mnist'] === true
    if (rest.length !== (fashion ? 0 : 1)) throw new UsageError(fashion ? '--fashion-mnist takes no PATH' : 'add takes one PATH: an IDX folder or a folder of images by class')
    const path = fashion ? FASHION_MNIST : resolve(rest[0]!)
    if (fashion) {
      const known = (await backend.call('images.listLocations', {})).find((l) => l.path === FASHION_MNIST)
      if (known && !known.present) throw new Error(`Fashion-MNIST is not installed at ${FASHION_MNIST}: ${known.install}.`)
    }
    const d = await backend.call('images.add', { path, ...options(ctx.values) })
    if (ctx.json) ctx.printJson(d)
    else {
      ctx.print(summaryLine(d))
      ctx.print(`  classes: ${d.classes.map((c, i) => `${c} (${d.counts.train[i]}/${d.counts.validation[i]}/${d.counts.test[i]})`).join(', ')}`)
      if (d.previousSha256) ctx.print(`  its content changed since it was last registered (was sha256 ${d.previousSha256.slice(0, 12)}…)`)
    }
    return 0
  },
}

function fraction(value: unknown, flag: string): number | undefined {
  if (typeof value !== 'string') return undefined
  const n = Number(value)
  if (!(n >= 0 && n < 1)) throw new UsageError(`--${flag} is a fraction in [0, 1), such as 0.1, not "${value}"`)
  return n
}

function options(values: Record<string, unknown>): { validationFraction?: number; testFraction?: number; seed?: number; classNames?: string[]; channels?: 1 | 3 } {
  const out: ReturnType<typeof options> = {}
  const validation = fraction(values.validation, 'validation')
  if (validation !== undefined) out.validationFraction = validation
  const test = fraction(values.test, 'test')
  if (test !== undefined) out.testFraction = test
  if (typeof values.seed === 'string') {
    const seed = Number(values.seed)
    if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed is a whole number ≥ 0, not "${values.seed}"`)
    out.seed = seed
  }
  if (typeof values.classes === 'string') out.classNames = values.classes.split(',').map((c) => c.trim())
  if (typeof values.channels === 'string') {
    if (values.channels !== '1' && values.channels !== '3') throw new UsageError(`--channels is 1 (grayscale) or 3 (RGB), not "${values.channels}"`)
    out.channels = values.channels === '1' ? 1 : 3
  }
  return out
}

function summaryLine(d: ImageDataset): string {
  const { height, width, channels } = d.shape
  const status = d.status === 'ok' ? '' : ` · ${d.status} since registered: run "mxd images add ${d.path}" again`
  return (
    `${String(d.id).padStart(4)}  ${d.name} · ${d.format} · ${d.images} images ${height}×${width}×${channels} · ${d.classes.length} classes` +
    ` · train ${d.splitSizes.train} / validation ${d.splitSizes.validation} / test ${d.splitSizes.test} · sha256 ${d.sha256.slice(0, 12)}…${status}`
  )
}
