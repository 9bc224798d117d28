// Lines a reader could not use. They are counted and reported (never silently dropped, never
// fatal): one bad line in a 10 GB crawl must not stop a run, but a person must be able to see
// and fix them. Only the first few are kept as examples so the report stays small.

export interface MalformedExample {
  file: string
  /** 1-based line (.txt, .jsonl) or row (.parquet), as `unit` says. */
  line: number
  unit: 'line' | 'row'
  reason: string
}

export interface MalformedSummary {
  count: number
  examples: MalformedExample[]
}

export const MALFORMED_EXAMPLES_KEPT = 20

export class MalformedLines {
  count = 0
  readonly examples: MalformedExample[] = []

  constructor(private readonly keep = MALFORMED_EXAMPLES_KEPT) {}

  add(example: MalformedExample): void {
    this.count++
    if (this.examples.length < this.keep) this.examples.push(example)
  }

  summary(): MalformedSummary {
    return { count: this.count, examples: [...this.examples] }
  }
}

/** "data/a.jsonl line 7: not valid JSON (…)" */
export function formatMalformed(e: MalformedExample): string {
  return `${e.file} ${e.unit} ${e.line}: ${e.reason}`
}
