// formatFigure, the one way the run page and report.html write a privacy figure: the expected
// strings are written out by hand (6 significant digits; exponent form below 1e-3 and from 1e6,
// trailing zeros dropped), including the huge σ of honest constants.
import { describe, expect, it } from 'vitest'
import { formatFigure } from '../../../src/shared/privacy.js'
// The renderer is its own TypeScript project: import its module at run time, typed here (as image-pixels.test.ts does).
interface PrivacyFormatModule {
  formatNumber(v: number | null | undefined): string
  formatCheckValue(v: number | string): string
}
const PRIVACY_FORMAT: string = '../../../src/renderer/src/lib/privacy-format.ts'
const { formatNumber, formatCheckValue } = (await import(PRIVACY_FORMAT)) as PrivacyFormatModule

describe('formatFigure', () => {
  it('writes plain, huge, tiny and special values as written here', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [1, '1'],
      [0.75, '0.75'],
      [0.5930871234, '0.593087'],
      [-44.11699, '-44.117'],
      [999999.4, '999999'],
      [1e6, '1e+6'],
      [1.2e10, '1.2e+10'],
      [30778312.5, '3.07783e+7'],
      [1e-5, '1e-5'],
      [0.001, '0.001'],
      [0.00099999, '9.9999e-4'],
      [6.94375e-16, '6.94375e-16'],
    ]
    for (const [x, s] of cases) expect(formatFigure(x), String(x)).toBe(s)
    expect(formatFigure(Number.POSITIVE_INFINITY)).toBe('Infinity')
    expect(formatFigure(Number.NaN)).toBe('NaN')
  })

  it('is what the run page shows, with a dash for none; check values cut long text', () => {
    expect(formatNumber(1.2e10)).toBe('1.2e+10')
    expect(formatNumber(null)).toBe('—')
    expect(formatNumber(Number.NaN)).toBe('—')
    expect(formatCheckValue(0.05)).toBe('0.05')
    expect(formatCheckValue('convex')).toBe('convex')
    expect(formatCheckValue('d58018b9fc8cfbf87afa93f8b8065a8d')).toBe('d58018b9fc8c…')
  })
})
