// How the classifier pages write accuracies and probabilities.

/** 0.9712 → "97.12%"; null (no image to measure) → "—". */
export function formatAccuracy(a: number | null | undefined): string {
  return a === null || a === undefined ? '—' : `${(100 * a).toFixed(2)}%`
}

/** The confusion table's cell shading: the share of the true class's images, 0..1. */
export function rowShare(count: number, rowTotal: number): number {
  return rowTotal > 0 ? count / rowTotal : 0
}
