// How the Experts page words an analysis: shares as percentages, token text with its whitespace
// made visible, the summary's facts with their definitions, and one tag per expert.
import type { ExpertReport, SpecialisationSummary } from '../../../shared/experts'

/** A share as a percentage; one decimal below 10% so small shares do not read as 0%. */
export const pct = (x: number): string => `${(100 * x).toFixed(x > 0 && x < 0.1 ? 1 : 0)}%`

/** Context text on one line: line breaks and tabs made visible, spaces kept. */
export const inline = (text: string): string => text.replaceAll('\n', '↵').replaceAll('\t', '⇥')

/** Token text with its whitespace made visible (∅: the empty token). */
export const shown = (text: string): string => text.replaceAll(' ', '·').replaceAll('\n', '↵').replaceAll('\t', '⇥') || '∅'

/** [label, value, definition?] for each fact of a summary. */
export function summaryFacts(s: SpecialisationSummary): [string, string, string?][] {
  return [
    ['Active experts', `${s.active} of ${s.experts}`, 'Experts with at least 10% of a uniform share of the gate mass.'],
    [
      'Specialised',
      pct(s.specialised),
      'Of the active experts: one class or theme holds ≥ 50% of the gate mass, raw and balanced for how common it is, or one token holds ≥ 50%.',
    ],
    ['By token class', pct(s.byClass)],
    ...(s.byTheme === null
      ? []
      : ([['By theme', pct(s.byTheme), 'Bible section of the chapter (KJV corpus).']] as [string, string, string][])),
    ['By one token', pct(s.byToken)],
    [
      'Class entropy',
      `${s.meanClassEntropy.toFixed(2)} bits (median ${s.medianClassEntropy.toFixed(2)})`,
      'Of the balanced class distribution; lower is more specialised.',
    ],
  ]
}

/** What an expert is for: its strongest specialisation, else its top class, else inactive. */
export function expertTag(x: ExpertReport): string {
  const s = x.specialisedBy[0]
  if (s) return `${s.by === 'token' ? shown(s.label) : s.label} ${pct(s.share)}`
  return x.active ? `mixed · ${x.topClass}` : 'inactive'
}
