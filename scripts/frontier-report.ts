// The sparsity–accuracy frontier of one model's layer (issue 6, acceptance 3): reads the runs of a
// store through the API (convert.getFrontier for the points, runs.get for each run's config, training
// curve and timing) and writes
//   docs/data/frontier-table.md    the table, Markdown (per kind and K: parameters, L0, NMSE, FVU,
//                                  CE_clean, CE_spliced, CE_zero, loss recovered, dead experts)
//   docs/data/frontier-results.json  the same rows, the setup, and each run's training curve
//   docs/img/frontier-nmse.svg     K vs held-out NMSE (log–log), one line per layer kind
//   docs/img/frontier-ce.svg       K vs CE_spliced (log x), CE_clean and CE_zero dashed
//   docs/img/frontier-training.svg training NMSE against tokens seen, one panel per K
//   docs/data/frontier-seeds.md    with --seed-store: per kind and K that more than one store has,
//                                  each seed's NMSE and spliced-CE gap, their mean and spread
// The charts are plain SVG written here (no chart library). With --seed-store the NMSE and CE
// charts draw, at every K the extra stores cover, a bar over the seeds' range (min to max).
//
//   npx tsx scripts/frontier-report.ts --store DIR --model DIR --layer L [--out docs] [--command TEXT]
//                                      [--seed-store DIR ...]  (the same sweep at other seeds)
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { Backend } from '../src/backend/backend.js'
import type { FrontierPoint } from '../src/shared/convert-eval.js'
import type { RunDetail } from '../src/shared/api.js'
import { layerKind, layerKinds, type LayerKindId } from '../src/shared/layer-kinds/index.js'

type Kind = LayerKindId

/** Names from the layer-kind registry; the report's own print palette by the kind's chart slot. */
const PALETTE = ['#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b']
const kindLabel = (kind: Kind): string => layerKind(kind).name
const kindColor = (kind: Kind): string => PALETTE[(layerKind(kind).chartSlot - 1) % PALETTE.length]!

interface Row {
  kind: Kind
  k: number
  runId: number
  width: number
  parameters: number
  l0: number | null
  nmse: number | null
  fvu: number | null
  ceClean: number | null
  ceSpliced: number | null
  ceZero: number | null
  lossRecovered: number | null
  /** Units that never fired on the evaluated held-out tokens. */
  evalDeadFraction: number | null
  /** Units that never fired in the training job's last deadWindow tokens (the whole run when it is shorter). */
  trainDeadFraction: number | null
  trainNmse: number | null
  evalTokens: number | null
  trainSeconds: number | null
  tokensPerSecond: number | null
  config: Record<string, unknown>
  /** Training NMSE (and dead fraction) against tokens seen. */
  curve: { tokens: number; nmse: number; dead: number | null }[]
}

// ------------------------------------------------------------------------------ reading

function metricSeries(detail: RunDetail, name: string): Map<number, number> {
  return new Map(detail.metrics.filter((m) => m.name === name).map((m) => [m.step, m.value]))
}

function lastValue(series: Map<number, number>): number | null {
  if (series.size === 0) return null
  return series.get(Math.max(...series.keys())) ?? null
}

function rowOf(kind: Kind, p: FrontierPoint, detail: RunDetail): Row {
  const evalMetric = (name: string): number | null => {
    const s = metricSeries(detail, name)
    return lastValue(s)
  }
  const batch = Number(detail.run.config.batch)
  const nmse = metricSeries(detail, 'nmse')
  const dead = metricSeries(detail, 'dead_fraction')
  const curve = [...nmse.entries()].sort((a, b) => a[0] - b[0]).map(([step, v]) => ({ tokens: step * batch, nmse: v, dead: dead.get(step) ?? null }))
  const { startedAt, finishedAt } = detail.run
  return {
    kind,
    k: p.k,
    runId: p.runId,
    width: p.width,
    parameters: p.parameters,
    l0: p.l0,
    nmse: p.nmse,
    fvu: evalMetric('eval.fvu'),
    ceClean: p.ce_clean,
    ceSpliced: p.ce_spliced,
    ceZero: p.ce_zero,
    lossRecovered: p.loss_recovered,
    evalDeadFraction: evalMetric('eval.dead_fraction'),
    trainDeadFraction: lastValue(dead),
    trainNmse: lastValue(nmse),
    evalTokens: evalMetric('eval.tokens'),
    trainSeconds: startedAt && finishedAt ? (Date.parse(finishedAt) - Date.parse(startedAt)) / 1000 : null,
    tokensPerSecond: lastValue(metricSeries(detail, 'tokens_per_s')),
    config: detail.run.config,
    curve,
  }
}

// ------------------------------------------------------------------------------ table

const fmt = (v: number | null, digits: number): string => (v === null ? '–' : v.toFixed(digits))
const sci = (v: number | null): string => (v === null ? '–' : v < 0.01 ? v.toExponential(2) : v.toFixed(4))
const pct = (v: number | null): string => (v === null ? '–' : `${(100 * v).toFixed(1)}%`)

function markdownTable(rows: Row[]): string {
  const head =
    '| kind | K | units | parameters | L0 | NMSE | FVU | CE_clean | CE_spliced | CE_zero | loss recovered | dead (held-out) | dead (training) |\n' +
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
  const lines = rows.map(
    (r) =>
      `| ${kindLabel(r.kind)} | ${r.k} | ${r.width.toLocaleString('en-US')} | ${r.parameters.toLocaleString('en-US')} | ${fmt(r.l0, 1)} | ` +
      `${sci(r.nmse)} | ${sci(r.fvu)} | ${fmt(r.ceClean, 4)} | ${fmt(r.ceSpliced, 4)} | ${fmt(r.ceZero, 4)} | ${fmt(r.lossRecovered, 3)} | ` +
      `${pct(r.evalDeadFraction)} | ${pct(r.trainDeadFraction)} |`,
  )
  return [head, ...lines].join('\n') + '\n'
}

interface Versus {
  k: number
  /** The kind with the lowest held-out NMSE at this K. */
  best: Kind | null
  /** MxD's NMSE over the better transcoder's (below 1 favours MxD). */
  nmseRatio: number | null
  /** CE_spliced − CE_clean, nats/token: MxD's and the better transcoder's. */
  mxdGap: number | null
  transcoderGap: number | null
}

/** Per K: MxD against the better of the two transcoders. */
function comparison(rows: Row[]): Versus[] {
  const ks = [...new Set(rows.map((r) => r.k))].sort((a, b) => a - b)
  return ks.map((k) => {
    const at = rows.filter((r) => r.k === k && r.nmse !== null)
    const mxd = at.find((r) => r.kind === 'mxd')
    const others = at.filter((r) => r.kind !== 'mxd')
    const bestOther = (key: (r: Row) => number | null): number | null => {
      const v = others.map(key).filter((x): x is number => x !== null)
      return v.length ? Math.min(...v) : null
    }
    const gap = (r: Row): number | null => (r.ceSpliced !== null && r.ceClean !== null ? r.ceSpliced - r.ceClean : null)
    const otherNmse = bestOther((r) => r.nmse)
    const otherGap = bestOther(gap)
    const mxdGap = mxd ? gap(mxd) : null
    const best = at.length ? at.reduce((a, b) => (b.nmse! < a.nmse! ? b : a)).kind : null
    return { k, best, nmseRatio: mxd?.nmse != null && otherNmse ? mxd.nmse / otherNmse : null, mxdGap, transcoderGap: otherGap }
  })
}

// ------------------------------------------------------------------------------ SVG charts

interface Series {
  name: string
  color: string
  points: [number, number][]
  dashed?: boolean
  markers?: boolean
  /** Vertical bars (x, low, high): the range over seeds. */
  bars?: [number, number, number][]
}

interface ChartSpec {
  title: string
  xLabel: string
  yLabel: string
  xLog: boolean
  yLog: boolean
  series: Series[]
  /** Horizontal dashed reference lines. */
  refs?: { y: number; label: string; color: string; dash: string }[]
  /** Ticks on x (default: chosen from the range). */
  xTicks?: number[]
  width?: number
  height?: number
}

const esc = (s: string): string => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')

function niceLinearTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || Math.abs(hi) || 1
  const raw = span / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag
  const ticks: number[] = []
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)))
  return ticks
}

function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = []
  const decades = Math.log10(hi / lo)
  const mults = decades > 3 ? [1] : decades > 1.2 ? [1, 2, 5] : [1, 1.5, 2, 3, 5, 7]
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of mults) {
      const t = m * 10 ** e
      if (t >= lo * 0.999 && t <= hi * 1.001) ticks.push(Number(t.toPrecision(6)))
    }
  }
  return ticks
}

function tickLabel(v: number): string {
  if (v === 0) return '0'
  const a = Math.abs(v)
  if (a >= 10_000) return `${Number((v / 1000).toPrecision(3))}k`
  if (a >= 0.01) return String(Number(v.toPrecision(3)))
  return v.toExponential(0)
}

function lineChart(spec: ChartSpec): string {
  const W = spec.width ?? 780
  const H = spec.height ?? 420
  // The legend sits outside the plot, on the right, so it never hides a line.
  const m = { left: 72, right: 190, top: 40, bottom: 56 }
  const legendRows = spec.series.length + (spec.refs?.length ?? 0)
  const legendH = 18 * legendRows + 10
  const plotW = W - m.left - m.right
  const plotH = H - m.top - m.bottom
  const xs = spec.series.flatMap((s) => s.points.map((p) => p[0]))
  const ys = [
    ...spec.series.flatMap((s) => [...s.points.map((p) => p[1]), ...(s.bars ?? []).flatMap((b) => [b[1], b[2]])]),
    ...(spec.refs ?? []).map((r) => r.y),
  ].filter(
    (y) => Number.isFinite(y) && (!spec.yLog || y > 0),
  )
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)]
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)]
  if (spec.xLog) [x0, x1] = [x0 / 1.15, x1 * 1.15]
  else [x0, x1] = [Math.min(0, x0), x1 + (x1 - x0) * 0.02]
  if (spec.yLog) [y0, y1] = [y0 / 1.3, y1 * 1.3]
  else {
    const pad = (y1 - y0 || 1) * 0.08
    ;[y0, y1] = [y0 - pad, y1 + pad]
  }
  const sx = (x: number): number => m.left + (spec.xLog ? Math.log(x / x0) / Math.log(x1 / x0) : (x - x0) / (x1 - x0)) * plotW
  const sy = (y: number): number => m.top + plotH - (spec.yLog ? Math.log(y / y0) / Math.log(y1 / y0) : (y - y0) / (y1 - y0)) * plotH
  const xTicks = spec.xTicks ?? (spec.xLog ? logTicks(x0, x1) : niceLinearTicks(x0, x1))
  const yTicks = spec.yLog ? logTicks(y0, y1) : niceLinearTicks(y0, y1)
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(spec.title)}</text>`)
  // Grid and ticks.
  for (const t of yTicks) {
    const y = sy(t).toFixed(1)
    out.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`)
    out.push(`<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#444">${tickLabel(t)}</text>`)
  }
  for (const t of xTicks) {
    if (t < x0 || t > x1) continue
    const x = sx(t).toFixed(1)
    out.push(`<line x1="${x}" x2="${x}" y1="${m.top}" y2="${m.top + plotH}" stroke="#e5e5e5"/>`)
    out.push(`<text x="${x}" y="${m.top + plotH + 16}" text-anchor="middle" fill="#444">${tickLabel(t)}</text>`)
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`)
  out.push(`<text x="${m.left + plotW / 2}" y="${H - 14}" text-anchor="middle">${esc(spec.xLabel)}</text>`)
  out.push(
    `<text x="16" y="${m.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${m.top + plotH / 2})">${esc(spec.yLabel)}</text>`,
  )
  // Reference lines.
  for (const r of spec.refs ?? []) {
    const y = sy(r.y).toFixed(1)
    out.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${y}" y2="${y}" stroke="${r.color}" stroke-width="1.5" stroke-dasharray="${r.dash}"/>`)
  }
  // Series.
  for (const s of spec.series) {
    const pts = s.points.filter(([x, y]) => Number.isFinite(y) && (!spec.yLog || y > 0) && (!spec.xLog || x > 0)).sort((a, b) => a[0] - b[0])
    if (pts.length === 0) continue
    const d = pts.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`)
    if (s.markers !== false) for (const [x, y] of pts) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${s.color}"/>`)
    for (const [x, lo, hi] of s.bars ?? []) {
      const [cx, y0b, y1b] = [sx(x).toFixed(1), sy(lo).toFixed(1), sy(hi).toFixed(1)]
      out.push(`<path d="M${cx},${y0b} L${cx},${y1b} M${Number(cx) - 5},${y0b} L${Number(cx) + 5},${y0b} M${Number(cx) - 5},${y1b} L${Number(cx) + 5},${y1b}" stroke="${s.color}" stroke-width="1.5"/>`)
    }
  }
  // Legend, right of the plot.
  const lx = m.left + plotW + 10
  const ly = m.top
  out.push(`<rect x="${lx}" y="${ly}" width="${m.right - 16}" height="${legendH}" fill="#ffffff" stroke="#ccc"/>`)
  let row = 0
  for (const s of spec.series) {
    const y = ly + 14 + 18 * row++
    out.push(`<line x1="${lx + 8}" x2="${lx + 32}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`)
    out.push(`<text x="${lx + 40}" y="${y}" dominant-baseline="middle">${esc(s.name)}</text>`)
  }
  for (const r of spec.refs ?? []) {
    const y = ly + 14 + 18 * row++
    out.push(`<line x1="${lx + 8}" x2="${lx + 32}" y1="${y}" y2="${y}" stroke="${r.color}" stroke-width="1.5" stroke-dasharray="${r.dash}"/>`)
    out.push(`<text x="${lx + 40}" y="${y}" dominant-baseline="middle">${esc(r.label)}</text>`)
  }
  out.push('</svg>')
  return out.join('\n') + '\n'
}

/** Small multiples side by side: the panels' SVG bodies nested at offsets. */
function panels(charts: string[], perRow: number, w: number, h: number): string {
  const rows = Math.ceil(charts.length / perRow)
  const body = charts.map((svg, i) => {
    const x = (i % perRow) * w
    const y = Math.floor(i / perRow) * h
    return svg.replace('<svg ', `<svg x="${x}" y="${y}" `)
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${perRow * w}" height="${rows * h}" viewBox="0 0 ${perRow * w} ${rows * h}">\n${body.join('')}</svg>\n`
}

// ------------------------------------------------------------------------------ reading a store

/** The newest evaluated run per kind and K of one store's frontier (a re-run replaces an older one). */
async function readRows(storeDir: string, modelPath: string, layer: number): Promise<Row[] & { modelHash: string | null }> {
  const backend = await Backend.create({ storeDir: resolve(storeDir), backend: 'cpu' })
  try {
    const frontier = await backend.call('convert.getFrontier', { modelPath, layer })
    const rows: Row[] = []
    for (const s of frontier.series) {
      const newest = new Map<number, FrontierPoint>()
      for (const p of s.points) if (p.nmse !== null && (newest.get(p.k)?.runId ?? 0) < p.runId) newest.set(p.k, p)
      for (const p of [...newest.values()].sort((a, b) => a.k - b.k)) rows.push(rowOf(s.kind, p, await backend.call('runs.get', { id: p.runId })))
    }
    if (rows.length === 0) throw new Error(`no evaluated runs of layer ${layer} of ${modelPath} in ${storeDir}`)
    return Object.assign(rows, { modelHash: frontier.modelHash })
  } finally {
    await backend.close()
  }
}

// ------------------------------------------------------------------------------ seeds

interface Spread {
  values: number[]
  mean: number
  /** Sample standard deviation (n − 1); 0 for one value. */
  sd: number
  min: number
  max: number
}

interface SeedRow {
  kind: Kind
  k: number
  seeds: (number | null)[]
  nmse: Spread
  /** CE_spliced − CE_clean, nats/token. */
  ceGap: Spread
}

function spread(values: number[]): Spread {
  const n = values.length
  const mean = values.reduce((a, b) => a + b, 0) / n
  const sd = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0
  return { values, mean, sd, min: Math.min(...values), max: Math.max(...values) }
}

/** Per kind and K that more than one store evaluated: the spread of NMSE and of the spliced-CE gap. */
function seedSummary(stores: Row[][]): SeedRow[] {
  const out: SeedRow[] = []
  for (const r of stores[0] ?? []) {
    const same = stores.map((rows) => rows.find((o) => o.kind === r.kind && o.k === r.k)).filter((o): o is Row => o !== undefined)
    const full = same.filter((o) => o.nmse !== null && o.ceSpliced !== null && o.ceClean !== null)
    if (full.length < 2) continue
    out.push({
      kind: r.kind,
      k: r.k,
      seeds: full.map((o) => (typeof o.config.seed === 'number' ? o.config.seed : null)),
      nmse: spread(full.map((o) => o.nmse!)),
      ceGap: spread(full.map((o) => o.ceSpliced! - o.ceClean!)),
    })
  }
  return out
}

/** A spread of CE gaps as spliced CE on the chart's scale (every store evaluated the same held-out tokens). */
function shift(s: Spread, by: number): Spread {
  return { values: s.values.map((v) => v + by), mean: s.mean + by, sd: s.sd, min: s.min + by, max: s.max + by }
}

function seedTable(seeds: SeedRow[]): string {
  const pm = (s: Spread, digits: number): string => `${s.mean.toFixed(digits)} ± ${s.sd.toFixed(digits)}`
  const each = (s: Spread, digits: number): string => s.values.map((v) => v.toFixed(digits)).join(', ')
  return (
    '| kind | K | seeds | NMSE, each seed | NMSE, mean ± sd | CE_spliced − CE_clean, each seed | mean ± sd |\n|---|---:|---|---|---:|---|---:|\n' +
    seeds
      .map((s) => `| ${kindLabel(s.kind)} | ${s.k} | ${s.seeds.map((x) => x ?? '?').join(', ')} | ${each(s.nmse, 4)} | ${pm(s.nmse, 4)} | ${each(s.ceGap, 4)} | ${pm(s.ceGap, 4)} |`)
      .join('\n') +
    '\n'
  )
}

// ------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      store: { type: 'string' },
      model: { type: 'string', default: 'resources/models/kjv-gpt2-mini' },
      layer: { type: 'string', default: '2' },
      out: { type: 'string', default: 'docs' },
      command: { type: 'string' },
      /** Appended to every file name (e.g. "-layer1"), so a second layer's sweep does not overwrite the first's. */
      suffix: { type: 'string', default: '' },
      /** Stores of the same sweep at other seeds (repeatable): their K are summarised across seeds. */
      'seed-store': { type: 'string', multiple: true },
    },
  })
  if (!values.store) throw new Error('--store DIR is required')
  const layer = Number(values.layer)
  const suffix = values.suffix
  const modelPath = resolve(values.model)
  const rows = await readRows(values.store, modelPath, layer)
  const modelHash = rows.modelHash
  const seedStores = values['seed-store'] ?? []
  const seedRows = [rows, ...(await Promise.all(seedStores.map((dir) => readRows(dir, modelPath, layer))))]
  const seeds = seedSummary(seedRows)

  const dataDir = join(values.out, 'data')
  const imgDir = join(values.out, 'img')
  mkdirSync(dataDir, { recursive: true })
  mkdirSync(imgDir, { recursive: true })
  const kinds = layerKinds().map((d) => d.id).filter((k) => rows.some((r) => r.kind === k))
  const ks = [...new Set(rows.map((r) => r.k))].sort((a, b) => a - b)
  const byKind = (kind: Kind): Row[] => rows.filter((r) => r.kind === kind)
  const mean = (v: (number | null)[]): number | null => {
    const f = v.filter((x): x is number => x !== null)
    return f.length ? f.reduce((a, b) => a + b, 0) / f.length : null
  }
  const ceClean = mean(rows.map((r) => r.ceClean))
  const ceZero = mean(rows.map((r) => r.ceZero))

  const table = markdownTable(rows)
  const versus = comparison(rows)
  const first = rows[0]!.config
  const setup = {
    model: modelPath,
    modelHash,
    layer,
    data: first.data,
    tokens: first.tokens,
    batch: first.batch,
    lr: first.lr,
    warmup: rows[0]!.config.warmup ?? 'default (5% of the steps)',
    seed: first.seed,
    ctx: first.ctx,
    bufferRows: first.bufferRows ?? 'default',
    evalTokens: rows[0]!.evalTokens,
    parameters: Object.fromEntries(kinds.map((k) => [k, { units: byKind(k)[0]!.width, parameters: byKind(k)[0]!.parameters }])),
  }
  const json = {
    generatedAt: new Date().toISOString(),
    command: values.command ?? null,
    setup,
    ceClean,
    ceZero,
    rows: rows.map(({ curve: _curve, ...r }) => r),
    mxdVsBestTranscoder: versus,
    seedStores,
    seeds,
    curves: rows.map((r) => ({ kind: r.kind, k: r.k, runId: r.runId, curve: r.curve })),
  }
  writeFileSync(join(dataDir, `frontier-results${suffix}.json`), JSON.stringify(json, null, 2) + '\n')
  const versusMd =
    '| K | best kind by NMSE | MxD NMSE / better transcoder NMSE | CE_spliced − CE_clean: MxD | better transcoder |\n|---:|---|---:|---:|---:|\n' +
    versus.map((v) => `| ${v.k} | ${v.best ? kindLabel(v.best) : '–'} | ${fmt(v.nmseRatio, 3)} | ${fmt(v.mxdGap, 4)} | ${fmt(v.transcoderGap, 4)} |`).join('\n') +
    '\n'
  writeFileSync(join(dataDir, `frontier-table${suffix}.md`), `${table}\n${versusMd}`)
  const seedsMd = seeds.length ? seedTable(seeds) : ''
  if (seedsMd) writeFileSync(join(dataDir, `frontier-seeds${suffix}.md`), seedsMd)

  // At a K the seed stores cover, a bar over the seeds' range of the same quantity.
  const kSeries = (value: (r: Row) => number | null, bar: (s: SeedRow) => Spread): Series[] =>
    kinds.map((kind) => ({
      name: kindLabel(kind),
      color: kindColor(kind),
      points: byKind(kind)
        .filter((r) => value(r) !== null)
        .map((r) => [r.k, value(r)!] as [number, number]),
      bars: seeds.filter((s) => s.kind === kind).map((s) => [s.k, bar(s).min, bar(s).max] as [number, number, number]),
    }))
  writeFileSync(
    join(imgDir, `frontier-nmse${suffix}.svg`),
    lineChart({
      title: `Held-out NMSE against K (layer ${layer})`,
      xLabel: 'K (active experts / latents per token)',
      yLabel: 'normalised MSE (log)',
      xLog: true,
      yLog: true,
      xTicks: ks,
      series: kSeries((r) => r.nmse, (s) => s.nmse),
    }),
  )
  writeFileSync(
    join(imgDir, `frontier-ce${suffix}.svg`),
    lineChart({
      title: `Spliced cross-entropy against K (layer ${layer})`,
      xLabel: 'K (active experts / latents per token)',
      yLabel: 'next-token CE, nats/token',
      xLog: true,
      yLog: false,
      xTicks: ks,
      series: kSeries((r) => r.ceSpliced, (s) => shift(s.ceGap, ceClean ?? 0)),
      refs: [
        ...(ceZero !== null ? [{ y: ceZero, label: `CE_zero ${ceZero.toFixed(3)}`, color: '#555', dash: '8 4' }] : []),
        ...(ceClean !== null ? [{ y: ceClean, label: `CE_clean ${ceClean.toFixed(3)}`, color: '#000', dash: '2 3' }] : []),
      ],
    }),
  )
  // Training curves: one panel per K, training NMSE (on the batches, before each step) against tokens.
  const panelW = 560
  const panelH = 320
  const curveCharts = ks.map((k) =>
    lineChart({
      title: `Training NMSE, K = ${k}`,
      xLabel: 'training tokens',
      yLabel: 'NMSE on training batches (log)',
      xLog: false,
      yLog: true,
      width: panelW,
      height: panelH,
      series: kinds.map((kind) => ({
        name: kindLabel(kind),
        color: kindColor(kind),
        markers: false,
        points: (rows.find((r) => r.kind === kind && r.k === k)?.curve ?? []).map((c) => [c.tokens, c.nmse] as [number, number]),
      })),
    }),
  )
  writeFileSync(join(imgDir, `frontier-training${suffix}.svg`), panels(curveCharts, 2, panelW, panelH))

  process.stdout.write(`${table}\n${versusMd}${seedsMd ? `\n${seedsMd}` : ''}`)
  process.stdout.write(`wrote ${join(dataDir, `frontier-table${suffix}.md`)}, ${join(dataDir, `frontier-results${suffix}.json`)}, ${imgDir}/frontier-{nmse,ce,training}${suffix}.svg\n`)
}

await main()
