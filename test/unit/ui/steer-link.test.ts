// The Playground link's steering parameter (/playground?layer=RUN&steer=…), as agreed between
// the pages: UNIT:VALUE pairs separated by commas, a UNIT alone meaning +100.
import { describe, expect, it } from 'vitest'
import { MAX_STEERS, parseSteerParam } from '../../../src/renderer/src/stores/playground'

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
