// Hook points: named places in the forward pass where an activation can be read (cached) or
// replaced. Names follow TransformerLens for unprocessed weights (no LayerNorm folding), because
// that is the vocabulary every interpretability user and every SAE/transcoder config speaks:
//
//   hook_embed                    token embedding                              [batch, pos, d_model]
//   hook_pos_embed                learned position embedding (GPT-2 only)      [batch, pos, d_model]
//   blocks.L.hook_resid_pre       residual stream entering block L             [batch, pos, d_model]
//   blocks.L.ln1.hook_normalized  input of attention (norm output, after weight and bias)
//   blocks.L.attn.hook_pattern    softmax attention probabilities              [batch, head, q, k]
//   blocks.L.hook_attn_out        attention output, after the output projection
//   blocks.L.hook_resid_mid       resid_pre + attn_out. Absent for parallel-residual GPT-NeoX
//                                 (Pythia), where attention and MLP both read resid_pre and no
//                                 such sum exists in the model.
//   blocks.L.ln2.hook_normalized  exactly the tensor the MLP receives (norm output after its
//                                 weight and bias). For RMSNorm this differs from TransformerLens,
//                                 whose hook sits before the weight: we want the MLP's true input,
//                                 because transcoders and MxD map it to hook_mlp_out.
//   blocks.L.mlp.hook_gate        μMoE MLPs only (config mlp_kind cpmoe/trmoe): the entmax-1.5
//                                 gate weights over the experts, shared by both layers  [batch, pos, n_experts]
//   blocks.L.mlp.hook_post        the MLP's hidden activation: act(x W_in + b) or, for SwiGLU,
//                                 silu(x W_gate) * (x W_up)                    [batch, pos, d_mlp]
//   blocks.L.hook_mlp_out         the MLP's output (the transcoder / MxD target)
//   blocks.L.hook_resid_post      residual stream leaving block L
//   ln_final.hook_normalized      final norm output, the unembedding's input
import type { tf } from './backend.js'

/**
 * Reads or replaces an activation. Return nothing to leave it unchanged, or a tensor of the same
 * shape to replace it (the forward pass continues from the returned tensor). The activation is
 * owned by the forward pass and freed when it ends: a hook that keeps it must `tf.keep(act.clone())`
 * (or ask the forward for a cache instead).
 */
export type HookFn = (act: tf.Tensor, name: string) => tf.Tensor | void

/** A stand-in for blocks[L].mlp: receives ln2's output [batch, pos, d_model], returns mlp_out. */
export type MlpModule = (x: tf.Tensor) => tf.Tensor

export const hookNames = {
  embed: 'hook_embed',
  posEmbed: 'hook_pos_embed',
  lnFinal: 'ln_final.hook_normalized',
  residPre: (layer: number) => `blocks.${layer}.hook_resid_pre`,
  ln1: (layer: number) => `blocks.${layer}.ln1.hook_normalized`,
  pattern: (layer: number) => `blocks.${layer}.attn.hook_pattern`,
  attnOut: (layer: number) => `blocks.${layer}.hook_attn_out`,
  residMid: (layer: number) => `blocks.${layer}.hook_resid_mid`,
  ln2: (layer: number) => `blocks.${layer}.ln2.hook_normalized`,
  mlpGate: (layer: number) => `blocks.${layer}.mlp.hook_gate`,
  mlpPost: (layer: number) => `blocks.${layer}.mlp.hook_post`,
  mlpOut: (layer: number) => `blocks.${layer}.hook_mlp_out`,
  residPost: (layer: number) => `blocks.${layer}.hook_resid_post`,
} as const

export interface HookPointLayout {
  nLayers: number
  /** Learned absolute position embeddings (GPT-2). */
  hasPosEmbed: boolean
  /** Attention and MLP in parallel (GPT-NeoX use_parallel_residual): no resid_mid. */
  parallelResidual: boolean
  /** μMoE MLPs, whose expert gate is reported through mlp.hook_gate. */
  mlpGate?: boolean
}

/** Every hook point of a model, in the order the forward pass reaches them. */
export function hookPointNames(layout: HookPointLayout): string[] {
  const names: string[] = [hookNames.embed]
  if (layout.hasPosEmbed) names.push(hookNames.posEmbed)
  for (let l = 0; l < layout.nLayers; l++) {
    names.push(hookNames.residPre(l), hookNames.ln1(l), hookNames.pattern(l), hookNames.attnOut(l))
    if (!layout.parallelResidual) names.push(hookNames.residMid(l))
    names.push(hookNames.ln2(l))
    if (layout.mlpGate) names.push(hookNames.mlpGate(l))
    names.push(hookNames.mlpPost(l), hookNames.mlpOut(l), hookNames.residPost(l))
  }
  names.push(hookNames.lnFinal)
  return names
}
