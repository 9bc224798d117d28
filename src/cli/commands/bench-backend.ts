import { BenchBackendConfig } from '../../shared/api.js'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'
import { followRun } from '../follow.js'

function parseSizes(text: string): number[] {
  const sizes = text.split(',').map((s) => Number(s.trim()))
  if (sizes.some((n) => !Number.isInteger(n))) throw new UsageError(`--sizes takes whole numbers separated by commas, not "${text}"`)
  return sizes
}

export const benchBackend: Command = {
  name: 'bench-backend',
  summary: 'Times square matrix multiplies on the compute backend in a worker and stores GFLOP/s per size as a run.',
  usage: 'mxd bench-backend [--sizes 128,256,512,1024] [--repeats 5] [--json]',
  options: { sizes: { type: 'string' }, repeats: { type: 'string' } },
  async run(ctx) {
    const config = BenchBackendConfig.parse({
      ...(typeof ctx.values.sizes === 'string' ? { sizes: parseSizes(ctx.values.sizes) } : {}),
      ...(typeof ctx.values.repeats === 'string' ? { repeats: Number(ctx.values.repeats) } : {}),
    })
    const backend = await ctx.backend()
    const { runId } = await backend.call('bench.start', config)
    const native = backend.ctx.compute.native
    const kernel = native.kernels.includes('BatchMatMul')
      ? `native OpenBLAS sgemm on ${native.corename}, ${native.threads} thread${native.threads === 1 ? '' : 's'} (${native.threadsFrom})`
      : `${backend.ctx.compute.backend}'s own matMul${native.reason ? ` (no native kernels: ${native.reason})` : ''}`
    if (!ctx.json) ctx.print(`run ${runId}: benchmarking ${kernel} at sizes ${config.sizes.join(', ')}`)
    const detail = await followRun(ctx, backend, runId)
    const gflops = Object.fromEntries(detail.metrics.filter((m) => m.name === 'gflops').map((m) => [m.step, m.value]))
    if (ctx.json) ctx.printJson({ run: detail.run, backend: backend.ctx.compute.backend, kernel, nativeKernels: native.kernels, gflops })
    else {
      for (const [n, g] of Object.entries(gflops)) ctx.print(`  ${n}×${n}: ${g.toFixed(2)} GFLOP/s`)
      ctx.print(`run ${runId} ${detail.run.status}${detail.run.error ? `: ${detail.run.error}` : ''}`)
    }
    return detail.run.status === 'succeeded' ? 0 : 1
  },
}
