// Held-out loss of a saved model through the model engine (the weights as shipped, e.g. F16),
// to check that what was saved is what was trained.
import { tf } from '../backend.js'
import type { LanguageModel } from '../models/model.js'

/** Mean next-token cross-entropy (nats) over sequences of ctx + 1 tokens. */
export function engineLoss(model: LanguageModel, sequences: readonly Int32Array[], batch = 8): number {
  let sum = 0
  let n = 0
  for (let i = 0; i < sequences.length; i += batch) {
    const chunk = sequences.slice(i, i + batch)
    const ids = chunk.map((s) => Array.from(s.subarray(0, s.length - 1)))
    const { logits } = model.forward(ids)
    const loss = tf.tidy(() => {
      const [b, t, v] = logits!.shape
      const flat = tf.reshape(logits!, [b * t, v])
      const targets = tf.tensor1d(chunk.flatMap((s) => Array.from(s.subarray(1))), 'int32')
      const lse = tf.logSumExp(flat, -1)
      const picked = tf.sum(tf.mul(flat, tf.cast(tf.oneHot(targets, v), 'float32')), -1)
      return tf.sum(tf.sub(lse, picked))
    })
    sum += loss.dataSync()[0]!
    n += chunk.length * (chunk[0]!.length - 1)
    tf.dispose([loss, logits!])
  }
  return sum / n
}
