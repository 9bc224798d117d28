// The certificate's Gaussian noise, reproducible bit for bit (docs/privacy.md, "Algorithm 2"):
// verification regenerates it from the recorded seed, so it cannot come from Math.random or a
// platform generator. The integer stream is exact everywhere (32-bit integer arithmetic only):
// splitmix32 expands the seed into xoshiro128**'s 128-bit state; two 32-bit outputs make one
// 53-bit uniform in (0, 1); Box–Muller turns pairs of uniforms into pairs of standard normals in
// float64. The last step calls Math.log, Math.cos and Math.sin, which V8 (Node and Electron)
// computes with the same fdlibm port on every platform; another runtime may differ in the last
// bit, so a verifier outside V8 should compare to ~1e-12 relative.

const TWO_PI = 2 * Math.PI
const TWO_POW_26 = 67_108_864
const TWO_POW_53 = 9_007_199_254_740_992

/** splitmix32: one step from `state`, returning [output, next state] (both uint32). */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) >>> 0
  let z = next
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return [(z ^ (z >>> 16)) >>> 0, next]
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0

/** xoshiro128** (Blackman & Vigna), state seeded by four splitmix32 outputs of `seed`. */
export function xoshiro128ss(seed: number): () => number {
  let sm = seed >>> 0
  const next = (): number => {
    const [out, state] = splitmix32(sm)
    sm = state
    return out
  }
  let s0 = next()
  let s1 = next()
  let s2 = next()
  let s3 = next()
  // An all-zero state is xoshiro's one fixed point; splitmix32 never gives four zeros, but guard.
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1
  return () => {
    const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0
    const t = (s1 << 9) >>> 0
    s2 = (s2 ^ s0) >>> 0
    s3 = (s3 ^ s1) >>> 0
    s1 = (s1 ^ s2) >>> 0
    s0 = (s0 ^ s3) >>> 0
    s2 = (s2 ^ t) >>> 0
    s3 = rotl(s3, 11)
    return result
  }
}

/** `count` independent N(0, 1) draws from `seed` (the same on every V8, see above). */
export function gaussianNoise(seed: number, count: number): Float64Array {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`noise seed must be an integer in [0, 2^32), got ${seed}`)
  const next = xoshiro128ss(seed)
  // 53 random bits (27 + 26) centred in their cell: never 0, never 1, so log(u) is finite.
  const uniform = (): number => ((next() >>> 5) * TWO_POW_26 + (next() >>> 6) + 0.5) / TWO_POW_53
  const out = new Float64Array(count)
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()))
    const angle = TWO_PI * uniform()
    out[i] = r * Math.cos(angle)
    if (i + 1 < count) out[i + 1] = r * Math.sin(angle)
  }
  return out
}
