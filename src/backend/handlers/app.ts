import { cpus, platform } from 'node:os'
import type { DoctorReport } from '../../shared/api.js'
import { findElectronBinary } from '../electron-binary.js'
import type { BackendContext } from '../context.js'

import pkg from '../../../package.json' with { type: 'json' }

export function doctor(ctx: BackendContext): DoctorReport {
  return {
    app: 'MxD Studio',
    version: pkg.version,
    node: process.versions.node,
    electron: ctx.electronVersion,
    backend: ctx.compute.backend,
    backendNotes: ctx.compute.notes,
    tfjsVersion: ctx.compute.tfjsVersion,
    nativeKernels: ctx.compute.native,
    store: ctx.store.dir,
    database: ctx.store.path,
    schemaVersion: ctx.store.schemaVersion,
    electronBinary: findElectronBinary(),
    platform: `${platform()} ${process.arch}`,
    cpus: cpus().length,
  }
}
