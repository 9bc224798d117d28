// `mxd`: the command-line face of MxD Studio, on the same store and API as the app.
import { ApiError } from '../shared/api.js'
import { runCommand, sharedUsage, UsageError, type Command, type CommandIO } from './command.js'
import { benchBackend } from './commands/bench-backend.js'
import { classify } from './commands/classify.js'
import { datasets } from './commands/datasets.js'
import { doctor } from './commands/doctor.js'
import { evalCommand } from './commands/eval.js'
import { experts } from './commands/experts.js'
import { exportCommand } from './commands/export.js'
import { featuresCommand } from './commands/features.js'
import { privacy } from './commands/privacy.js'
import { probeCommand } from './commands/probe.js'
import { forward } from './commands/forward.js'
import { generate } from './commands/generate.js'
import { images } from './commands/images.js'
import { steerScore } from './commands/steer-score.js'
import { importCommand } from './commands/import.js'
import { inspect } from './commands/inspect.js'
import { pretrain } from './commands/pretrain.js'
import { runs } from './commands/runs.js'
import { tokenize } from './commands/tokenize.js'
import { train } from './commands/train.js'
import { web } from './commands/web.js'

export const commands: Command[] = [doctor, runs, benchBackend, datasets, images, classify, privacy, web, inspect, tokenize, forward, generate, pretrain, experts, evalCommand, exportCommand, importCommand, train, featuresCommand, probeCommand, steerScore]

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length))
  return [
    'Usage: mxd <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    sharedUsage,
    '',
    'Run "mxd <command> --help" for a command\'s own options.',
  ].join('\n')
}

export async function main(argv: string[], io: CommandIO = { out: process.stdout, err: process.stderr }): Promise<number> {
  const [name, ...rest] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out.write(usage() + '\n')
    return name ? 0 : 2
  }
  const cmd = commands.find((c) => c.name === name)
  if (!cmd) {
    io.err.write(`mxd: unknown command "${name}"\n\n${usage()}\n`)
    return 2
  }
  try {
    return await runCommand(cmd, rest, io)
  } catch (err) {
    if (err instanceof UsageError) {
      io.err.write(`mxd ${cmd.name}: ${err.message}\nusage: ${cmd.usage}\n`)
      return 2
    }
    const message = err instanceof ApiError || err instanceof Error ? err.message : String(err)
    io.err.write(`mxd ${cmd.name}: ${message}\n`)
    return 1
  }
}
