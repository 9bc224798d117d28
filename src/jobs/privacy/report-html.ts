// report.html of a certificate folder: one self-contained page (no scripts, no external files,
// inline CSS and SVG) a person can read, print or archive beside the certificate. Every number of
// certificate.json is on it, each constant with how it was obtained, the trade-off curve, the
// confidence histograms on the protected set before and after, the attacks, and in plain words
// what the certificate promises and what it does not. All text is HTML-escaped: class names and
// paths come from the user's files.
import type { z } from 'zod'
import { formatFigure, type AttackOutcome, type ConfidenceSummary, type ModelReport, type TradeoffPoint } from '../../shared/privacy.js'
import type { CertificateJson } from './certificate-json.js'

export interface CertificateReportExtra {
  before: ModelReport
  newtonModel: ModelReport
  released: ModelReport
  sweep: z.infer<typeof TradeoffPoint>[]
  attacks: z.infer<typeof AttackOutcome>[]
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!)

/** A number as text: the run page's way (formatFigure), so a figure read there is found here. */
const fmt = formatFigure
const pct = (x: number): string => `${(100 * x).toFixed(2)}%`

const row = (cells: string[], head = false): string => `<tr>${cells.map((c) => (head ? `<th>${c}</th>` : `<td>${c}</td>`)).join('')}</tr>`
const table = (head: string[], rows: string[][]): string =>
  `<table>${row(head.map(escapeHtml), true)}${rows.map((r) => row(r.map(escapeHtml))).join('')}</table>`

/** Overlaid bar histograms of max probability on D_f (before: grey, released: blue). */
function histogramSvg(before: ConfidenceSummary, after: ConfidenceSummary, label: string): string {
  const W = 420
  const H = 160
  const pad = 28
  const bins = before.histogram.counts.length
  const top = Math.max(1, ...before.histogram.counts, ...after.histogram.counts)
  const bw = (W - 2 * pad) / Math.max(1, bins)
  const bars = (counts: number[], cls: string, shift: number): string =>
    counts
      .map((c, i) => {
        const h = ((H - 2 * pad) * c) / top
        return `<rect class="${cls}" x="${(pad + i * bw + shift).toFixed(1)}" y="${(H - pad - h).toFixed(1)}" width="${(bw / 2).toFixed(1)}" height="${h.toFixed(1)}"/>`
      })
      .join('')
  const edges = before.histogram.edges
  const lo = edges[0] ?? 0
  const hi = edges.at(-1) ?? 1
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(label)}">
<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" class="axis"/>
${bars(before.histogram.counts, 'before', 0)}${bars(after.histogram.counts, 'after', bw / 2)}
<text x="${pad}" y="${H - 8}">${fmt(lo)}</text><text x="${W - pad}" y="${H - 8}" text-anchor="end">${fmt(hi)}</text>
<text x="${W / 2}" y="${H - 8}" text-anchor="middle">max probability on the protected set</text>
<text x="${pad}" y="14">count (max ${top})</text></svg>`
}

/** The trade-off curve: confidence distance on D_f (x) against test accuracy (y), one point per θ. */
function tradeoffSvg(points: CertificateReportExtra['sweep']): string {
  if (points.length === 0) return '<p>No θ sweep was run (certify with --sweep to draw the trade-off curve).</p>'
  const W = 420
  const H = 220
  const pad = 36
  const xs = points.map((p) => p.forgetDistance)
  const ys = points.map((p) => p.testAccuracy)
  const span = (v: number[]): [number, number] => {
    const lo = Math.min(...v)
    const hi = Math.max(...v)
    return hi > lo ? [lo, hi] : [lo - 0.5 * (Math.abs(lo) || 1) * 0.1, hi + 0.5 * (Math.abs(hi) || 1) * 0.1]
  }
  const [x0, x1] = span(xs)
  const [y0, y1] = span(ys)
  const sx = (x: number): number => pad + ((x - x0) / (x1 - x0)) * (W - 2 * pad)
  const sy = (y: number): number => H - pad - ((y - y0) / (y1 - y0)) * (H - 2 * pad)
  const sorted = [...points].sort((a, b) => a.forgetDistance - b.forgetDistance)
  const path = sorted.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p.forgetDistance).toFixed(1)},${sy(p.testAccuracy).toFixed(1)}`).join(' ')
  const dots = sorted
    .map(
      (p) =>
        `<circle cx="${sx(p.forgetDistance).toFixed(1)}" cy="${sy(p.testAccuracy).toFixed(1)}" r="3"/><text x="${(sx(p.forgetDistance) + 5).toFixed(1)}" y="${(sy(p.testAccuracy) - 5).toFixed(1)}">θ=${fmt(p.theta)}</text>`,
    )
    .join('')
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="trade-off curve">
<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" class="axis"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" class="axis"/>
<path d="${path}" class="curve"/>${dots}
<text x="${W / 2}" y="${H - 6}" text-anchor="middle">confidence distance on the protected set (${fmt(x0)} – ${fmt(x1)})</text>
<text x="10" y="${pad - 10}">test accuracy (${pct(y0)} – ${pct(y1)})</text></svg>`
}

const CSS = `body{font:14px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.warn{background:#fff3cd;border:1px solid #e0c36c;padding:.5em 1em}
svg text{font-size:11px;fill:#333}.axis{stroke:#666}.before{fill:#999}.after{fill:#3b7dd8}.curve{fill:none;stroke:#3b7dd8;stroke-width:2}
circle{fill:#3b7dd8}code{font-size:12px;word-break:break-all}`

const modelRows = (name: string, m: ModelReport): string[] => [
  name,
  fmt(m.forget.distance),
  pct(m.forget.accuracy),
  pct(m.retainAccuracy),
  fmt(m.retainLoss),
  pct(m.testAccuracy),
]

/** The whole page. */
export function renderCertificateReport(cert: CertificateJson, extra: CertificateReportExtra): string {
  const e = escapeHtml
  const prot = cert.protected
  const classRows = cert.dataset.classes.map((c, i) => [String(i), c, String(prot.classCounts[i] ?? 0)]).filter((r) => r[2] !== '0')
  const body = [
    `<h1>Test-time privacy certificate</h1>`,
    `<p>Issued ${e(cert.created)} by ${e(cert.software.name)} ${e(cert.software.version)} from classifier run ${cert.trainRunId} (${e(cert.model.kind)}, ${cert.model.parameters.toLocaleString('en')} parameters) on dataset ${e(cert.dataset.name)}.</p>`,
    cert.useful ? '' : `<p class="warn"><strong>The released model is not useful at this ε.</strong> ${e(cert.usefulness)}</p>`,
    `<h2>What this certificate promises</h2>`,
    `<p>The released model w̃ was produced by one Newton step from the trained model w* towards the θ-Pareto model w<sub>θ</sub> (which trades accuracy on the rest of the training data for maximal uncertainty on the ${prot.forget} protected images), followed by Gaussian noise of standard deviation σ = ${e(fmt(cert.sigma))} on every parameter. Because ‖w⁻ − w<sub>θ</sub>‖ ≤ Δ = ${e(fmt(cert.sensitivity.value))}, the distribution of w̃ is (ε = ${e(fmt(cert.epsilon))}, δ = ${e(fmt(cert.delta))})-indistinguishable from that of w<sub>θ</sub> plus the same noise: anyone holding the weights can learn from them about the protected images at most what that bound allows, beyond what the θ-Pareto model itself reveals.</p>`,
    `<h2>What it does not promise</h2>`,
    `<ul><li>It holds only if every constant below holds. A constant marked <em>estimated</em> or <em>assumed</em> is not proven: the guarantee is conditional on it.</li>
<li>It says nothing about images outside the protected set, nor about copies of the original model w* made before release.</li>
<li>It is about the released weights, not about any one prediction: a single output may still be confident by chance, within (ε, δ).</li>
<li>It does not make the model forget that the protected images exist; it makes its predictions on them close to uniform.</li>
<li>The noise is reproducible from the recorded seed so that the certificate can be verified; whoever has the seed and w⁻ can remove it.</li></ul>`,
    cert.caveats.length ? `<h2>Caveats</h2><ul>${cert.caveats.map((c) => `<li>${e(c)}</li>`).join('')}</ul>` : '',
    `<h2>The numbers</h2>`,
    table(
      ['quantity', 'value'],
      [
        ['ε', fmt(cert.epsilon)],
        ['δ', fmt(cert.delta)],
        ['θ', fmt(cert.theta)],
        ['λ', fmt(cert.lambda)],
        ['uncertainty loss L_K', cert.lossK],
        ['temperature', fmt(cert.temperature)],
        [`sensitivity Δ (${cert.sensitivity.form})`, fmt(cert.sensitivity.value)],
        ['Δ formula', cert.sensitivity.formula],
        ...Object.entries(cert.sensitivity.terms).map(([k, v]) => [`  term ${k}`, fmt(v)]),
        ['σ = (Δ/ε)·√(2 ln(1.25/δ))', fmt(cert.sigma)],
        ['noise seed', String(cert.seed)],
        ['useful', cert.useful ? 'yes' : 'no'],
        ['usefulness', cert.usefulness],
      ],
    ),
    `<h2>Constants and how each was obtained</h2>`,
    table(
      ['constant', 'value', 'provenance', 'method'],
      Object.entries(cert.constants).map(([k, c]) => [k, fmt(c.value), c.provenance, c.method]),
    ),
    `<h2>The Newton step</h2>`,
    table(
      ['quantity', 'value'],
      [
        ['solver', cert.newton.method],
        ['iterations', String(cert.newton.iterations)],
        ['relative residual ‖H x − g‖/‖g‖', fmt(cert.newton.residual)],
        ['error bound on H⁻¹g', fmt(cert.newton.errorBound)],
        ['λ_min of sym(H)', fmt(cert.newton.lambdaMin)],
        ['λ_min found by', cert.newton.lambdaMinMethod],
        ['shift added', fmt(cert.newton.shift)],
      ],
    ),
    `<h2>The models</h2>`,
    table(
      ['model', 'distance on D_f', 'accuracy on D_f', 'retain accuracy', 'retain loss', 'test accuracy'],
      [
        modelRows('w* (trained)', extra.before),
        modelRows('w⁻ (Newton step)', extra.newtonModel),
        modelRows('w̃ (released)', extra.released),
      ],
    ),
    `<p>Confidence distance: the mean over the protected images of max(0, max<sub>c</sub> p<sub>c</sub> − 1/${cert.dataset.classes.length}); 0 is perfectly uniform.</p>`,
    histogramSvg(extra.before.forget, extra.released.forget, 'max-probability histograms on the protected set'),
    `<p><span style="color:#999">■</span> w* (trained) &nbsp; <span style="color:#3b7dd8">■</span> w̃ (released)</p>`,
    `<h2>Trade-off over θ</h2>`,
    tradeoffSvg(extra.sweep),
    extra.sweep.length
      ? table(
          ['θ', 'distance on D_f', 'test accuracy', 'retain loss', '|Δ retain loss|', 'bound', 'note'],
          extra.sweep.map((p) => [
            fmt(p.theta),
            fmt(p.forgetDistance),
            pct(p.testAccuracy),
            fmt(p.retainLoss),
            fmt(p.retainLossChange),
            p.bound === null ? '—' : fmt(p.bound),
            p.boundNote,
          ]),
        )
      : '',
    `<h2>Attacks on the released model</h2>`,
    extra.attacks.length
      ? table(
          ['attack', 'radius', 'steps', 'step size', 'distance before', 'distance after', `confident (p > threshold)`],
          extra.attacks.map((a) => [
            a.kind,
            fmt(a.radius),
            String(a.steps),
            fmt(a.stepSize),
            fmt(a.distanceBefore),
            fmt(a.distanceAfter),
            `${pct(a.confidentFraction)} (> ${fmt(a.confidentAbove)})`,
          ]),
        )
      : '<p>No attacks were run.</p>',
    `<h2>Data and protected set</h2>`,
    table(
      ['field', 'value'],
      [
        ['dataset', `#${cert.dataset.id} ${cert.dataset.name}`],
        ['path', cert.dataset.path],
        ['sha256', cert.dataset.sha256],
        ['classes', cert.dataset.classes.map((c, i) => `${i} ${c}`).join(', ')],
        [
          'split',
          `validation ${fmt(cert.dataset.split.validationFraction)}, test ${cert.dataset.split.testFraction === null ? 'official' : fmt(cert.dataset.split.testFraction)}, seed ${cert.dataset.split.seed}`,
        ],
        ['protected set', JSON.stringify(prot.spec)],
        ['protected images |D_f|', String(prot.forget)],
        ['retained images |D_r|', String(prot.retain)],
        ['sha256 of D_f indices', prot.forgetHash],
        ['sha256 of D_r indices', prot.retainHash],
      ],
    ),
    classRows.length ? table(['class', 'name', 'protected images'], classRows) : '',
    `<h2>Files</h2>`,
    table(
      ['file', 'sha256'],
      [
        ['w-star.safetensors', cert.model.files.wStar],
        ['w-minus.safetensors', cert.model.files.wMinus],
        ['released/model.safetensors', cert.model.files.released],
      ],
    ),
    `<p>Check this certificate with <code>mxd privacy verify FOLDER</code>: it recomputes every number above from the stored inputs.</p>`,
  ]
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Privacy certificate — ${e(cert.model.kind)} on ${e(cert.dataset.name)}</title><style>${CSS}</style></head>\n<body>\n${body.filter(Boolean).join('\n')}\n</body></html>\n`
}
