// Every job is one module of one shape: it exports a single definition { kind, config, run }
// (defineJob), and the registry lists each under its own kind, every RunKind exactly once. So a
// job module the registry forgot, a kind with no job, or a module with two jobs fails here.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { RunKind } from '../../src/shared/api.js'
import { jobs } from '../../src/jobs/registry.js'
import type { JobDefinition } from '../../src/jobs/job.js'

const JOBS_DIR = resolve(import.meta.dirname, '../../src/jobs')

function* tsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) yield* tsFiles(path)
    else if (name.endsWith('.ts')) yield path
  }
}

function isDefinition(v: unknown): v is JobDefinition {
  return typeof v === 'object' && v !== null && 'kind' in v && 'config' in v && 'run' in v
}

describe('job registry', () => {
  it('has exactly one job for every RunKind, registered under its own kind', () => {
    expect(Object.keys(jobs).sort()).toEqual([...RunKind.options].sort())
    for (const kind of RunKind.options) expect(jobs[kind].kind).toBe(kind)
    expect(new Set(Object.values(jobs)).size).toBe(RunKind.options.length)
  })

  it('gives every job the same shape: kind, a zod config schema, run', () => {
    for (const job of Object.values(jobs)) {
      expect(Object.keys(job).sort()).toEqual(['config', 'kind', 'run'])
      expect(job.config).toBeInstanceOf(z.ZodType)
      expect(typeof job.run).toBe('function')
    }
  })

  it('finds each job module exporting one definition, the one the registry lists', async () => {
    // A job module is one that calls defineJob with its kind.
    const modules = [...tsFiles(JOBS_DIR)].filter((f) => /\bdefineJob\(\s*'/.test(readFileSync(f, 'utf8')))
    const found = new Map<string, string>()
    for (const file of modules) {
      const exported = Object.values((await import(pathToFileURL(file).href)) as Record<string, unknown>).filter(isDefinition)
      expect(exported, relative(JOBS_DIR, file)).toHaveLength(1)
      const job = exported[0]!
      expect(jobs[job.kind], relative(JOBS_DIR, file)).toBe(job)
      found.set(job.kind, relative(JOBS_DIR, file))
    }
    expect([...found.keys()].sort()).toEqual([...RunKind.options].sort())
  }, 60_000)
})
