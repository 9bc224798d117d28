// The pattern every `mxd` subcommand follows: one file per command under commands/, each a
// `Command` with its own options; shared options (--store, --backend, --json, --help) are parsed
// here once. Machine output is JSON on stdout; people get text and, on a TTY, progress bars.
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { Backend, type BackendOptions } from '../backend/backend.js'
import { parseBackendName } from '../engine/backend.js'
import { defaultStoreDir } from '../store/store.js'

export type OptionSpec = NonNullable<ParseArgsConfig['options']>

export interface CommandIO {
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
  err: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
}

export interface CommandContext extends CommandIO {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>
  positionals: string[]
  json: boolean
  storeDir: string
  /** Opens the back end on the chosen store; closed by the runner when the command returns. */
  backend(opts?: Partial<BackendOptions>): Promise<Backend>
  print(text: string): void
  printJson(value: unknown): void
}

export interface Command {
  name: string
  summary: string
  usage: string
  options: OptionSpec
  /** Returns the process exit code. */
  run(ctx: CommandContext): Promise<number>
}

export const sharedOptions: OptionSpec = {
  store: { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
}

export const sharedUsage = `Shared options:
  --store DIR     the store folder (default: $MXD_HOME or ~/.mxd-studio)
  --backend NAME  compute backend: auto (default), tensorflow, wasm or cpu
  --threads N     CPU threads for the native kernels (default: $MXD_THREADS, else every core)
  --json          machine-readable output
  -h, --help      this help`

/** Thrown for a mistake in the command line; printed with the command's usage. */
export class UsageError extends Error {}

export async function runCommand(cmd: Command, argv: string[], io: CommandIO): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: { ...sharedOptions, ...cmd.options }, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) {
    io.out.write(`${cmd.usage}\n\n${cmd.summary}\n\n${sharedUsage}\n`)
    return 0
  }
  const storeDir = typeof values.store === 'string' ? values.store : defaultStoreDir()
  const backendName = parseBackendName(typeof values.backend === 'string' ? values.backend : undefined)
  if (typeof values.threads === 'string') {
    const n = Number(values.threads)
    if (!Number.isInteger(n) || n < 1 || n > 1024)
      throw new UsageError(`--threads must be a whole number from 1 to 1024, not "${values.threads}".`)
    // Through the environment: the job workers inherit it, and src/engine/native.ts reads it
    // wherever the backend starts.
    process.env.MXD_THREADS = String(n)
  }
  let opened: Backend | undefined
  const ctx: CommandContext = {
    ...io,
    values,
    positionals,
    json: values.json === true,
    storeDir,
    backend: async (opts = {}) => {
      opened ??= await Backend.create({ storeDir, backend: backendName, ...opts })
      return opened
    },
    print: (text) => io.out.write(text.endsWith('\n') ? text : text + '\n'),
    printJson: (value) => io.out.write(JSON.stringify(value) + '\n'),
  }
  try {
    return await cmd.run(ctx)
  } finally {
    await opened?.close()
  }
}
