// `npx tsx scripts/make-probe-task.ts`: builds resources/tasks/kjv-sections.jsonl, the probing
// task that ships with the app (docs/probing.md): one KJV verse per example, labelled with the
// section of the Bible its book belongs to (src/analysis/kjv-themes.ts: six sections). Verses
// come only from the corpus's held-out chapters (read through the data module's own split, so
// the demo model and any layer converted on the corpus's training split never saw them), and
// every section gets as many verses as the smallest one has, drawn with a fixed seed.
import { writeFileSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { KJV_SECTIONS, kjvSection } from '../src/analysis/kjv-themes.js'
import { readDocuments } from '../src/data/read.js'
import { Rng } from '../src/data/shuffle.js'
import { splitOf } from '../src/data/split.js'

const ROOT = resolve(import.meta.dirname, '..')
const CORPUS = join(ROOT, 'resources/corpus/kjv')
const OUT = join(ROOT, 'resources/tasks/kjv-sections.jsonl')
const SEED = 0

async function main(): Promise<void> {
  const verses: string[][] = KJV_SECTIONS.map(() => [])
  for await (const doc of readDocuments(CORPUS)) {
    // The corpus's README: its split is the data module's default (fraction 0.05, seed 0).
    if (doc.kind !== 'text' || splitOf(doc) !== 'heldout') continue
    const section = kjvSection(doc.text)
    if (section === null) throw new Error(`a held-out chapter without a known book title: ${JSON.stringify(doc.text.slice(0, 40))}`)
    // The title line ("Psalms 23") names the book: left out, or the label would be in the text.
    for (const line of doc.text.split('\n').slice(1)) if (line.trim() !== '') verses[section]!.push(line.trim())
  }
  const perClass = Math.min(...verses.map((v) => v.length))
  const rng = new Rng(SEED)
  const rows: { text: string; label: string }[] = []
  verses.forEach((list, s) => {
    // A seeded partial Fisher–Yates: the first perClass verses of a shuffle.
    const pool = list.slice()
    for (let i = 0; i < perClass; i++) {
      const j = i + rng.below(pool.length - i)
      ;[pool[i], pool[j]] = [pool[j]!, pool[i]!]
      rows.push({ text: pool[i]!, label: KJV_SECTIONS[s]! })
    }
  })
  // Interleaved (one verse of each section in turn), so a --max-examples cut stays balanced.
  const ordered = Array.from({ length: rows.length }, (_, i) => rows[(i % KJV_SECTIONS.length) * perClass + Math.floor(i / KJV_SECTIONS.length)]!)
  mkdirSync(join(ROOT, 'resources/tasks'), { recursive: true })
  const body = ordered.map((r) => JSON.stringify(r)).join('\n') + '\n'
  writeFileSync(OUT, body)
  console.log(`${OUT}: ${ordered.length} verses, ${perClass} per section (${verses.map((v, s) => `${KJV_SECTIONS[s]} ${v.length}`).join(', ')} held out), ${Buffer.byteLength(body)} bytes`)
}

await main()
