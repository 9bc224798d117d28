// Runs the `mxd` command as a user would: a real Node process, its exit code and output.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mxdBin, repoRoot } from './web-process.js'

const exec = promisify(execFile)

export interface MxdResult {
  code: number
  stdout: string
  stderr: string
}

export async function mxd(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<MxdResult> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [mxdBin, ...args], {
      cwd: opts.cwd ?? repoRoot,
      env: { ...process.env, ...opts.env },
      maxBuffer: 256 << 20,
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as MxdResult
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}
