// bench/forward: tokens per second of a GPT-2-small-shaped forward (random weights, batch 8 ×
// 128 tokens, logits at every position) in our engine and in PyTorch, on this machine, in one run.
//
// Each implementation runs in its own long-lived process (so each one's peak RSS is its own);
// after one warm-up forward each, the driver alternates them — engine, torch, engine, torch, … —
// so drift in the machine's speed hits both alike, and reports the median of the repetitions.
//
//   bash bench/forward/run.sh [--reps N] [--torch onednn,blas] [--torch-threads N] [--json FILE]
//                             [--baseline DIR]   also time the engine of another checkout (A/B)
//                             [--wasm]           also time our engine on plain wasm (MXD_NATIVE=0)
// --torch-threads N gives our engine the same count (MXD_THREADS, for its native OpenBLAS
// kernels). Where Debian's libjemalloc2 is installed every process runs with it (LD_PRELOAD):
// glibc returns PyTorch's large buffers to the system on every forward on this VM.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { benchIds, forwardFlops, GPT2_SMALL } from './shape.js'

const here = dirname(new URL(import.meta.url).pathname)
const root = join(here, '..', '..')
const PYTHON = '/usr/bin/python3' // Debian's python3-torch; `python3` on PATH may lack torch

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    torch: { type: 'string', default: 'onednn,blas' },
    'torch-threads': { type: 'string', default: '0' },
    json: { type: 'string' },
    baseline: { type: 'string' },
    wasm: { type: 'boolean', default: false },
  },
})
const reps = Number(args.reps)
const torchModes = (args.torch ?? '').split(',').filter(Boolean)
const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'
const threadCount = Number(args['torch-threads'] ?? '0')
/** The environment every implementation runs in: same allocator, same OpenBLAS settings. */
// OpenBLAS's idle-thread spin time: the app's default (OPENBLAS_SPIN_DEFAULT in
// src/engine/native/addon.ts) unless set, the same for every side.
const SPIN = process.env.OPENBLAS_THREAD_TIMEOUT || '22'
function envFor(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, OPENBLAS_THREAD_TIMEOUT: SPIN, ...(existsSync(JEMALLOC) ? { LD_PRELOAD: JEMALLOC } : {}), ...extra }
}
const engineEnv = envFor(threadCount > 0 ? { MXD_THREADS: String(threadCount) } : {})

/** A worker process that answers one JSON line per command line. */
class Worker {
  private readonly lines: AsyncIterator<string>
  readonly info: Promise<Record<string, unknown>>

  constructor(
    readonly label: string,
    private readonly proc: ChildProcessWithoutNullStreams,
  ) {
    proc.stderr.on('data', (chunk: Buffer) => process.stderr.write(`[${label}] ${chunk.toString()}`))
    this.lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]()
    this.info = this.next()
  }

  private async next(): Promise<Record<string, unknown>> {
    const { value, done } = await this.lines.next()
    if (done) throw new Error(`${this.label} exited early`)
    const reply = JSON.parse(value as string) as Record<string, unknown>
    if (reply.error) throw new Error(`${this.label}: ${String(reply.error)}`)
    return reply
  }

  async ask(command: string): Promise<Record<string, unknown>> {
    this.proc.stdin.write(command + '\n')
    return this.next()
  }

  quit(): void {
    this.proc.stdin.end('quit\n')
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

async function main(): Promise<void> {
  const shape = GPT2_SMALL
  const tokens = shape.batch * shape.seq
  const flops = forwardFlops(shape)
  const scratch = mkdtempSync(join(tmpdir(), 'mxd-bench-'))
  const idsFile = join(scratch, 'ids.json')
  writeFileSync(idsFile, JSON.stringify(benchIds(shape)))

  // Start one at a time: building a model is memory- and CPU-heavy and must not overlap a timing.
  const workers: Worker[] = []
  const engine = new Worker(
    'engine',
    spawn(process.execPath, ['--import', 'tsx', join(here, 'engine-worker.ts')], { cwd: root, env: engineEnv }),
  )
  workers.push(engine)
  await engine.info
  if (args.wasm) {
    const plain = new Worker(
      'engine-wasm',
      spawn(process.execPath, ['--import', 'tsx', join(here, 'engine-worker.ts')], { cwd: root, env: { ...engineEnv, MXD_NATIVE: '0' } }),
    )
    workers.push(plain)
    await plain.info
  }
  if (args.baseline) {
    // The same worker in another checkout (e.g. `git worktree add /tmp/base HEAD~1`, with
    // node_modules linked), timed in the same alternation: a fair A/B on a busy machine.
    const worker = join(args.baseline, 'bench', 'forward', 'engine-worker.ts')
    const base = new Worker('engine-base', spawn(process.execPath, ['--import', 'tsx', worker], { cwd: args.baseline, env: engineEnv }))
    workers.push(base)
    await base.info
  }
  for (const mode of torchModes) {
    const argv = [join(here, 'torch_gpt2.py'), '--ids', idsFile, '--linear', mode, '--threads', args['torch-threads'] ?? '0']
    argv.push('--layers', `${shape.nLayers}`, '--d-model', `${shape.dModel}`, '--heads', `${shape.nHeads}`, '--vocab', `${shape.vocab}`)
    // torch.set_num_threads does not reach an OpenBLAS that Debian's torch loads as plain libblas.
    const env = envFor(threadCount > 0 ? { OPENBLAS_NUM_THREADS: String(threadCount) } : {})
    const w = new Worker(`torch-${mode}`, spawn(PYTHON, argv, { cwd: root, env }))
    workers.push(w)
    await w.info
  }

  const times = new Map<Worker, number[]>(workers.map((w) => [w, []]))
  for (let rep = -1; rep < reps; rep++) {
    for (const w of workers) {
      const { seconds } = (await w.ask('run')) as { seconds: number }
      const tag = rep < 0 ? 'warm-up' : `rep ${rep + 1}/${reps}`
      process.stderr.write(`${tag.padEnd(10)} ${w.label.padEnd(13)} ${seconds.toFixed(2)} s\n`)
      if (rep >= 0) times.get(w)?.push(seconds)
    }
  }

  const rows = []
  for (const w of workers) {
    const info = await w.info
    const { maxRssMB } = (await w.ask('stats')) as { maxRssMB: number }
    const seconds = median(times.get(w) as number[])
    rows.push({
      name: w.label,
      threads: info.threads as number,
      version: String(info.tfjs ?? info.torch),
      seconds,
      tokensPerSecond: tokens / seconds,
      gflops: flops / seconds / 1e9,
      peakRssMB: maxRssMB,
      all: times.get(w),
    })
    w.quit()
  }
  rmSync(scratch, { recursive: true, force: true })

  const engineRow = rows[0] as (typeof rows)[number]
  console.log(
    `GPT-2 small shape, random weights: ${shape.nLayers} layers, d=${shape.dModel}, ${shape.nHeads} heads, vocab ${shape.vocab}; ` +
      `batch ${shape.batch} × ${shape.seq} tokens, logits at every position; ${(flops / 1e9).toFixed(1)} GFLOP per forward`,
  )
  console.log(
    `machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; median of ${reps} after 1 warm-up`,
  )
  console.log(
    `malloc: ${existsSync(JEMALLOC) ? 'jemalloc (LD_PRELOAD, every process)' : 'glibc'}; OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? 'unset'}; OPENBLAS_THREAD_TIMEOUT=${SPIN}; load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  )
  console.log('')
  console.log('| implementation | threads | s / forward | tokens/s | engine ÷ this | GFLOP/s | peak RSS |')
  console.log('|---|---:|---:|---:|---:|---:|---:|')
  for (const r of rows) {
    console.log(
      `| ${r.name} (${r.version}) | ${r.threads} | ${r.seconds.toFixed(2)} | ${r.tokensPerSecond.toFixed(1)} | ` +
        `${(engineRow.tokensPerSecond / r.tokensPerSecond).toFixed(2)}× | ${r.gflops.toFixed(1)} | ${(r.peakRssMB / 1024).toFixed(2)} GiB |`,
    )
  }
  if (args.json) writeFileSync(args.json, JSON.stringify({ shape, flops, reps, rows }, null, 2))
}

await main()
