// The CLI as a user runs it: a real process on a real store.
import { describe, expect, it } from 'vitest'
import { mxd } from '../helpers/mxd-cli.js'
import { tempStore } from '../helpers/web-process.js'
import { SCHEMA_VERSION } from '../../src/store/migrations.js'

describe('mxd', () => {
  it('doctor --json reports backend, store, schema version and the Electron binary', async () => {
    const store = tempStore()
    const r = await mxd(['doctor', '--json'], { env: { MXD_HOME: store } })
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout) as Record<string, unknown>
    // A new store is migrated to the newest schema (one version per migration).
    expect(report).toMatchObject({ backend: 'wasm', store, schemaVersion: SCHEMA_VERSION })
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(2)
    expect(report.electronBinary).toMatchObject({ present: expect.any(Boolean) })
    expect(report.backendNotes).toContainEqual(expect.stringMatching(/tfjs-node-gpu/))
    // Native kernels are named, or the reason there are none is given.
    const native = report.nativeKernels as { kernels: string[]; reason: string | null }
    if (native.kernels.length > 0) expect(native.reason).toBeNull()
    else expect(native.reason).toEqual(expect.any(String))
  })

  it('doctor --json with MXD_NATIVE=0 and --threads: no native kernels, and why', async () => {
    const store = tempStore()
    const off = await mxd(['doctor', '--json'], { env: { MXD_HOME: store, MXD_NATIVE: '0' } })
    expect(JSON.parse(off.stdout).nativeKernels).toMatchObject({ kernels: [], reason: 'turned off by MXD_NATIVE=0' })
    const one = JSON.parse((await mxd(['doctor', '--json', '--threads', '1'], { env: { MXD_HOME: store } })).stdout)
    if (one.nativeKernels.kernels.length > 0) expect(one.nativeKernels).toMatchObject({ threads: 1, threadsFrom: 'MXD_THREADS' })
    // OpenBLAS's spin time: the app's 22 where the user set none, the user's value where they did,
    // as the loaded library read it from the process environment.
    const spin = async (value: string): Promise<unknown> =>
      JSON.parse((await mxd(['doctor', '--json'], { env: { MXD_HOME: store, OPENBLAS_THREAD_TIMEOUT: value } })).stdout).nativeKernels.threadTimeout
    if (one.nativeKernels.kernels.length > 0) {
      expect(await spin('')).toBe('22')
      expect(await spin('7')).toBe('7')
    }
    expect((await mxd(['doctor', '--threads', 'many'], { env: { MXD_HOME: store } })).stderr).toMatch(/--threads must be a whole number/)
  })

  it('--store overrides $MXD_HOME; --backend cpu is honoured', async () => {
    const store = tempStore()
    const r = await mxd(['doctor', '--json', '--store', store, '--backend', 'cpu'], {
      env: { MXD_HOME: '/nonexistent-should-not-be-used' },
    })
    expect(JSON.parse(r.stdout)).toMatchObject({ store, backend: 'cpu' })
  })

  it('bench-backend --json streams progress lines and ends with the run and GFLOP/s per size', async () => {
    const store = tempStore()
    // With no spin time set by the user (the job's worker must still get the app's default).
    const r = await mxd(['bench-backend', '--sizes', '32,64', '--repeats', '2', '--json', '--store', store], { env: { OPENBLAS_THREAD_TIMEOUT: '' } })
    expect(r.code).toBe(0)
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.slice(0, -1).every((l) => 'progress' in l)).toBe(true)
    const last = lines.at(-1) as { run: { id: number; status: string }; gflops: Record<string, number> }
    expect(last.run.status).toBe('succeeded')
    expect(Object.keys(last.gflops)).toEqual(['32', '64'])
    const runs = await mxd(['runs', '--json', '--store', store])
    expect(JSON.parse(runs.stdout)).toMatchObject([{ id: last.run.id, kind: 'bench-backend', status: 'succeeded' }])
    // The job ran in a worker thread; the OpenBLAS it used read the app's spin default all the same.
    const detail = JSON.parse((await mxd(['runs', '--id', String(last.run.id), '--json', '--store', store])).stdout)
    const kernelLine = (detail.log as { message: string }[]).map((l) => l.message).find((m) => m.startsWith('matMul kernel:'))
    expect(kernelLine).toEqual(expect.any(String))
    if (kernelLine!.includes('native OpenBLAS')) expect(kernelLine).toMatch(/OPENBLAS_THREAD_TIMEOUT=22\)/)
  })

  it('bad usage exits 2 with the usage line, and nothing is stored', async () => {
    const store = tempStore()
    const r = await mxd(['bench-backend', '--sizes', 'big', '--store', store])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--sizes takes whole numbers/)
    const out = await mxd(['bench-backend', '--sizes', '999999', '--store', store])
    expect(out.code).not.toBe(0)
    expect(out.stderr).toMatch(/sizes/)
    expect(JSON.parse((await mxd(['runs', '--json', '--store', store])).stdout)).toEqual([])
    expect((await mxd(['frobnicate'])).code).toBe(2)
    expect((await mxd(['doctor', '--bogus'])).stderr).toMatch(/Unknown option '--bogus'/)
  })
})
