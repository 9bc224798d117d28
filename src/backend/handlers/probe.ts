// Sparse probing (docs/probing.md): queue a probe of a layer run on a labelled task (job kind
// probe), read one probe run, and list the probe runs as rows of a comparison table. A run's
// result is the probe.json its job wrote in the run's folder (read off the event loop).
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ApiError, type Output, type ParsedInput, type Run } from '../../shared/api.js'
import { PROBE_RESULT_FILE, ProbeConfig, ProbeResult, type ProbeRow, type ShippedTask } from '../../shared/probe.js'
import type { BackendContext } from '../context.js'
import { resourcesDir } from '../paths.js'
import { layerRunDir } from './layer-run.js'

export function startProbe(ctx: BackendContext, input: ParsedInput<'probe.start'>): Output<'probe.start'> {
  layerRunDir(ctx, input.layerRunId)
  const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined))
  // A path is stored absolute, so the run reads the same file whichever directory a client ran from.
  if (typeof input.data === 'string') defined.data = resolve(input.data)
  const run = ctx.store.createRun('probe', ProbeConfig.parse(defined))
  ctx.queue.enqueue(run.id)
  return { runId: run.id }
}

/** A succeeded probe run's result; null while it has none (or its file is gone or unreadable). */
async function readResult(ctx: BackendContext, run: Run): Promise<ProbeResult | null> {
  if (run.status !== 'succeeded') return null
  try {
    const text = await readFile(join(ctx.store.runDir(run.id), PROBE_RESULT_FILE), 'utf8')
    const parsed = ProbeResult.safeParse(JSON.parse(text))
    return parsed.success ? parsed.data : null
  } catch {
    return null
  }
}

function layerRunOf(run: Run): number {
  return ProbeConfig.shape.layerRunId.parse(run.config.layerRunId)
}

export async function getProbe(ctx: BackendContext, input: ParsedInput<'probe.get'>): Promise<Output<'probe.get'>> {
  const run = ctx.store.getRun(input.runId)
  if (!run || run.kind !== 'probe')
    throw new ApiError('not_found', `There is no probe run ${input.runId}: list them with "mxd probe list".`)
  return { runId: run.id, status: run.status, error: run.error, layerRunId: layerRunOf(run), result: await readResult(ctx, run) }
}

/** The tasks in resources/tasks (made by scripts/make-probe-task.ts), so probing works offline. */
export const SHIPPED_TASKS: ShippedTask[] = [
  {
    name: 'kjv-sections.jsonl',
    path: join(resourcesDir, 'tasks', 'kjv-sections.jsonl'),
    description: 'Which of six sections of the Bible a held-out KJV verse comes from (126 verses per section).',
  },
]

export async function listProbes(ctx: BackendContext, input: ParsedInput<'probe.list'>): Promise<Output<'probe.list'>> {
  const runs = ctx.store.listRuns({ kind: 'probe', limit: input.limit })
  const rows = await Promise.all(
    runs.map(async (run): Promise<ProbeRow> => {
      const r = await readResult(ctx, run)
      return {
        runId: run.id,
        status: run.status,
        error: run.error,
        layerRunId: layerRunOf(run),
        kind: r?.layer.kind ?? null,
        block: r?.layer.block ?? null,
        k: r?.layer.k ?? null,
        width: r?.layer.width ?? null,
        task: r?.task.name ?? (typeof run.config.data === 'string' ? (run.config.data.split('/').pop() ?? null) : null),
        classes: r?.classes.length ?? null,
        meanF1: r?.mean.f1 ?? null,
        meanBalancedAccuracy: r?.mean.balancedAccuracy ?? null,
        createdAt: run.createdAt,
      }
    }),
  )
  return { runs: rows, tasks: SHIPPED_TASKS }
}
