// Every native kernel, one file each: adding one is a new file and a line here. (identity.ts is
// plain TypeScript, no C: it goes with the native set because it is a replacement of a stock
// wasm kernel for speed, on and off with the rest.) ../native.ts
// registers them on the wasm backend when the addon loads (and MXD_NATIVE is not 0).
import type { NativeKernel } from './addon.js'
import { ADAMW } from './adamw.js'
import { BATCH_MAT_MUL } from './batch-mat-mul.js'
import { CONCAT } from './concat.js'
import { CROSS_ENTROPY, CROSS_ENTROPY_GRAD } from './cross-entropy.js'
import { DENSE_CODES } from './dense-codes.js'
import { FUSED_MAT_MUL } from './fused-mat-mul.js'
import { GATE_GRAD } from './gate-grad.js'
import { GATHER } from './gather.js'
import { GELU, GELU_GRAD } from './gelu.js'
import { GELU_NEW, GELU_NEW_GRAD } from './gelu-new.js'
import { IDENTITY } from './identity.js'
import { LAYER_NORM, LAYER_NORM_GRAD } from './layer-norm.js'
import { ROW_PROJECT } from './row-project.js'
import { SELECTED_ROWS, SELECTED_ROWS_GRAD } from './selected-rows.js'
import { SOFTMAX_GRAD } from './softmax-grad.js'
import { SPLIT_V } from './split-v.js'
import { TOPK } from './topk.js'
import { TILE } from './tile.js'
import { TRANSPOSE } from './transpose.js'
import { UNIT_ROWS } from './unit-rows.js'

export const NATIVE_KERNELS: readonly NativeKernel[] = [
  BATCH_MAT_MUL,
  FUSED_MAT_MUL,
  TOPK,
  SPLIT_V,
  CONCAT,
  GATHER,
  TRANSPOSE,
  TILE,
  IDENTITY,
  ADAMW,
  LAYER_NORM,
  LAYER_NORM_GRAD,
  GELU_NEW,
  GELU_NEW_GRAD,
  GELU,
  GELU_GRAD,
  SOFTMAX_GRAD,
  CROSS_ENTROPY,
  CROSS_ENTROPY_GRAD,
  SELECTED_ROWS,
  SELECTED_ROWS_GRAD,
  GATE_GRAD,
  ROW_PROJECT,
  UNIT_ROWS,
  DENSE_CODES,
]
