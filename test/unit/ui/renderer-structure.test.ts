// The renderer's shape (issue 10, "one path from view to work"): views and components lay pages
// out and reach the back end only through Pinia stores, which call the typed API; no view or
// component grows past about 400 lines.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const src = join(import.meta.dirname, '../../../src/renderer/src')
const MAX_LINES = 400

function vueFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return vueFiles(path)
    return name.endsWith('.vue') ? [path] : []
  })
}

const files = [...vueFiles(join(src, 'views')), ...vueFiles(join(src, 'components'))].map((path) => ({
  name: relative(src, path).split('\\').join('/'),
  text: readFileSync(path, 'utf8'),
}))

describe('renderer structure', () => {
  it('finds the views and components', () => {
    expect(files.some((f) => f.name === 'views/ExpertsView.vue')).toBe(true)
    expect(files.some((f) => f.name.startsWith('components/'))).toBe(true)
  })

  it(`no view or component is over ${MAX_LINES} lines`, () => {
    const long = files.map((f) => ({ name: f.name, lines: f.text.split('\n').length })).filter((f) => f.lines > MAX_LINES)
    expect(long).toEqual([])
  })

  it('no view or component imports the API client or the WebSocket client', () => {
    const direct = files.filter((f) => /from\s+['"][^'"]*(\/api\/client|\/ws-client)['"]/.test(f.text)).map((f) => f.name)
    expect(direct).toEqual([])
  })

  it('no view or component calls a back-end method itself: a store does', () => {
    // The backend store's call('method', …) is the typed API's one entry; only stores use it.
    const calling = files.filter((f) => /\.call\(\s*['"`][\w.]+['"`]/.test(f.text)).map((f) => f.name)
    expect(calling).toEqual([])
  })
})
