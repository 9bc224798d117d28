// Steering presets through the back end's dispatch (validation included) on a real store: the
// paper's preset is always there and cannot be deleted or shadowed, saving by an existing name
// replaces that preset, and bad input is refused with a reason that says what to fix.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Backend } from '../../../src/backend/backend.js'
import { PAPER_PRESET, type SteeringSettings } from '../../../src/shared/steering.js'
import { Store } from '../../../src/store/store.js'

let backend: Backend
let storeDir: string

beforeAll(async () => {
  storeDir = join(mkdtempSync(join(tmpdir(), 'mxd-presets-')), 'store')
  backend = await Backend.create({ storeDir, bundledModelsDir: join(tmpdir(), 'none') })
})
afterAll(async () => {
  await backend?.close()
})

const mine: SteeringSettings = {
  prompt: 'And God said',
  steer: [
    { unit: 3, value: 100 },
    { unit: 40, value: -25.5 },
  ],
  value: 50,
  maxTokens: 24,
  samples: 4,
  temperature: 0.7,
  topP: 0.9,
  frequencyPenalty: 0.5,
  seed: 7,
}

async function refusal(method: string, input: unknown): Promise<{ code: string; message: string }> {
  const reply = await backend.dispatch(method, input)
  expect(reply.ok).toBe(false)
  return reply.ok ? { code: '', message: '' } : reply.error
}

describe('steering presets', () => {
  it('lists the paper preset first, with the paper’s settings', async () => {
    const list = await backend.call('steering.listPresets', {})
    expect(list[0]).toEqual({
      id: 0,
      name: PAPER_PRESET.name,
      builtIn: true,
      settings: { prompt: "Let's talk about ", steer: [], value: 100, maxTokens: 32, samples: 10, temperature: 1, topP: 0.1, frequencyPenalty: 1, seed: 0 },
    })
  })

  it('saves, lists, replaces by name, deletes; and the rows outlive the back end', async () => {
    const saved = await backend.call('steering.savePreset', { name: '  Creation  ', settings: mine })
    expect(saved).toEqual({ id: saved.id, name: 'Creation', builtIn: false, settings: mine })
    expect((await backend.call('steering.listPresets', {})).map((p) => p.name)).toEqual([PAPER_PRESET.name, 'Creation'])
    const again = await backend.call('steering.savePreset', { name: 'Creation', settings: { ...mine, samples: 6 } })
    expect(again.id).toBe(saved.id)
    // A second connection to the same SQLite file reads what was written.
    const other = new Store({ dir: storeDir, readonly: true })
    try {
      const rows = other.listSteeringPresets()
      expect(rows.map((r) => [r.id, r.name, JSON.parse(r.settings).samples])).toEqual([[saved.id, 'Creation', 6]])
    } finally {
      other.close()
    }
    expect(await backend.call('steering.deletePreset', { id: saved.id })).toEqual({ deleted: true })
    expect(await backend.call('steering.listPresets', {})).toHaveLength(1)
    expect(await refusal('steering.deletePreset', { id: saved.id })).toEqual({ code: 'not_found', message: `There is no saved preset ${saved.id}.` })
  })

  it('never deletes or shadows the built-in preset', async () => {
    const del = await refusal('steering.deletePreset', { id: 0 })
    expect(del.code).toBe('bad_request')
    expect(del.message).toMatch(/built in and cannot be deleted/)
    const shadow = await refusal('steering.savePreset', { name: PAPER_PRESET.name.toUpperCase(), settings: mine })
    expect(shadow.message).toMatch(/built-in preset: save yours under another name/)
    expect((await backend.call('steering.listPresets', {}))[0]!.builtIn).toBe(true)
  })

  const bad: [string, unknown, RegExp][] = [
    ['an empty name', { name: '   ', settings: mine }, /Give the preset a name/],
    ['a long name', { name: 'x'.repeat(81), settings: mine }, /at most 80 characters/],
    ['an empty prompt', { name: 'a', settings: { ...mine, prompt: '' } }, /Type a prompt first/],
    ['17 steered units', { name: 'a', settings: { ...mine, steer: Array.from({ length: 17 }, (_, unit) => ({ unit, value: 1 })) } }, /steer/],
    ['a negative unit', { name: 'a', settings: { ...mine, steer: [{ unit: -1, value: 1 }] } }, /unit/],
    ['top-p 0', { name: 'a', settings: { ...mine, topP: 0 } }, /topP/],
    ['too many samples', { name: 'a', settings: { ...mine, samples: 65 } }, /samples/],
    ['a missing field', { name: 'a', settings: { ...mine, seed: undefined } }, /seed/],
    ['an unknown field', { name: 'a', settings: { ...mine, topK: 5 } }, /Unrecognized key.*topK/i],
  ]
  for (const [what, input, message] of bad) {
    it(`refuses ${what}, and saves nothing`, async () => {
      const before = (await backend.call('steering.listPresets', {})).length
      const err = await refusal('steering.savePreset', input)
      expect(err.code).toBe('bad_request')
      expect(err.message).toMatch(message)
      expect(await backend.call('steering.listPresets', {})).toHaveLength(before)
    })
  }
})
