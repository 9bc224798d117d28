// AdamW, the schedules and gradient clipping against torch.optim.AdamW, nanoGPT's schedule and
// torch.nn.utils.clip_grad_norm_ (fixture: scripts/fixtures/make_layer_fixtures.py).
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend, tf } from '../../../src/engine/backend.js'
import { AdamW, clipGradNorm, constantWithWarmup, warmupCosine } from '../../../src/engine/optim/adamw.js'
import { expectClose, readFixture } from './helpers.js'

beforeAll(async () => {
  await initBackend()
})

const f = readFixture('adamw')
const tensorOf = (name: string): tf.Tensor => tf.tensor(f.get(name).data, f.get(name).shape)

describe('AdamW vs torch.optim.AdamW', () => {
  it('5 steps, weight decay 0.1, betas (0.9, 0.95), warm-up + cosine learning rate', () => {
    const schedule = warmupCosine({ lr: 1e-2, warmup: 2, total: 5, minLr: 1e-3 })
    expectClose([0, 1, 2, 3, 4].map(schedule), f.get('lr').data, 1e-6, 'lr')
    const params = { a: tf.variable(tensorOf('p0.a')), b: tf.variable(tensorOf('p0.b')) }
    const opt = new AdamW(params, { lr: 1e-2, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 })
    for (let t = 0; t < 5; t++) {
      const grads = { a: tensorOf(`g${t}.a`), b: tensorOf(`g${t}.b`) }
      opt.applyGradients(grads, schedule(t))
      tf.dispose(Object.values(grads))
      for (const n of ['a', 'b'] as const) expectClose(params[n].dataSync(), f.get(`p${t + 1}.${n}`).data, 1e-5, `step ${t + 1} ${n}`)
    }
    expect(opt.step).toBe(5)
    opt.dispose()
    tf.dispose(Object.values(params))
  })

  it('state round-trips through tensors: a restored optimizer continues identically', () => {
    const make = (): Record<string, tf.Variable> => ({ a: tf.variable(tensorOf('p0.a')), b: tf.variable(tensorOf('p0.b')) })
    const [p1, p2] = [make(), make()]
    const o1 = new AdamW(p1, { lr: 1e-2, weightDecay: 0.1 })
    const steps = (opt: AdamW, from: number, to: number): void => {
      for (let t = from; t < to; t++) {
        const grads = { a: tensorOf(`g${t}.a`), b: tensorOf(`g${t}.b`) }
        opt.applyGradients(grads)
        tf.dispose(Object.values(grads))
      }
    }
    steps(o1, 0, 3)
    for (const n of ['a', 'b']) p2[n]!.assign(p1[n]!)
    const o2 = new AdamW(p2, { lr: 1e-2, weightDecay: 0.1 })
    o2.loadState(o1.stateTensors())
    expect(o2.step).toBe(3)
    steps(o1, 3, 5)
    steps(o2, 3, 5)
    for (const n of ['a', 'b']) expect(Array.from(p2[n]!.dataSync())).toEqual(Array.from(p1[n]!.dataSync()))
    o1.dispose()
    o2.dispose()
    tf.dispose([...Object.values(p1), ...Object.values(p2)])
  })
})

describe('clipGradNorm vs torch.nn.utils.clip_grad_norm_', () => {
  it.each(['big', 'small'])('%s gradients', (which) => {
    const grads = { a: tensorOf(`clip.${which}.in.a`), b: tensorOf(`clip.${which}.in.b`) }
    const { grads: clipped, totalNorm } = clipGradNorm(grads, 1.0)
    expectClose([totalNorm], f.get(`clip.${which}.norm`).data, 1e-6, 'norm')
    for (const n of ['a', 'b']) expectClose(clipped[n]!.dataSync(), f.get(`clip.${which}.out.${n}`).data, 1e-6, n)
    tf.dispose(Object.values(clipped))
  })
})

describe('schedules', () => {
  it('constant with warm-up ramps linearly to lr over `warmup` steps, then stays', () => {
    const s = constantWithWarmup(4e-4, 4)
    const want = [1e-4, 2e-4, 3e-4, 4e-4, 4e-4, 4e-4]
    ;[0, 1, 2, 3, 4, 100].forEach((step, i) => expect(s(step)).toBeCloseTo(want[i]!, 15))
    expect(constantWithWarmup(1e-3, 0)(0)).toBe(1e-3)
  })

  it('warm-up + cosine ends at the floor and stays there', () => {
    const s = warmupCosine({ lr: 6e-4, warmup: 10, total: 110, minLr: 6e-5 })
    expect(s(10)).toBeCloseTo(6e-4, 12)
    expect(s(60)).toBeCloseTo((6e-4 + 6e-5) / 2, 12)
    expect(s(110)).toBeCloseTo(6e-5, 12)
    expect(s(500)).toBeCloseTo(6e-5, 12)
  })
})
