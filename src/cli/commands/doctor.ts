import type { NativeKernels } from '../../shared/api.js'
import type { Command } from '../command.js'

function nativeLine(n: NativeKernels): string {
  if (n.kernels.length === 0) return `native kernels: none (${n.reason ?? 'unknown'})`
  const spin = n.threadTimeout === null ? 'OpenBLAS default spin' : `OPENBLAS_THREAD_TIMEOUT=${n.threadTimeout}`
  return `native kernels: ${n.kernels.join(', ')} — ${n.blas} on ${n.corename}, ${n.threads} thread${n.threads === 1 ? '' : 's'} (${n.threadsFrom}; ${spin})`
}

export const doctor: Command = {
  name: 'doctor',
  summary: 'Shows versions, the compute backend in use (and why not a better one), the store and its schema, and whether Electron can start.',
  usage: 'mxd doctor [--json]',
  options: {},
  async run(ctx) {
    const backend = await ctx.backend()
    const r = await backend.call('app.diagnose', {})
    if (ctx.json) {
      ctx.printJson(r)
      return 0
    }
    ctx.print(
      [
        `${r.app} ${r.version} on Node ${r.node}${r.electron ? `, Electron ${r.electron}` : ''} (${r.platform}, ${r.cpus} cores)`,
        `compute backend: ${r.backend} (tfjs ${r.tfjsVersion})`,
        nativeLine(r.nativeKernels),
        ...r.backendNotes.map((n) => `  not used: ${n}`),
        `store: ${r.store}`,
        `database: ${r.database} (schema version ${r.schemaVersion})`,
        `electron binary: ${r.electronBinary.present ? r.electronBinary.path : 'missing'} — ${r.electronBinary.note}`,
      ].join('\n'),
    )
    return 0
  },
}
