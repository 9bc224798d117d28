// The engine side of bench/forward, driven by run.ts over stdin/stdout, one JSON line per reply:
//   run    → {"seconds": s}      one full forward (logits at every position), timed
//   stats  → {"maxRssMB": m, …}  peak resident memory of this process so far
//   quit   → exits
// Runs in its own process so its peak memory is its own.
import { createInterface } from 'node:readline'
import { initBackend, tf } from '../../src/engine/backend.js'
import { randomGpt2 } from './engine-model.js'
import { benchIds, GPT2_SMALL } from './shape.js'

const shape = GPT2_SMALL
const report = await initBackend()
const model = await randomGpt2(shape)
const ids = benchIds(shape)
const reply = (value: unknown): void => void process.stdout.write(JSON.stringify(value) + '\n')

function forward(): number {
  const start = performance.now()
  const { logits } = model.forward(ids)
  // The wasm backend runs every op synchronously, so the forward is done when it returns; reading
  // one value is a cheap barrier that keeps the timing honest on asynchronous backends too.
  const last = tf.slice(logits!, [0, 0, 0], [1, 1, 1])
  last.dataSync()
  const seconds = (performance.now() - start) / 1000
  tf.dispose([logits!, last])
  return seconds
}

// Native kernels run OpenBLAS on report.native.threads threads; everything else is wasm's one.
const native = report.native.kernels.length > 0
reply({
  ready: true,
  backend: report.backend,
  tfjs: `${report.tfjsVersion} ${report.backend}${native ? ' + native OpenBLAS' : ''}`,
  threads: native ? report.native.threads : 1,
})
for await (const line of createInterface({ input: process.stdin })) {
  const command = line.trim()
  if (command === 'run') reply({ seconds: forward() })
  else if (command === 'stats') {
    reply({ maxRssMB: process.resourceUsage().maxRSS / 1024, tensorMB: tf.memory().numBytes / 2 ** 20 })
  } else if (command === 'quit') break
  else reply({ error: `unknown command ${command}` })
}
model.dispose()
process.exit(0)
