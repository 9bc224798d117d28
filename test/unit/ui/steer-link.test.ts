// The Playground link's steering parameter (/playground?layer=RUN&steer=…), as agreed between
// the pages: UNIT:VALUE pairs separated by commas, a UNIT alone meaning +100.
import { describe, expect, it } from 'vitest'

// The renderer is its own TypeScript project (tsconfig.web.json): as in numbers.test.ts, a
// specifier tsc does not follow, and the part of the module tested here stated as an interface.
interface PlaygroundModule {
  MAX_STEERS: number
  parseSteerParam(text: string): { unit: number; value: number }[] | null
}
const PLAYGROUND: string = '../../../src/renderer/src/stores/playground.ts'
const { MAX_STEERS, parseSteerParam } = (await import(PLAYGROUND)) as PlaygroundModule

describe('parseSteerParam', () => {
  it('reads UNIT:VALUE pairs, a unit alone as +100', () => {
    expect(parseSteerParam('12:100,40:-50')).toEqual([
      { unit: 12, value: 100 },
      { unit: 40, value: -50 },
    ])
    expect(parseSteerParam('7')).toEqual([{ unit: 7, value: 100 }])
    expect(parseSteerParam(' 3 : 2.5e1 , 9 ')).toEqual([
      { unit: 3, value: 25 },
      { unit: 9, value: 100 },
    ])
  })

  it('refuses anything else, and more units than a generation takes', () => {
    for (const bad of ['', 'x', '1:', ':5', '1:2:3', '-1:5', '1;2', '1,,2']) expect(parseSteerParam(bad), bad).toBeNull()
    const list = Array.from({ length: MAX_STEERS }, (_, i) => String(i)).join(',')
    expect(parseSteerParam(list)).toHaveLength(MAX_STEERS)
    expect(parseSteerParam(`${list},99`)).toBeNull()
  })
})
