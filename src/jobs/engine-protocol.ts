// Messages between the back end and the engine worker.
import type { GenerationResult, SamplingOptions } from '../engine/generate.js'
import type { Steer } from '../shared/models.js'

export interface TopPrediction {
  id: number
  prob: number
  text: string
}

export type EngineRequest =
  | {
      type: 'generate'
      id: string
      dir: string
      prompt: string
      options: SamplingOptions & { maxNewTokens: number }
      /** How many of the most likely next tokens to report at each step. */
      topPredictions: number
      /** A sparse layer folder to splice in place of its block's MLP, with its steers. */
      splice?: { dir: string; steer: Steer[] }
    }
  | { type: 'stop'; id: string }

export type EngineResponse =
  | { type: 'ready' }
  | { type: 'prompt'; id: string; ids: number[]; tokens: string[] }
  | { type: 'token'; id: string; token: { id: number; index: number; text: string | null; top: TopPrediction[] } }
  | { type: 'done'; id: string; result: GenerationResult }
  | { type: 'error'; id: string; message: string }
