// Runs a probe job in-process, as the worker would, on a real store: the result it wrote.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { JobContext } from '../../../src/jobs/job.js'
import { probeJob } from '../../../src/jobs/probe.js'
import { PROBE_RESULT_FILE, ProbeConfig, ProbeResult } from '../../../src/shared/probe.js'
import type { Store } from '../../../src/store/store.js'

export async function runProbe(store: Store, input: Record<string, unknown>): Promise<ProbeResult> {
  const config = ProbeConfig.parse(input)
  const run = store.createRun('probe', config)
  const ctx: JobContext<ProbeConfig> = {
    runId: run.id,
    kind: 'probe',
    config,
    store,
    resumeFrom: undefined,
    cancelled: () => false,
    progress: () => undefined,
    log: (level, message) => store.log(run.id, level, message),
    checkpoint: () => {
      throw new Error('the probe writes no checkpoints')
    },
  }
  await probeJob.run(ctx)
  return ProbeResult.parse(JSON.parse(readFileSync(join(store.runDir(run.id), PROBE_RESULT_FILE), 'utf8')))
}
