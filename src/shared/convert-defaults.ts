// The defaults of a conversion and of its evaluation, in a module without zod so the renderer's
// wizard starts from the same numbers the back end fills in.

export const EVAL_DEFAULTS = {
  /**
   * Held-out tokens evaluated (sequences × ctx): enough for stable NMSE and CE to ~0.01 nats on
   * the demo model while the evaluation takes a minute or two on two cores (three forwards per batch).
   */
  tokens: 16_384,
  /** Sequences per forward pass. */
  batch: 8,
  /** Used when neither the config nor the training run gives one. */
  ctx: 128,
} as const

/**
 * Defaults sized so that the bundled demo model's layer (d = 192, H = 768, N = 5,362) converts in
 * a few minutes on 2 CPU cores; the paper's values are noted beside each one.
 */
export const CONVERT_DEFAULTS = {
  k: 32,
  /**
   * Paper 1e-4 (official script default 4e-4), batches of 4,096 over 480M tokens. Here, measured
   * on the demo layer at the default budget (docs/conversion.md): 3e-3 reconstructs best (held-out
   * NMSE 0.021 vs 0.029 at 1e-2; at half the budget 1e-3 reaches only 0.048); 1e-2 kills 28% of the experts.
   * The transcoders share it (the TopK transcoder, too, does far better at 3e-3 than at 1e-3).
   */
  lr: 3e-3,
  /** Activations per optimizer step (paper 4,096). */
  batch: 1024,
  /** Training tokens (paper 480M): the demo layer reaches NMSE ≈ 0.1 after 60k; 300k take a few minutes. */
  tokens: 300_000,
  ctx: 128,
  /** Harvest the BOS position's rows as the official code does (see ConvertConfig.trainOnBos). */
  trainOnBos: true,
  /** Warm-up: 5% of the steps, at most 5,000 (the paper's constant). */
  warmupFraction: 0.05,
  warmupMax: 5_000,
  /**
   * Activation buffer rows, capped in bytes. The official buffer holds ≈524k rows; here the first
   * fill runs the model at a few thousand tokens/s, so 16k rows (16 batches) gets training going
   * within seconds while still mixing rows from 128 sequences.
   */
  bufferRows: 16_384,
  bufferMaxBytes: 256 * 2 ** 20,
  /** Sequences per harvesting forward pass. */
  harvestBatch: 16,
  /** Tokens without a firing after which a unit counts as dead. */
  deadWindow: 200_000,
  metricsEvery: 10,
  checkpointSeconds: 120,
  evalTokens: EVAL_DEFAULTS.tokens,
} as const
