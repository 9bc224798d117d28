// The repository must explain itself: a comment or path that points outside it (notes that live
// next to a checkout on one machine, another folder's research files) is a dead link to anyone
// else. The science those comments cited is in docs/science/; this keeps it that way.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, extname, join, relative, resolve, sep } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '../..')
const SCANNED = ['src', 'test', 'scripts', 'bench']
const TEXT = new Set(['.ts', '.mts', '.mjs', '.cjs', '.js', '.vue', '.py', '.sh', '.md', '.html', '.css', '.json', '.txt'])
/** Fixtures can be large generated data; comments are what this is about. */
const MAX_BYTES = 1 << 20

// Built from pieces so that this file does not match its own patterns.
const SHARED = ['shared', '']
const OUTSIDE_NAMES = [['research'], ['seed']].map(([leaf]) => SHARED.join('/') + leaf + '/')
const ABSOLUTE = ['/', 'work', '/'].join('')
const UP = ['..', '/'].join('')
/** A relative path climbing at least one level: resolved against its file, it must stay inside. */
const CLIMB = /(?:\.\.\/)+[\w@.-][\w@./-]*/g

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue
    const path = join(dir, name)
    const st = statSync(path)
    if (st.isDirectory()) yield* files(path)
    else if (TEXT.has(extname(name)) && st.size <= MAX_BYTES) yield path
  }
}

/** Every reference in `text` (a file at `path`) to a place outside the repository, with its line. */
export function outsideReferences(path: string, text: string): string[] {
  const found: string[] = []
  text.split('\n').forEach((line, i) => {
    const where = `${relative(root, path)}:${i + 1}`
    for (const name of OUTSIDE_NAMES) if (line.includes(name)) found.push(`${where}: ${name}`)
    if (line.includes(ABSOLUTE)) found.push(`${where}: ${ABSOLUTE}`)
    for (const m of line.matchAll(CLIMB)) {
      const target = resolve(dirname(path), m[0])
      if (target !== root && !target.startsWith(root + sep)) found.push(`${where}: ${m[0]} (leaves the repository)`)
    }
  })
  return found
}

describe('no citations outside the repository', () => {
  it('src/, test/, scripts/ and bench/ refer only to files inside the repository', () => {
    const found: string[] = []
    let scanned = 0
    for (const top of SCANNED) {
      for (const path of files(join(root, top))) {
        scanned++
        found.push(...outsideReferences(path, readFileSync(path, 'utf8')))
      }
    }
    expect(scanned).toBeGreaterThan(100)
    expect(found).toEqual([])
  })

  it('catches each kind of outside reference, and leaves in-repository paths alone', () => {
    const file = join(root, 'src/convert/evaluate.ts')
    const note = SHARED.join('/') + 'research/mxd.md'
    expect(outsideReferences(file, `// see ${note}`)).toHaveLength(1)
    expect(outsideReferences(file, `// see ${UP.repeat(3)}${note}`).length).toBeGreaterThanOrEqual(1)
    expect(outsideReferences(file, `// the seed, ${SHARED.join('/')}seed/abc.txt`)).toHaveLength(1)
    expect(outsideReferences(file, `// ${ABSOLUTE}somewhere/notes.md`)).toHaveLength(1)
    expect(outsideReferences(file, `import x from '${UP.repeat(3)}elsewhere/x.js'`)).toHaveLength(1)
    // In the repository: src/shared, docs/science.
    expect(outsideReferences(file, `import { Steer } from '../shared/models.js'`)).toEqual([])
    expect(outsideReferences(file, `// docs/science/mxd.md#steering, ../../docs/science/metrics.md`)).toEqual([])
  })
})
