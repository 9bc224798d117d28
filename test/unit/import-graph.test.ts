// The import graph of src/, read from the source text: every import goes down the layers drawn
// in docs/architecture.md, and no file reaches itself through its imports. A change that makes
// an import run back up (a job module imported by the domain code it drives, a renderer file
// reaching into the engine) fails here with the offending file and line, before the structure
// quietly becomes a tangle.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(__dirname, '../..')
const SRC = join(ROOT, 'src')

/**
 * What each top-level folder of src/ may import, besides itself. The order is the layering,
 * bottom to top; docs/architecture.md draws the same picture. The renderer and the preload see
 * only the shared contract: everything else reaches them over IPC or the WebSocket.
 */
const SHARED = ['shared']
const BASE = [...SHARED, 'fs', 'store', 'data']
const DOMAIN = [...BASE, 'engine']
export const ALLOWED: Record<string, readonly string[]> = {
  shared: [],
  fs: SHARED,
  store: [...SHARED, 'fs'],
  data: [...SHARED, 'fs'],
  engine: BASE,
  convert: DOMAIN,
  analysis: DOMAIN,
  jobs: [...DOMAIN, 'convert', 'analysis'],
  backend: [...DOMAIN, 'convert', 'analysis', 'jobs'],
  server: [...SHARED, 'backend'],
  cli: [...DOMAIN, 'convert', 'analysis', 'jobs', 'backend', 'server'],
  main: [...DOMAIN, 'jobs', 'backend'],
  preload: SHARED,
  renderer: SHARED,
}

interface Edge {
  from: string
  to: string
  line: number
  typeOnly: boolean
}

function sourceFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...sourceFiles(p))
    else if (/\.(ts|mts|mjs|vue)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

// Static imports and re-exports (`import … from '…'`, `export … from '…'`, `import '…'`) and
// dynamic `import('…')`. Only relative specifiers name files of ours; packages are not layers.
const IMPORT = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g

const EXTENSIONS = ['', '.ts', '.vue', '.mjs', '/index.ts']

function resolveSpecifier(fromFile: string, spec: string, files: Set<string>): string {
  // Node16 resolution: sources import './x.js' for ./x.ts.
  const base = resolve(dirname(fromFile), spec.replace(/\.js$/, ''))
  for (const ext of EXTENSIONS) if (files.has(base + ext)) return base + ext
  return resolve(dirname(fromFile), spec)
}

function importsOf(file: string, files: Set<string>): Edge[] {
  const text = readFileSync(file, 'utf8')
  const edges: Edge[] = []
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[3] ?? m[4]
    if (spec === undefined) continue
    const line = text.slice(0, m.index).split('\n').length + (m[0].startsWith('\n') ? 1 : 0)
    edges.push({ from: file, to: resolveSpecifier(file, spec, files), line, typeOnly: m[2] !== undefined })
  }
  return edges
}

/** The top-level folder of src/ a path lies in, or null for a file outside src/ (package.json). */
function layerOf(path: string): string | null {
  const rel = relative(SRC, path)
  if (rel.startsWith('..')) return null
  return rel.split(/[\\/]/)[0] ?? null
}

/** Strongly connected components of more than one file, or a file importing itself (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0
  const idx = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const out: string[][] = []
  const visit = (v: string): void => {
    idx.set(v, index)
    low.set(v, index++)
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!))
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        scc.push(w)
      } while (w !== v)
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.map((f) => relative(ROOT, f)).sort())
    }
  }
  for (const v of graph.keys()) if (!idx.has(v)) visit(v)
  return out
}

const files = sourceFiles(SRC)
const fileSet = new Set(files)
const edges = files.flatMap((f) => importsOf(f, fileSet))

describe('import graph of src/', () => {
  it('finds the imports it checks (the scanner reads the tree)', () => {
    // Guards the test itself: a broken regex would find nothing and pass everything below.
    expect(files.length).toBeGreaterThan(100)
    expect(edges.length).toBeGreaterThan(300)
    const renderer = edges.filter((e) => layerOf(e.from) === 'renderer' && layerOf(e.to) === 'shared')
    expect(renderer.length).toBeGreaterThan(5)
  })

  it('every top-level folder of src/ has a place in the layering', () => {
    const folders = new Set(files.map((f) => layerOf(f)!))
    expect([...folders].filter((f) => !(f in ALLOWED)).sort()).toEqual([])
  })

  it('no import runs back up the layers (type-only imports included)', () => {
    const upward = edges
      .filter((e) => {
        const a = layerOf(e.from)!
        const b = layerOf(e.to)
        return b !== null && a !== b && !ALLOWED[a]!.includes(b)
      })
      .map((e) => `${relative(ROOT, e.from)}:${e.line} imports ${relative(ROOT, e.to)}`)
    expect(upward).toEqual([])
  })

  it('every relative import names a file that exists', () => {
    const missing = edges
      .filter((e) => layerOf(e.to) !== null && !fileSet.has(e.to) && !/\.(css|json|png|svg|html|wasm)$/.test(e.to))
      .map((e) => `${relative(ROOT, e.from)}:${e.line} → ${relative(ROOT, e.to)}`)
    expect(missing).toEqual([])
  })

  it('no file reaches itself through its imports (no cycle, type-only imports included)', () => {
    const graph = new Map<string, string[]>(files.map((f) => [f, []]))
    for (const e of edges) if (fileSet.has(e.to)) graph.get(e.from)!.push(e.to)
    expect(cycles(graph)).toEqual([])
  })
})
