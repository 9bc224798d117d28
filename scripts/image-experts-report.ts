// Expert specialisation of CPμMoE MLP-Mixers on Fashion-MNIST (issue 13, acceptance 4): trains a
// small mixer at each expert count for a fixed wall-clock budget with the engine's classifierStep,
// runs the expert analysis (src/analysis/image-experts) on test images, and writes
//   docs/images/image-experts-report.json   setup, per expert count: size, training, test accuracy,
//                                            the specialisation summaries (trained and untrained)
//   docs/images/image-experts-share.svg      share of active experts dominated by one class
//                                            against the number of experts, per block
//   docs/images/image-experts-<N>.svg        each expert's top images (last block), one row each
// The trained mixers are saved under --models (config.json + model.safetensors), so
// `mxd classify experts --dir DIR --data ID` reproduces each analysis through the app.
//
//   npx tsx scripts/image-experts-report.ts [--data /usr/share/datasets/fashion-mnist] [--experts 16,64]
//       [--train 10000] [--test 2000] [--seconds 150] [--out docs/images] [--models /tmp/image-experts-models]
//   npx tsx scripts/image-experts-report.ts --figures-only     (redraws the SVGs from the JSON)
//   npx tsx scripts/image-experts-report.ts --analyses A.json,B.json [--name full]
//       (no training: the figures and a summary JSON from the app's own analyses, the
//        image-experts.json that `mxd classify experts --run ID` writes into its run folder, for
//        mixers the app trained with `mxd classify train`; files image-experts-<name>-*.svg/json)
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { PNG } from 'pngjs'
import { analyzeImageExperts, imageBatch, type ImageData } from '../src/analysis/image-experts/analyze.js'
import { saveMixerFolder } from '../src/analysis/image-experts/folder.js'
import { FASHION_MNIST_DEBIAN_PATH } from '../src/data/images/known.js'
import { loadImageSplit, registerImageDataset } from '../src/data/images/registry.js'
import { initBackend, tf } from '../src/engine/backend.js'
import { disposeParams } from '../src/engine/classifiers/classifier.js'
import { createMixer, matchedMixerRank, mixerSchema } from '../src/engine/classifiers/mixer.js'
import { classifierPredict, classifierStep, makeOptimizer } from '../src/engine/classifiers/train.js'
import { ImageExpertAnalysis, type ImageExpertsSummary } from '../src/shared/image-experts.js'
import { Store } from '../src/store/store.js'

const { values: o } = parseArgs({
  options: {
    data: { type: 'string', default: FASHION_MNIST_DEBIAN_PATH },
    experts: { type: 'string', default: '16,64' },
    train: { type: 'string', default: '10000' },
    test: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '150' },
    out: { type: 'string', default: 'docs/images' },
    models: { type: 'string', default: join(tmpdir(), 'image-experts-models') },
    /** Redraw the SVGs from an existing report JSON and the dataset, without training. */
    'figures-only': { type: 'boolean', default: false },
    /** Comma-separated image-experts.json files written by the app's analysis job. */
    analyses: { type: 'string' },
    name: { type: 'string', default: 'full' },
  },
})
const EXPERTS = o.experts.split(',').map(Number)
const N_TRAIN = Number(o.train)
const N_TEST = Number(o.test)
const SECONDS = Number(o.seconds)
const OUT = resolve(o.out)
const BATCH = 128
const LR = 1e-3
const SEED = 0
const TOP_SHOWN = 8
/** A small mixer for 28×28: 49 patches of 4×4, two blocks. */
const BASE = { patch: 4, hidden: 64, tokenMixing: 32, channelMixing: 256, depth: 2, mlp: 'cpmoe' as const }

function subset(d: ImageData, n: number): ImageData {
  const [, h, w, c] = d.shape
  const k = Math.min(n, d.shape[0])
  return { images: d.images.subarray(0, k * h * w * c), shape: [k, h, w, c], labels: d.labels.subarray(0, k), classes: d.classes }
}

/** Seeded shuffle (LCG) of 0..n−1. */
function permutation(n: number, seed: number): Int32Array {
  let s = seed >>> 0
  const p = Int32Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    const j = s % (i + 1)
    ;[p[i], p[j]] = [p[j]!, p[i]!]
  }
  return p
}

function gather(d: ImageData, idx: Int32Array): { images: tf.Tensor4D; labels: Int32Array } {
  const [, h, w, c] = d.shape
  const size = h * w * c
  const px = new Float32Array(idx.length * size)
  idx.forEach((i, k) => {
    for (let j = 0; j < size; j++) px[k * size + j] = d.images[i * size + j]! / 255
  })
  return { images: tf.tensor4d(px, [idx.length, h, w, c]), labels: Int32Array.from(idx, (i) => d.labels[i]!) }
}

function accuracy(model: ReturnType<typeof createMixer>, params: Parameters<typeof classifierPredict>[1], d: ImageData): number {
  let right = 0
  for (let first = 0; first < d.shape[0]; first += 500) {
    const count = Math.min(500, d.shape[0] - first)
    const x = imageBatch(d, first, count)
    const pred = classifierPredict(model, params, x)
    x.dispose()
    pred.forEach((p, i) => (right += p === d.labels[first + i] ? 1 : 0))
  }
  return right / d.shape[0]
}

const summaryRow = (s: ImageExpertsSummary) => ({ active: s.active, experts: s.experts, dominated: s.dominated, meanClassEntropy: s.meanClassEntropy })

/** One expert's top images as a PNG data URI: a row of 28×28 tiles. */
function tilesPng(d: ImageData, indices: number[]): string {
  const [, h, w] = d.shape
  const png = new PNG({ width: TOP_SHOWN * (w + 2), height: h })
  png.data.fill(255)
  indices.slice(0, TOP_SHOWN).forEach((img, k) => {
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const v = 255 - d.images[(img * h + y) * w + x]! // dark ink on white, as the classes are usually drawn
        const at = (y * png.width + k * (w + 2) + x) * 4
        png.data[at] = png.data[at + 1] = png.data[at + 2] = v
        png.data[at + 3] = 255
      }
  })
  // Grayscale PNG (colour type 0): a quarter of RGBA's size, the figures stay small in the repo.
  return `data:image/png;base64,${PNG.sync.write(png, { colorType: 0 }).toString('base64')}`
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')

/** What a grid row needs of an expert (an ImageExpertReport, or the report JSON's copy of one). */
interface GridExpert {
  expert: number
  active: boolean
  dominatedBy: string | null
  classBalanced: number[]
  topImages: number[]
}

function gridSvg(nExperts: number, block: number, experts: GridExpert[], classes: readonly string[], d: ImageData): string {
  const rowH = 34
  const labelW = 230
  const width = Math.max(640, labelW + TOP_SHOWN * 30 + 10)
  const rows = experts.map((x, r) => {
    const y = 40 + r * rowH
    const share = Math.max(...x.classBalanced)
    const top = classes[x.classBalanced.indexOf(share)] ?? '?'
    const tag = !x.active ? 'inactive' : x.dominatedBy ? `${x.dominatedBy} (${(100 * share).toFixed(0)}%)` : `mixed (top ${top})`
    return (
      `<text x="8" y="${y + 19}" font-size="12">e${x.expert} · ${esc(tag)}</text>` +
      `<image x="${labelW}" y="${y}" width="${TOP_SHOWN * 30}" height="28" href="${tilesPng(d, x.topImages)}"/>`
    )
  })
  const height = 40 + experts.length * rowH + 10
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/>` +
    `<text x="8" y="22" font-size="14" font-weight="bold">${nExperts} experts, block ${block}: top ${TOP_SHOWN} test images per expert; dominating class (balanced share)</text>` +
    rows.join('') +
    '</svg>\n'
  )
}

function shareSvg(points: { experts: number; blocks: number[]; all: number; untrained?: number }[]): string {
  const W = 460
  const H = 300
  const L = 60
  const B = 250
  const T = 30
  const R = 330
  const xs = points.map((p) => Math.log2(p.experts))
  const x = (e: number): number => (xs.length === 1 ? (L + R) / 2 : L + ((Math.log2(e) - Math.min(...xs)) / (Math.max(...xs) - Math.min(...xs))) * (R - L))
  const y = (v: number): number => B - v * (B - T)
  const series: { name: string; color: string; dash?: string; values: number[] }[] = [
    { name: 'all blocks', color: '#111', values: points.map((p) => p.all) },
    ...points[0]!.blocks.map((_, b) => ({ name: `block ${b}`, color: ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'][b % 4]!, dash: '5,3', values: points.map((p) => p.blocks[b]!) })),
    // Only where measured: the analyses of app-trained runs have no untrained counterpart.
    ...(points.every((p) => p.untrained !== undefined) ? [{ name: 'untrained (gate 0)', color: '#999', dash: '2,3', values: points.map((p) => p.untrained!) }] : []),
  ]
  const axes =
    `<line x1="${L}" y1="${B}" x2="${R}" y2="${B}" stroke="#000"/><line x1="${L}" y1="${T}" x2="${L}" y2="${B}" stroke="#000"/>` +
    [0, 0.25, 0.5, 0.75, 1].map((v) => `<text x="${L - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${(100 * v).toFixed(0)}%</text>`).join('') +
    points.map((p) => `<text x="${x(p.experts)}" y="${B + 16}" font-size="11" text-anchor="middle">${p.experts}</text>`).join('') +
    `<text x="${(L + R) / 2}" y="${B + 34}" font-size="12" text-anchor="middle">experts per block</text>` +
    `<text x="14" y="${(T + B) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${(T + B) / 2})">active experts dominated by one class</text>`
  const lines = series
    .map((s, k) => {
      const pts = s.values.map((v, i) => `${x(points[i]!.experts)},${y(v)}`).join(' ')
      const marks = s.values.map((v, i) => `<circle cx="${x(points[i]!.experts)}" cy="${y(v)}" r="3" fill="${s.color}"/>`).join('')
      return (
        `<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>${marks}` +
        `<line x1="${R + 12}" y1="${T + 8 + 18 * k}" x2="${R + 30}" y2="${T + 8 + 18 * k}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>` +
        `<text x="${R + 34}" y="${T + 12 + 18 * k}" font-size="11">${esc(s.name)}</text>`
      )
    })
    .join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${axes}${lines}</svg>\n`
}

async function main(): Promise<void> {
  const backend = await initBackend()
  const store = new Store({ dir: mkdtempSync(join(tmpdir(), 'mxd-image-experts-report-')) })
  const ds = await registerImageDataset(store, o.data)
  const train = subset(await loadImageSplit(store, ds.id, 'train'), N_TRAIN)
  const test = subset(await loadImageSplit(store, ds.id, 'test'), N_TEST)
  const shape = { height: train.shape[1], width: train.shape[2], channels: train.shape[3], classes: train.classes.length }
  mkdirSync(OUT, { recursive: true })
  const results = []
  for (const experts of EXPERTS) {
    const config = mixerSchema.parse({ ...BASE, experts })
    const model = createMixer(config, shape)
    const params = model.init(SEED)
    const about = { model: `fashion-mnist mixer, ${experts} experts`, datasetId: ds.id, split: 'test' as const }
    const untrained = (await analyzeImageExperts({ config, model, params }, test, about))!
    const optimizer = makeOptimizer(params, { kind: 'adamw', lr: LR, weightDecay: 0.01 })
    const started = performance.now()
    let steps = 0
    let epoch = 0
    let lossSum = 0
    let lossN = 0
    const losses: number[] = []
    outer: for (;;) {
      const order = permutation(train.shape[0], SEED + epoch++)
      for (let first = 0; first + BATCH <= order.length; first += BATCH) {
        const batch = gather(train, order.subarray(first, first + BATCH))
        lossSum += classifierStep(model, params, optimizer, batch)
        batch.images.dispose()
        lossN++
        if (++steps % 50 === 0) {
          losses.push(lossSum / lossN)
          lossSum = lossN = 0
        }
        if ((performance.now() - started) / 1000 >= SECONDS) break outer
      }
    }
    const seconds = (performance.now() - started) / 1000
    optimizer.dispose()
    const testAccuracy = accuracy(model, params, test)
    const t0 = performance.now()
    const analysis = (await analyzeImageExperts({ config, model, params }, test, about))!
    const analysisSeconds = (performance.now() - t0) / 1000
    await saveMixerFolder(join(o.models, `cpmoe-${experts}`), { config, shape, params })
    const matched = matchedMixerRank(config, shape)
    results.push({
      experts,
      rank: matched.rank,
      params: matched.mumoeParams,
      denseParams: matched.denseParams,
      steps,
      epochs: (steps * BATCH) / train.shape[0],
      trainSeconds: seconds,
      samplesPerSecond: (steps * BATCH) / seconds,
      lossEvery50Steps: losses,
      testAccuracy,
      analysisSeconds,
      untrained: { all: summaryRow(untrained.summary), blocks: untrained.blocks.map((b) => summaryRow(b.summary)) },
      trained: {
        all: summaryRow(analysis.summary),
        blocks: analysis.blocks.map((b) => ({ ...summaryRow(b.summary), classCounts: b.summary.classCounts })),
      },
      // Per expert of every block: dominating class, balanced and raw shares, top image indices.
      experts_: analysis.blocks.map((b) =>
        b.experts.map((x) => ({
          expert: x.expert,
          active: x.active,
          massShare: x.massShare,
          dominatedBy: x.dominatedBy,
          classBalanced: x.classBalanced.map((v) => Number(v.toFixed(4))),
          classMass: x.classMass.map((v) => Number(v.toFixed(4))),
          topImages: x.topImages.map((t) => t.index),
        })),
      ),
    })
    disposeParams(params)
    console.log(
      `${experts} experts: ${steps} steps in ${seconds.toFixed(0)} s (${((steps * BATCH) / seconds).toFixed(0)} images/s), test accuracy ${(100 * testAccuracy).toFixed(1)}%, ` +
        `dominated ${(100 * analysis.summary.dominated).toFixed(0)}% of ${analysis.summary.active} active (untrained ${(100 * untrained.summary.dominated).toFixed(0)}%), ` +
        `per block ${analysis.blocks.map((b) => (100 * b.summary.dominated).toFixed(0) + '%').join(', ')}`,
    )
  }
  const report = {
    command: `npx tsx scripts/image-experts-report.ts --experts ${o.experts} --train ${N_TRAIN} --test ${N_TEST} --seconds ${SECONDS}`,
    backend,
    data: { path: o.data, trainImages: train.shape[0], testImages: test.shape[0], classes: train.classes },
    mixer: BASE,
    training: { optimizer: 'adamw', lr: LR, weightDecay: 0.01, batch: BATCH, seed: SEED, seconds: SECONDS },
    thresholds: 'dominated: one class ≥ 50% of the expert’s gate mass raw and base-rate balanced; active: mass ≥ 10% of a uniform share',
    results,
  }
  writeFileSync(join(OUT, 'image-experts-report.json'), JSON.stringify(report, null, 1) + '\n')
  writeFigures(report, test)
  store.close()
}

type Report = { results: { experts: number; trained: { all: { dominated: number }; blocks: { dominated: number }[] }; untrained: { all: { dominated: number } }; experts_: GridExpert[][] }[] }

/** The SVGs from the report's numbers and the test images (--figures-only redraws them without training). */
function writeFigures(report: Report, test: ImageData): void {
  const results = report.results
  for (const r of results) {
    const last = r.experts_.length - 1
    writeFileSync(join(OUT, `image-experts-${r.experts}.svg`), gridSvg(r.experts, last, r.experts_[last]!, test.classes, test))
  }
  writeFileSync(
    join(OUT, 'image-experts-share.svg'),
    shareSvg(results.map((r) => ({ experts: r.experts, all: r.trained.all.dominated, blocks: r.trained.blocks.map((b) => b.dominated), untrained: r.untrained.all.dominated }))),
  )
}

async function figuresOnly(): Promise<void> {
  const store = new Store({ dir: mkdtempSync(join(tmpdir(), 'mxd-image-experts-report-')) })
  const ds = await registerImageDataset(store, o.data)
  const report = JSON.parse(readFileSync(join(OUT, 'image-experts-report.json'), 'utf8')) as Report & { data: { testImages: number } }
  writeFigures(report, subset(await loadImageSplit(store, ds.id, 'test'), report.data.testImages))
  store.close()
}

/**
 * The figures from analyses the app made (`mxd classify experts --run ID`), read from the analysis
 * runs' image-experts.json; the images are the analysed split of the same dataset, found by path.
 */
async function fromAnalyses(files: string[]): Promise<void> {
  const analyses = files.map((f) => ImageExpertAnalysis.parse(JSON.parse(readFileSync(f, 'utf8'))))
  const store = new Store({ dir: mkdtempSync(join(tmpdir(), 'mxd-image-experts-report-')) })
  const ds = await registerImageDataset(store, o.data)
  const split = analyses[0]!.data.split
  if (analyses.some((a) => a.data.split !== split || a.data.images !== analyses[0]!.data.images))
    throw new Error('the analyses must cover the same split and the same number of images')
  const images = subset(await loadImageSplit(store, ds.id, split), analyses[0]!.data.images)
  mkdirSync(OUT, { recursive: true })
  const name = o.name
  const summary = analyses.map((a) => ({
    model: a.model,
    experts: a.nExperts,
    blocks: a.nBlocks,
    images: a.data.images,
    all: summaryRow(a.summary),
    perBlock: a.blocks.map((b) => ({ ...summaryRow(b.summary), classCounts: b.summary.classCounts })),
  }))
  writeFileSync(join(OUT, `image-experts-${name}.json`), JSON.stringify({ command: `npx tsx scripts/image-experts-report.ts --analyses ${files.join(',')} --name ${name}`, results: summary }, null, 1) + '\n')
  for (const a of analyses) {
    const last = a.blocks[a.blocks.length - 1]!
    const rows = last.experts.map((x) => ({ ...x, topImages: x.topImages.map((t) => t.index) }))
    writeFileSync(join(OUT, `image-experts-${name}-${a.nExperts}.svg`), gridSvg(a.nExperts, last.block, rows, a.classes, images))
  }
  writeFileSync(
    join(OUT, `image-experts-${name}-share.svg`),
    shareSvg(analyses.map((a) => ({ experts: a.nExperts, all: a.summary.dominated, blocks: a.blocks.map((b) => b.summary.dominated) }))),
  )
  for (const r of summary)
    console.log(`${r.experts} experts (${r.model}): dominated ${(100 * r.all.dominated).toFixed(0)}% of ${r.all.active} active; per block ${r.perBlock.map((b) => (100 * b.dominated).toFixed(0) + '%').join(', ')}`)
  store.close()
}

await (o.analyses ? fromAnalyses(o.analyses.split(',')) : o['figures-only'] ? figuresOnly() : main())
